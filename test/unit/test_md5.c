/* MD5: the RFC 1321 §A.5 test suite, the TVCAS 3 BIN key digest, and a
 * cross-check against `openssl dgst -md5` on random inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "md5.h"
#include "rand.h"

#include "tvcas3_vectors.h"

static void check_hex(const uint8_t d[16], const char *want_lower)
{
	char got[33];
	cas_hex_encode_lower(d, 16, got);
	assert_string_equal(got, want_lower);
}

static void test_rfc1321_suite(void **state)
{
	(void)state;
	static const struct { const char *msg, *digest; } v[] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  "57edf4a22be3c955ac49da2e2107b67a" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint8_t d[16];
		cas_md5(v[i].msg, strlen(v[i].msg), d);
		check_hex(d, v[i].digest);
	}
}

/* tvcas3.md §5: the BIN shared address is MD5 of the ecm_key text. */
static void test_ecm_key_text_digest(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof V_BIN / sizeof V_BIN[0]; i++) {
		uint8_t d[16];
		cas_md5(V_BIN[i].ecm_key, strlen(V_BIN[i].ecm_key), d);
		check_hex(d, V_BIN[i].md5_ecm_key);
	}
}

/* Feeding the input in pieces gives the one-shot digest, across the
 * 55/56/64-byte padding boundaries. */
static void test_incremental(void **state)
{
	(void)state;
	uint8_t data[300];
	cas_rand_bytes(data, sizeof data);
	for (size_t len = 0; len <= sizeof data; len++) {
		uint8_t one[16], inc[16];
		cas_md5(data, len, one);
		struct cas_md5 c;
		cas_md5_init(&c);
		size_t pos = 0;
		while (pos < len) {
			size_t step = 1 + cas_rand_uniform(70);
			if (step > len - pos)
				step = len - pos;
			cas_md5_update(&c, data + pos, step);
			pos += step;
		}
		cas_md5_final(&c, inc);
		assert_memory_equal(one, inc, 16);
	}
}

/* 200 random messages of 0..299 bytes against one `openssl dgst` run. */
static void test_vs_openssl(void **state)
{
	(void)state;
	enum { N = 200 };
	char dir[] = "/tmp/test_md5.XXXXXX";
	assert_non_null(mkdtemp(dir));
	static uint8_t digests[N][16];
	char cmd[256];
	for (int i = 0; i < N; i++) {
		uint8_t msg[300];
		size_t len = cas_rand_uniform(sizeof msg);
		cas_rand_bytes(msg, len);
		cas_md5(msg, len, digests[i]);
		char path[64];
		snprintf(path, sizeof path, "%s/%03d", dir, i);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(msg, 1, len, f), len);
		fclose(f);
	}
	/* -r: "<hex> *<file>", one line per file in argument order */
	snprintf(cmd, sizeof cmd, "cd %s && openssl dgst -md5 -r $(ls | sort) > ../%s.out",
		 dir, dir + 5);
	assert_int_equal(system(cmd), 0);
	char outpath[64];
	snprintf(outpath, sizeof outpath, "%s.out", dir);
	FILE *f = fopen(outpath, "r");
	assert_non_null(f);
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		assert_true(n < N);
		uint8_t d[16];
		assert_int_equal(cas_hex_decode(line, 32, d, 16), 0);
		assert_memory_equal(d, digests[n], 16);
		n++;
	}
	fclose(f);
	assert_int_equal(n, N);
	snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, outpath);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc1321_suite),
		cmocka_unit_test(test_ecm_key_text_digest),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_vs_openssl),
	};
	if (cas_rand_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
