/*
 * DES / 3DES: NIST SP 800-20 known-answer tables, FIPS 81 and SP 800-67
 * examples (des_kat_vectors.h), the TVCAS 3 vectors (tvcas3_vectors.h), and
 * a cross-check against the openssl command line on random keys and blocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"
#include "rand.h"
#include "tdes.h"

#include "des_kat_vectors.h"
#include "tvcas3_vectors.h"

static void unhex(const char *text, uint8_t *out, size_t n)
{
	assert_int_equal(cas_hex_decode(text, strlen(text), out, n), 0);
}

static void test_des_known_answers(void **state)
{
	(void)state;
	size_t n = sizeof V_DES_KAT / sizeof V_DES_KAT[0];
	assert_true(n >= 64 + 56 + 32 + 19);
	for (size_t i = 0; i < n; i++) {
		const struct v_des_kat *v = &V_DES_KAT[i];
		uint8_t key[8], pt[8], ct[8], out[8];
		unhex(v->key, key, 8);
		unhex(v->pt, pt, 8);
		unhex(v->ct, ct, 8);
		struct cas_des_key ks;
		cas_des_set_key(&ks, key);
		cas_des_encrypt_block(&ks, pt, out);
		if (memcmp(out, ct, 8) != 0)
			fail_msg("%s: encrypt mismatch", v->what);
		cas_des_decrypt_block(&ks, ct, out);
		if (memcmp(out, pt, 8) != 0)
			fail_msg("%s: decrypt mismatch", v->what);
	}
}

/* SP 800-20 runs its tables through TDEA with K1 = K2 = K3, which is single
 * DES: check that path with both the 2-key and the 3-key schedules. */
static void test_tdes_equal_keys_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof V_DES_KAT / sizeof V_DES_KAT[0]; i++) {
		const struct v_des_kat *v = &V_DES_KAT[i];
		uint8_t key24[24], pt[8], ct[8], out[8];
		unhex(v->key, key24, 8);
		memcpy(key24 + 8, key24, 8);
		memcpy(key24 + 16, key24, 8);
		unhex(v->pt, pt, 8);
		unhex(v->ct, ct, 8);
		struct cas_tdes_key k2, k3;
		cas_tdes_set_key2(&k2, key24);
		cas_tdes_set_key3(&k3, key24);
		cas_tdes_encrypt_block(&k2, pt, out);
		assert_memory_equal(out, ct, 8);
		cas_tdes_encrypt_block(&k3, pt, out);
		assert_memory_equal(out, ct, 8);
		cas_tdes_decrypt_block(&k2, ct, out);
		assert_memory_equal(out, pt, 8);
		cas_tdes_decrypt_block(&k3, ct, out);
		assert_memory_equal(out, pt, 8);
	}
}

static void test_tdes_sp800_67(void **state)
{
	(void)state;
	uint8_t key[24], pt[24], ct[24], out[24];
	unhex(V_TDES_SP800_67.key, key, 24);
	unhex(V_TDES_SP800_67.pt, pt, 24);
	unhex(V_TDES_SP800_67.ct, ct, 24);
	struct cas_tdes_key ks;
	cas_tdes_set_key3(&ks, key);
	assert_int_equal(cas_tdes_ecb_encrypt(&ks, pt, out, 24), 0);
	assert_memory_equal(out, ct, 24);
	assert_int_equal(cas_tdes_ecb_decrypt(&ks, ct, out, 24), 0);
	assert_memory_equal(out, pt, 24);
}

/* A 2-key EDE key whose halves are equal collapses to single DES:
 * E_K(D_K(E_K(x))) = E_K(x). */
static void test_tdes2_equal_halves_is_des(void **state)
{
	(void)state;
	for (int i = 0; i < 200; i++) {
		uint8_t key16[16], blk[8], a[8], b[8];
		cas_rand_bytes(key16, 8);
		memcpy(key16 + 8, key16, 8);
		cas_rand_bytes(blk, 8);
		struct cas_des_key d;
		struct cas_tdes_key t;
		cas_des_set_key(&d, key16);
		cas_tdes_set_key2(&t, key16);
		cas_des_encrypt_block(&d, blk, a);
		cas_tdes_encrypt_block(&t, blk, b);
		assert_memory_equal(a, b, 8);
		cas_des_decrypt_block(&d, blk, a);
		cas_tdes_decrypt_block(&t, blk, b);
		assert_memory_equal(a, b, 8);
	}
}

/* K3 = K1 in 2-key mode: the same as the 3-key schedule of K1 || K2 || K1. */
static void test_tdes2_is_tdes3_k1k2k1(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		uint8_t key24[24], blk[16], a[16], b[16];
		cas_rand_bytes(key24, 16);
		memcpy(key24 + 16, key24, 8);
		cas_rand_bytes(blk, sizeof blk);
		struct cas_tdes_key k2, k3;
		cas_tdes_set_key2(&k2, key24);
		cas_tdes_set_key3(&k3, key24);
		cas_tdes_ecb_encrypt(&k2, blk, a, 16);
		cas_tdes_ecb_encrypt(&k3, blk, b, 16);
		assert_memory_equal(a, b, 16);
	}
}

static void test_tvcas3_des3_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof V_DES3 / sizeof V_DES3[0]; i++) {
		uint8_t key[16], pt[48], ct[48], out[48];
		unhex(V_DES3[i].key16, key, 16);
		unhex(V_DES3[i].pt, pt, 48);
		unhex(V_DES3[i].ct, ct, 48);
		struct cas_tdes_key ks;
		cas_tdes_set_key2(&ks, key);
		assert_int_equal(cas_tdes_ecb_encrypt(&ks, pt, out, 48), 0);
		if (memcmp(out, ct, 48) != 0)
			fail_msg("des3 %s: encrypt mismatch", V_DES3[i].name);
		assert_int_equal(cas_tdes_ecb_decrypt(&ks, ct, out, 48), 0);
		assert_memory_equal(out, pt, 48);
		/* in place */
		memcpy(out, pt, 48);
		assert_int_equal(cas_tdes_ecb_encrypt(&ks, out, out, 48), 0);
		assert_memory_equal(out, ct, 48);
	}
}

static void test_firmware_selftest(void **state)
{
	(void)state;
	uint8_t key[16], blk[8], enc[8], dec[8], out[8];
	unhex(V_FW_SELFTEST.key16, key, 16);
	unhex(V_FW_SELFTEST.block, blk, 8);
	unhex(V_FW_SELFTEST.enc, enc, 8);
	unhex(V_FW_SELFTEST.dec, dec, 8);
	struct cas_tdes_key ks;
	cas_tdes_set_key2(&ks, key);
	cas_tdes_decrypt_block(&ks, blk, out);
	assert_memory_equal(out, dec, 8);
	cas_tdes_encrypt_block(&ks, blk, out);
	assert_memory_equal(out, enc, 8);
}

static void test_ecb_length_and_wipe(void **state)
{
	(void)state;
	uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t buf[24] = { 0 }, copy[24];
	struct cas_tdes_key ks;
	cas_tdes_set_key2(&ks, key);
	memcpy(copy, buf, sizeof buf);
	assert_int_equal(cas_tdes_ecb_encrypt(&ks, buf, buf, 23), -1);
	assert_int_equal(cas_tdes_ecb_decrypt(&ks, buf, buf, 9), -1);
	assert_memory_equal(buf, copy, sizeof buf);	/* untouched on error */
	assert_int_equal(cas_tdes_ecb_encrypt(&ks, buf, buf, 0), 0);

	cas_tdes_wipe(&ks);
	static const struct cas_tdes_key zero;
	assert_memory_equal(&ks, &zero, sizeof ks);
}

/* DES weak key: its schedule is its own reverse, so E(E(x)) = x. */
static void test_des_weak_key(void **state)
{
	(void)state;
	static const char *weak[] = { "0101010101010101", "FEFEFEFEFEFEFEFE",
				      "E0E0E0E0F1F1F1F1", "1F1F1F1F0E0E0E0E" };
	for (size_t i = 0; i < 4; i++) {
		uint8_t key[8], blk[8], out[8];
		unhex(weak[i], key, 8);
		cas_rand_bytes(blk, 8);
		struct cas_des_key ks;
		cas_des_set_key(&ks, key);
		cas_des_encrypt_block(&ks, blk, out);
		cas_des_encrypt_block(&ks, out, out);
		assert_memory_equal(out, blk, 8);
	}
}

/* ---- cross-check with the openssl command line ---- */

static char tmpdir[64];

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* openssl enc -CIPHER -K key -nopad over in[0..n-1] into out. */
static void openssl_enc(const char *cipher, const char *extra, const uint8_t *key, size_t keylen,
			const uint8_t *in, uint8_t *out, size_t n)
{
	char inpath[128], outpath[128], keyhex[2 * 24 + 1], cmd[512];
	snprintf(inpath, sizeof inpath, "%s/in", tmpdir);
	snprintf(outpath, sizeof outpath, "%s/out", tmpdir);
	write_file(inpath, in, n);
	cas_hex_encode(key, keylen, keyhex);
	snprintf(cmd, sizeof cmd, "openssl enc -%s -K %s -nopad %s -in %s -out %s 2>%s/err",
		 cipher, keyhex, extra, inpath, outpath, tmpdir);
	if (system(cmd) != 0)
		fail_msg("openssl failed: %s", cmd);
	FILE *f = fopen(outpath, "rb");
	assert_non_null(f);
	assert_int_equal(fread(out, 1, n + 1, f), n);
	fclose(f);
}

static int setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_tdes.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_vs_openssl_3key(void **state)
{
	(void)state;
	for (int i = 0; i < 200; i++) {
		uint8_t key[24], in[32], ours[32], theirs[32];
		cas_rand_bytes(key, sizeof key);
		cas_rand_bytes(in, sizeof in);
		struct cas_tdes_key ks;
		cas_tdes_set_key3(&ks, key);
		cas_tdes_ecb_encrypt(&ks, in, ours, sizeof in);
		openssl_enc("des-ede3", "", key, 24, in, theirs, sizeof in);
		assert_memory_equal(ours, theirs, sizeof in);
		cas_tdes_ecb_decrypt(&ks, ours, ours, sizeof in);
		assert_memory_equal(ours, in, sizeof in);
	}
}

static void test_vs_openssl_2key(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		uint8_t key[16], in[48], ours[48], theirs[48];
		cas_rand_bytes(key, sizeof key);
		cas_rand_bytes(in, sizeof in);
		struct cas_tdes_key ks;
		cas_tdes_set_key2(&ks, key);
		cas_tdes_ecb_encrypt(&ks, in, ours, sizeof in);
		openssl_enc("des-ede", "", key, 16, in, theirs, sizeof in);
		assert_memory_equal(ours, theirs, sizeof in);
	}
}

static void test_vs_openssl_single(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		uint8_t key[8], in[16], ours[16], theirs[16];
		cas_rand_bytes(key, sizeof key);
		cas_rand_bytes(in, sizeof in);
		struct cas_des_key ks;
		cas_des_set_key(&ks, key);
		cas_des_encrypt_block(&ks, in, ours);
		cas_des_encrypt_block(&ks, in + 8, ours + 8);
		/* OpenSSL 3 keeps single DES in its legacy provider */
		openssl_enc("des-ecb", "-provider legacy -provider default", key, 8, in, theirs,
			    sizeof in);
		assert_memory_equal(ours, theirs, sizeof in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_des_known_answers),
		cmocka_unit_test(test_tdes_equal_keys_known_answers),
		cmocka_unit_test(test_tdes_sp800_67),
		cmocka_unit_test(test_tdes2_equal_halves_is_des),
		cmocka_unit_test(test_tdes2_is_tdes3_k1k2k1),
		cmocka_unit_test(test_tvcas3_des3_vectors),
		cmocka_unit_test(test_firmware_selftest),
		cmocka_unit_test(test_ecb_length_and_wipe),
		cmocka_unit_test(test_des_weak_key),
		cmocka_unit_test(test_vs_openssl_3key),
		cmocka_unit_test(test_vs_openssl_2key),
		cmocka_unit_test(test_vs_openssl_single),
	};
	if (cas_rand_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
