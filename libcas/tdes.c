/*
 * DES (FIPS 46-3) and Triple-DES EDE (NIST SP 800-67), ECB.
 *
 * The FIPS tables below are typed from the standard; everything else (the
 * lookup tables the cipher actually runs on) is derived from them once, at
 * the first key setup:
 *   - sp[8][64]: S-box g followed by the permutation P, indexed by the
 *     6-bit S-box input, so one round is 8 lookups and XORs;
 *   - ip[16][16] / fp[16][16]: IP and IP^-1 as the XOR of one entry per
 *     4-bit slice of the block;
 *   - pc1[16][16]: PC-1 the same way;
 *   - pc2c[4][128] / pc2d[4][128]: PC-2 from 7-bit slices of C and of D
 *     (PC-2 takes its first 24 bits from C and its last 24 from D).
 *
 * Round layout.  FIPS 46-3 expands R with E into eight 6-bit groups; group
 * i is R's bits 4i .. 4i+5 (1-based, bit 0 meaning bit 32).  With bit 1 as
 * the most significant bit of a 32-bit word, group i is
 * ror32(R, 27 - 4i) & 63, so
 *     a = ror32(R, 3) holds groups 0, 2, 4, 6 in its bytes 3, 2, 1, 0
 *     b = rol32(R, 1) holds groups 1, 3, 5, 7 the same way
 * and E needs no table.  Each round's 48-bit subkey is stored in the same
 * two-word layout (sk[2r] for a, sk[2r+1] for b).
 */
#include "tdes.h"

#include "wipe.h"

/* FIPS 46-3 tables, 1-based bit numbers, bit 1 = most significant. */
static const uint8_t IP[64] = {
	58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
	62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
	57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
	61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
};

static const uint8_t P[32] = {
	16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
	2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
};

static const uint8_t PC1[56] = {
	57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
	10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
	63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
	14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
};

static const uint8_t PC2[48] = {
	14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
	23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
	41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
	44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
};

static const uint8_t SHIFTS[16] = { 1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1 };

static const uint8_t S[8][4][16] = {
	{ { 14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7 },
	  { 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8 },
	  { 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0 },
	  { 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13 } },
	{ { 15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10 },
	  { 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5 },
	  { 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15 },
	  { 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9 } },
	{ { 10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8 },
	  { 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1 },
	  { 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7 },
	  { 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12 } },
	{ { 7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15 },
	  { 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9 },
	  { 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4 },
	  { 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14 } },
	{ { 2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9 },
	  { 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6 },
	  { 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14 },
	  { 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3 } },
	{ { 12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11 },
	  { 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8 },
	  { 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6 },
	  { 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13 } },
	{ { 4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1 },
	  { 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6 },
	  { 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2 },
	  { 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12 } },
	{ { 13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7 },
	  { 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2 },
	  { 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8 },
	  { 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11 } },
};

/* Derived lookup tables (see the top of the file). */
static uint32_t sp[8][64];
static uint64_t ip_tab[16][16], fp_tab[16][16], pc1_tab[16][16];
static uint64_t pc2c_tab[4][128], pc2d_tab[4][128];	/* (a << 32) | b */

/* Applies a FIPS-style permutation: output bit j (1..nout, bit 1 most
 * significant) is input bit tab[j-1] (1..nin, bit 1 most significant). */
static uint64_t permute(const uint8_t *tab, unsigned nout, unsigned nin, uint64_t in)
{
	uint64_t out = 0;
	for (unsigned j = 0; j < nout; j++)
		if ((in >> (nin - tab[j])) & 1)
			out |= (uint64_t)1 << (nout - 1 - j);
	return out;
}

/* 48-bit subkey (bit 1 most significant) -> the (a, b) two-word layout. */
static uint64_t subkey_layout(uint64_t k48)
{
	uint32_t a = 0, b = 0;
	for (unsigned g = 0; g < 8; g++) {
		uint32_t six = (uint32_t)(k48 >> (42 - 6 * g)) & 63;
		unsigned shift = 24 - 8 * (g / 2);
		if (g % 2 == 0)
			a |= six << shift;
		else
			b |= six << shift;
	}
	return ((uint64_t)a << 32) | b;
}

static void build_tables(void)
{
	uint8_t fp[64];
	for (unsigned j = 0; j < 64; j++)
		fp[IP[j] - 1] = (uint8_t)(j + 1);

	for (unsigned g = 0; g < 8; g++) {
		for (unsigned x = 0; x < 64; x++) {
			unsigned row = ((x >> 4) & 2) | (x & 1);
			unsigned col = (x >> 1) & 15;
			uint64_t s = (uint64_t)S[g][row][col] << (28 - 4 * g);
			sp[g][x] = (uint32_t)permute(P, 32, 32, s);
		}
	}
	for (unsigned n = 0; n < 16; n++) {
		for (unsigned v = 0; v < 16; v++) {
			uint64_t x = (uint64_t)v << (60 - 4 * n);
			ip_tab[n][v] = permute(IP, 64, 64, x);
			fp_tab[n][v] = permute(fp, 64, 64, x);
			pc1_tab[n][v] = permute(PC1, 56, 64, x);
		}
	}
	/* C is bits 1..28 of the 56-bit C||D, D bits 29..56. */
	for (unsigned q = 0; q < 4; q++) {
		for (unsigned v = 0; v < 128; v++) {
			uint64_t c = (uint64_t)v << (21 - 7 * q);
			pc2c_tab[q][v] = subkey_layout(permute(PC2, 48, 56, c << 28));
			pc2d_tab[q][v] = subkey_layout(permute(PC2, 48, 56, c));
		}
	}
}

#ifdef CAS_FREESTANDING
/* Card firmware (libcas/card.c built with -DCAS_FREESTANDING): one thread
 * of execution, so a flag is enough to build the tables once. */
static int tables_built;
#define TABLES_ONCE() do { if (!tables_built) { build_tables(); tables_built = 1; } } while (0)
#else
#include <pthread.h>
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
#define TABLES_ONCE() pthread_once(&tables_once, build_tables)
#endif

static inline uint64_t load64(const uint8_t p[8])
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void store64(uint8_t p[8], uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t nibble_perm(const uint64_t tab[16][16], uint64_t x)
{
	uint64_t out = 0;
	for (unsigned n = 0; n < 16; n++)
		out |= tab[n][(x >> (60 - 4 * n)) & 15];
	return out;
}

static inline uint32_t rol28(uint32_t x, unsigned n)
{
	return ((x << n) | (x >> (28 - n))) & 0x0FFFFFFFu;
}

void cas_des_set_key(struct cas_des_key *ks, const uint8_t key[8])
{
	TABLES_ONCE();
	uint64_t cd = nibble_perm(pc1_tab, load64(key));
	uint32_t c = (uint32_t)(cd >> 28) & 0x0FFFFFFFu;
	uint32_t d = (uint32_t)cd & 0x0FFFFFFFu;
	for (unsigned r = 0; r < 16; r++) {
		c = rol28(c, SHIFTS[r]);
		d = rol28(d, SHIFTS[r]);
		uint64_t k = 0;
		for (unsigned q = 0; q < 4; q++) {
			k |= pc2c_tab[q][(c >> (21 - 7 * q)) & 127];
			k |= pc2d_tab[q][(d >> (21 - 7 * q)) & 127];
		}
		ks->sk[2 * r] = (uint32_t)(k >> 32);
		ks->sk[2 * r + 1] = (uint32_t)k;
	}
	cas_wipe(&cd, sizeof cd);
	cas_wipe(&c, sizeof c);
	cas_wipe(&d, sizeof d);
}

static inline uint32_t ror32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t f_func(uint32_t r, uint32_t ka, uint32_t kb)
{
	uint32_t a = ror32(r, 3) ^ ka;
	uint32_t b = ror32(r, 31) ^ kb;
	return sp[0][(a >> 24) & 63] ^ sp[2][(a >> 16) & 63] ^
	       sp[4][(a >> 8) & 63] ^ sp[6][a & 63] ^
	       sp[1][(b >> 24) & 63] ^ sp[3][(b >> 16) & 63] ^
	       sp[5][(b >> 8) & 63] ^ sp[7][b & 63];
}

/* Sixteen rounds forwards (encryption) on (l, r), then the final swap, so
 * that the result feeds the next DES of an EDE chain directly. */
static inline void rounds_enc(const uint32_t *sk, uint32_t *lp, uint32_t *rp)
{
	uint32_t l = *lp, r = *rp;
	for (unsigned i = 0; i < 32; i += 4) {
		l ^= f_func(r, sk[i], sk[i + 1]);
		r ^= f_func(l, sk[i + 2], sk[i + 3]);
	}
	*lp = r;
	*rp = l;
}

static inline void rounds_dec(const uint32_t *sk, uint32_t *lp, uint32_t *rp)
{
	uint32_t l = *lp, r = *rp;
	for (int i = 30; i >= 0; i -= 4) {
		l ^= f_func(r, sk[i], sk[i + 1]);
		r ^= f_func(l, sk[i - 2], sk[i - 1]);
	}
	*lp = r;
	*rp = l;
}

void cas_des_encrypt_block(const struct cas_des_key *ks, const uint8_t in[8], uint8_t out[8])
{
	uint64_t x = nibble_perm(ip_tab, load64(in));
	uint32_t l = (uint32_t)(x >> 32), r = (uint32_t)x;
	rounds_enc(ks->sk, &l, &r);
	store64(out, nibble_perm(fp_tab, ((uint64_t)l << 32) | r));
}

void cas_des_decrypt_block(const struct cas_des_key *ks, const uint8_t in[8], uint8_t out[8])
{
	uint64_t x = nibble_perm(ip_tab, load64(in));
	uint32_t l = (uint32_t)(x >> 32), r = (uint32_t)x;
	rounds_dec(ks->sk, &l, &r);
	store64(out, nibble_perm(fp_tab, ((uint64_t)l << 32) | r));
}

void cas_tdes_set_key2(struct cas_tdes_key *ks, const uint8_t key16[16])
{
	cas_des_set_key(&ks->k1, key16);
	cas_des_set_key(&ks->k2, key16 + 8);
	ks->k3 = ks->k1;
}

void cas_tdes_set_key3(struct cas_tdes_key *ks, const uint8_t key24[24])
{
	cas_des_set_key(&ks->k1, key24);
	cas_des_set_key(&ks->k2, key24 + 8);
	cas_des_set_key(&ks->k3, key24 + 16);
}

/* E(K3(D(K2(E(K1(x)))))).  FP followed by IP between the stages is the
 * identity, so a 3DES block costs one IP and one FP. */
static inline uint64_t tdes_enc64(const struct cas_tdes_key *ks, uint64_t x)
{
	x = nibble_perm(ip_tab, x);
	uint32_t l = (uint32_t)(x >> 32), r = (uint32_t)x;
	rounds_enc(ks->k1.sk, &l, &r);
	rounds_dec(ks->k2.sk, &l, &r);
	rounds_enc(ks->k3.sk, &l, &r);
	return nibble_perm(fp_tab, ((uint64_t)l << 32) | r);
}

static inline uint64_t tdes_dec64(const struct cas_tdes_key *ks, uint64_t x)
{
	x = nibble_perm(ip_tab, x);
	uint32_t l = (uint32_t)(x >> 32), r = (uint32_t)x;
	rounds_dec(ks->k3.sk, &l, &r);
	rounds_enc(ks->k2.sk, &l, &r);
	rounds_dec(ks->k1.sk, &l, &r);
	return nibble_perm(fp_tab, ((uint64_t)l << 32) | r);
}

void cas_tdes_encrypt_block(const struct cas_tdes_key *ks, const uint8_t in[8], uint8_t out[8])
{
	store64(out, tdes_enc64(ks, load64(in)));
}

void cas_tdes_decrypt_block(const struct cas_tdes_key *ks, const uint8_t in[8], uint8_t out[8])
{
	store64(out, tdes_dec64(ks, load64(in)));
}

int cas_tdes_ecb_encrypt(const struct cas_tdes_key *ks, const uint8_t *in, uint8_t *out, size_t len)
{
	if (len % 8 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 8)
		store64(out + i, tdes_enc64(ks, load64(in + i)));
	return 0;
}

int cas_tdes_ecb_decrypt(const struct cas_tdes_key *ks, const uint8_t *in, uint8_t *out, size_t len)
{
	if (len % 8 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 8)
		store64(out + i, tdes_dec64(ks, load64(in + i)));
	return 0;
}

void cas_tdes_wipe(struct cas_tdes_key *ks)
{
	cas_wipe(ks, sizeof *ks);
}
