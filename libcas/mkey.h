#ifndef CAS_MKEY_H
#define CAS_MKEY_H
/*
 * The master key: 32 random bytes in a file of their own (config
 * `master_key`, default ./var/master.key), kept outside the database.  It
 * wraps every 16-byte card key before the key is written to the database, so
 * the database file (or a backup of it) alone reveals no card key.
 *
 * File rules: exactly 32 bytes, a regular file, no permission bit for group
 * or others.  On first run it is created 0600 (written to a temporary file
 * opened with O_EXCL, then hard-linked into place, so two programs starting
 * at once agree on one key and no reader ever sees a half-written file).
 *
 * Wrapping: XChaCha20-Poly1305 (IETF AEAD, libsodium) under a subkey derived
 * from the master key (crypto_kdf, context "FCASmkey", id 1), with a fresh
 * random 24-byte nonce.  The associated data binds the blob to its card's
 * serial, so a wrapped key copied to another row does not unwrap.
 *
 * Wrapped form (CAS_MKEY_WRAPPED_SIZE = 57 bytes):
 *     [0]      version, 1
 *     [1..24]  nonce
 *     [25..40] ciphertext of the card key
 *     [41..56] Poly1305 tag
 * Associated data: "FreeCAS card key" (16 bytes) || version || serial u32 BE.
 * test/vectors/mkey_wrap.py builds a blob independently (pycryptodome).
 */
#include <stddef.h>
#include <stdint.h>

#define CAS_MKEY_SIZE 32
#define CAS_CARD_KEY_SIZE 16
#define CAS_MKEY_WRAPPED_SIZE 57
#define CAS_MKEY_NONCE_SIZE 24
#define CAS_MKEY_CHECK_SIZE 16

struct cas_mkey {
	uint8_t wrap[32];	/* card-key wrapping subkey */
	uint8_t check[32];	/* subkey for the database's key check */
	int loaded;
	char err[512];		/* after a failure: "master key PATH: reason" */
};

/* cas_mkey_load flags */
#define CAS_MKEY_CREATE 1u	/* create the file (and its folder) if missing */

/* Reads the master key file, or creates it with CAS_MKEY_CREATE.  Returns 0
 * when read, 1 when created, -1 with mk->err set, e.g.
 *   "master key ./var/master.key: mode 0644 gives access to group or others (chmod 600 ./var/master.key)"
 *   "master key ./var/master.key: 31 bytes, expected 32"
 *   "master key ./var/master.key: No such file or directory"
 * Also initialises libsodium. */
int cas_mkey_load(struct cas_mkey *mk, const char *path, unsigned flags);

/* Sets the key from 32 bytes already in memory (tests, tools). */
int cas_mkey_from_bytes(struct cas_mkey *mk, const uint8_t key[CAS_MKEY_SIZE]);

/* Wipes the subkeys (sodium_memzero). */
void cas_mkey_clear(struct cas_mkey *mk);

/* Wraps a card key for the row of card `serial`. Returns 0 (-1 if mk is not loaded). */
int cas_mkey_wrap(const struct cas_mkey *mk, uint32_t serial,
		  const uint8_t key[CAS_CARD_KEY_SIZE],
		  uint8_t out[CAS_MKEY_WRAPPED_SIZE]);
/* The same with the nonce given: it must be fresh random bytes, never used
 * before (randombytes_buf).  A bulk insert draws the nonces of thousands of
 * cards in one call: one getrandom() per card cost a third of the wrap. */
int cas_mkey_wrap_nonce(const struct cas_mkey *mk, uint32_t serial,
			const uint8_t key[CAS_CARD_KEY_SIZE], const uint8_t nonce[CAS_MKEY_NONCE_SIZE],
			uint8_t out[CAS_MKEY_WRAPPED_SIZE]);

/* Unwraps; -1 (and key zeroed) when the blob has the wrong size or version,
 * was made under another master key, for another serial, or was altered. */
int cas_mkey_unwrap(const struct cas_mkey *mk, uint32_t serial,
		    const uint8_t *in, size_t inlen,
		    uint8_t key[CAS_CARD_KEY_SIZE]);

/* A 16-byte value that identifies the master key without revealing it
 * (keyed BLAKE2b of a constant under the check subkey).  The database keeps
 * it, so opening it with another master key fails at once with a clear
 * message instead of at the first card. */
void cas_mkey_check_value(const struct cas_mkey *mk, uint8_t out[CAS_MKEY_CHECK_SIZE]);

#endif
