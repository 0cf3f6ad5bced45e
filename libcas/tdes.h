#ifndef CAS_TDES_H
#define CAS_TDES_H
/*
 * DES and Triple-DES (EDE) in ECB mode, FIPS 46-3 / NIST SP 800-67.
 * TVCAS 3 uses two-key EDE (K1 = key[0..7], K2 = key[8..15], K3 = K1) over
 * whole 8-byte blocks, no padding, no IV (reference/tvcas3.md §1).
 * Key schedules are expanded once and reused: building one ECM costs six
 * block operations and no key setup.
 */
#include <stddef.h>
#include <stdint.h>

struct cas_des_key {
	uint32_t sk[32];	/* 16 rounds x (2 x 32-bit subkey halves) */
};

struct cas_tdes_key {
	struct cas_des_key k1, k2, k3;
};

void cas_des_set_key(struct cas_des_key *ks, const uint8_t key[8]);
void cas_des_encrypt_block(const struct cas_des_key *ks, const uint8_t in[8], uint8_t out[8]);
void cas_des_decrypt_block(const struct cas_des_key *ks, const uint8_t in[8], uint8_t out[8]);

/* Two-key 3DES: key16 = K1 || K2, K3 = K1. */
void cas_tdes_set_key2(struct cas_tdes_key *ks, const uint8_t key16[16]);
/* Three-key 3DES: key24 = K1 || K2 || K3. */
void cas_tdes_set_key3(struct cas_tdes_key *ks, const uint8_t key24[24]);
void cas_tdes_encrypt_block(const struct cas_tdes_key *ks, const uint8_t in[8], uint8_t out[8]);
void cas_tdes_decrypt_block(const struct cas_tdes_key *ks, const uint8_t in[8], uint8_t out[8]);
/* ECB over len bytes; len must be a multiple of 8 (returns -1 otherwise).
 * in and out may be the same buffer. */
int cas_tdes_ecb_encrypt(const struct cas_tdes_key *ks, const uint8_t *in, uint8_t *out, size_t len);
int cas_tdes_ecb_decrypt(const struct cas_tdes_key *ks, const uint8_t *in, uint8_t *out, size_t len);
/* Wipes a key schedule (libsodium sodium_memzero). */
void cas_tdes_wipe(struct cas_tdes_key *ks);

#endif
