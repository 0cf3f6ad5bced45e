/* The master key file and card-key wrapping (see mkey.h for the format). */
#include "mkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fs.h"

#define WRAP_VERSION 1
#define KDF_CONTEXT "FCASmkey"	/* crypto_kdf context: exactly 8 bytes */
#define KDF_ID_WRAP 1
#define KDF_ID_CHECK 2
#define AD_LABEL "FreeCAS card key"	/* 16 bytes */
#define AD_SIZE (16 + 1 + 4)

static int fail(struct cas_mkey *mk, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cas_mkey *mk, const char *path, const char *fmt, ...)
{
	char reason[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	snprintf(mk->err, sizeof mk->err, "master key %s: %s", path, reason);
	return -1;
}

static int derive(struct cas_mkey *mk, const uint8_t master[CAS_MKEY_SIZE])
{
	if (crypto_kdf_derive_from_key(mk->wrap, sizeof mk->wrap, KDF_ID_WRAP, KDF_CONTEXT, master) != 0 ||
	    crypto_kdf_derive_from_key(mk->check, sizeof mk->check, KDF_ID_CHECK, KDF_CONTEXT, master) != 0) {
		cas_mkey_clear(mk);
		snprintf(mk->err, sizeof mk->err, "master key: key derivation failed");
		return -1;
	}
	mk->loaded = 1;
	return 0;
}

int cas_mkey_from_bytes(struct cas_mkey *mk, const uint8_t key[CAS_MKEY_SIZE])
{
	memset(mk, 0, sizeof *mk);
	if (sodium_init() < 0) {
		snprintf(mk->err, sizeof mk->err, "master key: libsodium cannot be initialised");
		return -1;
	}
	return derive(mk, key);
}

void cas_mkey_clear(struct cas_mkey *mk)
{
	sodium_memzero(mk->wrap, sizeof mk->wrap);
	sodium_memzero(mk->check, sizeof mk->check);
	mk->loaded = 0;
}

/* Reads exactly CAS_MKEY_SIZE bytes from an open file, checking what the
 * file is before trusting it. */
static int read_key_file(struct cas_mkey *mk, const char *path, int fd, uint8_t key[CAS_MKEY_SIZE])
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(mk, path, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(mk, path, "not a regular file");
	if ((st.st_mode & 077) != 0)
		return fail(mk, path, "mode %04o gives access to group or others (chmod 600 %s)",
			    (unsigned)(st.st_mode & 07777), path);
	if (st.st_size != CAS_MKEY_SIZE)
		return fail(mk, path, "%lld bytes, expected %d", (long long)st.st_size, CAS_MKEY_SIZE);
	size_t got = 0;
	while (got < CAS_MKEY_SIZE) {
		ssize_t r = read(fd, key + got, CAS_MKEY_SIZE - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(mk, path, "%s", strerror(errno));
		if (r == 0)
			return fail(mk, path, "%zu bytes, expected %d", got, CAS_MKEY_SIZE);
		got += (size_t)r;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Creates the key file: a fresh 0600 temporary file (O_EXCL), filled and
 * synced, then hard-linked to `path`.  link() fails with EEXIST if another
 * process got there first; then we read its key.  Returns 1 when we created
 * the file, 0 when someone else did (key not filled), -1 on error. */
static int create_key_file(struct cas_mkey *mk, const char *path, uint8_t key[CAS_MKEY_SIZE])
{
	char tmp[4200];
	char err[600];
	if (cas_fs_mkdir_parent(path, err, sizeof err) < 0)
		return fail(mk, path, "%s", err);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
		return fail(mk, path, "path too long");
	unlink(tmp);	/* a leftover of a crashed run of this same pid */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(mk, path, "unable to create %s: %s", tmp, strerror(errno));
	int rc = -1;
	randombytes_buf(key, CAS_MKEY_SIZE);
	/* The umask may only remove bits; make sure of 0600 whatever it is. */
	if (fchmod(fd, 0600) < 0 || write_all(fd, key, CAS_MKEY_SIZE) < 0 || fsync(fd) < 0) {
		fail(mk, path, "unable to write %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) < 0) {
		fail(mk, path, "unable to write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (link(tmp, path) == 0) {
		rc = 1;
	} else if (errno == EEXIST) {
		rc = 0;
	} else {
		fail(mk, path, "unable to create: %s", strerror(errno));
	}
out:
	unlink(tmp);
	if (rc != 1)
		sodium_memzero(key, CAS_MKEY_SIZE);
	return rc;
}

int cas_mkey_load(struct cas_mkey *mk, const char *path, unsigned flags)
{
	uint8_t key[CAS_MKEY_SIZE];
	int created = 0;
	memset(mk, 0, sizeof *mk);
	if (sodium_init() < 0) {
		snprintf(mk->err, sizeof mk->err, "master key: libsodium cannot be initialised");
		return -1;
	}
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && (flags & CAS_MKEY_CREATE)) {
		int c = create_key_file(mk, path, key);
		if (c < 0)
			return -1;
		if (c == 1) {
			created = 1;
			goto derive;
		}
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		if (errno == ELOOP)
			return fail(mk, path, "is a symbolic link; give the real path");
		return fail(mk, path, "%s", strerror(errno));
	}
	int r = read_key_file(mk, path, fd, key);
	close(fd);
	if (r < 0) {
		sodium_memzero(key, sizeof key);
		return -1;
	}
derive:
	r = derive(mk, key);
	sodium_memzero(key, sizeof key);
	if (r < 0)
		return -1;
	return created;
}

static void make_ad(uint8_t ad[AD_SIZE], uint8_t version, uint32_t serial)
{
	memcpy(ad, AD_LABEL, 16);
	ad[16] = version;
	ad[17] = (uint8_t)(serial >> 24);
	ad[18] = (uint8_t)(serial >> 16);
	ad[19] = (uint8_t)(serial >> 8);
	ad[20] = (uint8_t)serial;
}

int cas_mkey_wrap(const struct cas_mkey *mk, uint32_t serial,
		  const uint8_t key[CAS_CARD_KEY_SIZE],
		  uint8_t out[CAS_MKEY_WRAPPED_SIZE])
{
	uint8_t nonce[CAS_MKEY_NONCE_SIZE];
	randombytes_buf(nonce, sizeof nonce);
	return cas_mkey_wrap_nonce(mk, serial, key, nonce, out);
}

int cas_mkey_wrap_nonce(const struct cas_mkey *mk, uint32_t serial,
			const uint8_t key[CAS_CARD_KEY_SIZE], const uint8_t nonce[CAS_MKEY_NONCE_SIZE],
			uint8_t out[CAS_MKEY_WRAPPED_SIZE])
{
	uint8_t ad[AD_SIZE];
	unsigned long long clen = 0;
	if (!mk->loaded)
		return -1;
	out[0] = WRAP_VERSION;
	memcpy(out + 1, nonce, CAS_MKEY_NONCE_SIZE);
	make_ad(ad, WRAP_VERSION, serial);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 25, &clen, key, CAS_CARD_KEY_SIZE,
						   ad, sizeof ad, NULL, out + 1, mk->wrap);
	return clen == CAS_MKEY_WRAPPED_SIZE - 25 ? 0 : -1;
}

int cas_mkey_unwrap(const struct cas_mkey *mk, uint32_t serial,
		    const uint8_t *in, size_t inlen,
		    uint8_t key[CAS_CARD_KEY_SIZE])
{
	uint8_t ad[AD_SIZE];
	unsigned long long mlen = 0;
	memset(key, 0, CAS_CARD_KEY_SIZE);
	if (!mk->loaded || in == NULL || inlen != CAS_MKEY_WRAPPED_SIZE || in[0] != WRAP_VERSION)
		return -1;
	make_ad(ad, in[0], serial);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, &mlen, NULL, in + 25, inlen - 25,
						       ad, sizeof ad, in + 1, mk->wrap) != 0 ||
	    mlen != CAS_CARD_KEY_SIZE) {
		sodium_memzero(key, CAS_CARD_KEY_SIZE);
		return -1;
	}
	return 0;
}

void cas_mkey_check_value(const struct cas_mkey *mk, uint8_t out[CAS_MKEY_CHECK_SIZE])
{
	static const char label[] = "FreeCAS master key check";
	crypto_generichash(out, CAS_MKEY_CHECK_SIZE, (const unsigned char *)label, sizeof label - 1,
			   mk->check, sizeof mk->check);
}
