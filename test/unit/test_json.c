/* Unit tests: PHP json_encode-compatible output (libcas/json.c), against the
 * TVCAS 3 vector (reference/tvcas3-vectors.json, api_json_example: the
 * output of the original PHP) and against an independent encoder
 * (test/vectors/json_php.py, Python's json module) on random strings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "rand.h"

static void enc(const char *s, size_t n, char *out, size_t size)
{
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, size - 1);
	cas_json_put_string(&w, s, n);
	assert_int_equal(cas_wbuf_error(&w), 0);
	out[w.len] = '\0';
}

#define ENC_IS(lit, want) do { char o_[512]; enc(lit, sizeof(lit) - 1, o_, sizeof o_); \
	assert_string_equal(o_, want); } while (0)

/* api_json_example in tvcas3-vectors.json: row and json_encode output */
static void test_tvcas3_vector(void **state)
{
	(void)state;
	struct cas_card c;
	memset(&c, 0, sizeof c);
	c.serial_no = 2100000004u;
	strcpy(c.name, "\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F \xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD\xD0\xBE\xD0\xB2\xD0\xB0");
	strcpy(c.info, "Moscow, Krasnaya square 1/2");
	c.access_criteria = 0xFFFFFFFFu;
	c.pair = 0;
	c.start = 1596955440;
	c.finish = 1602674640;
	char out[CAS_JSON_CARD_MAX + 1];
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, CAS_JSON_CARD_MAX);
	cas_json_card(&w, &c);
	assert_int_equal(cas_wbuf_error(&w), 0);
	out[w.len] = '\0';
	assert_string_equal(out,
		"{\"serial_no\":\"2100000004\",\"name\":\"\\u041c\\u0430\\u0440\\u0438\\u044f "
		"\\u0418\\u0432\\u0430\\u043d\\u043e\\u0432\\u0430\",\"info\":\"Moscow, Krasnaya square "
		"1\\/2\",\"access_criteria\":\"FFFFFFFF\",\"pair\":\"0\",\"start\":\"1596955440\","
		"\"finish\":\"1602674640\"}");
}

static void test_php_rules(void **state)
{
	(void)state;
	ENC_IS("", "\"\"");
	ENC_IS("plain text 123", "\"plain text 123\"");
	ENC_IS("a\"b\\c/d", "\"a\\\"b\\\\c\\/d\"");
	ENC_IS("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	ENC_IS("\x01\x1F", "\"\\u0001\\u001f\"");
	ENC_IS("a\x7F" "b", "\"a\x7F" "b\"");
	ENC_IS("<a href='x'>&amp;</a>", "\"<a href='x'>&amp;<\\/a>\"");
	ENC_IS("\xC3\xA9", "\"\\u00e9\"");
	ENC_IS("\xE2\x82\xAC", "\"\\u20ac\"");
	ENC_IS("\xEF\xBF\xBF", "\"\\uffff\"");
	ENC_IS("\xF0\x9F\x93\xBA", "\"\\ud83d\\udcfa\"");	/* U+1F4FA */
	ENC_IS("\xF4\x8F\xBF\xBF", "\"\\udbff\\udfff\"");	/* U+10FFFF */
	/* ill-formed: one U+FFFD per maximal subpart (Unicode Table 3-8) */
	ENC_IS("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
	       "\"a\\ufffd\\ufffd\\ufffdb\\ufffdc\\ufffd\\ufffdd\"");
	ENC_IS("caf\xE9", "\"caf\\ufffd\"");
	/* a NUL in the middle is a character like any other */
	char o[64];
	enc("a\0b", 3, o, sizeof o);
	assert_string_equal(o, "\"a\\u0000b\"");
	/* the writer's bound holds */
	struct cas_wbuf w;
	char small[8];
	cas_wbuf_init(&w, small, sizeof small);
	cas_json_put_string(&w, "\xD0\x9C\xD0\x9C", 4);
	assert_int_equal(cas_wbuf_error(&w), 1);
}

/* The largest card fits CAS_JSON_CARD_MAX: 255 + 1023 bytes, each escaped
 * to 6 (a control character or ill-formed byte as \u00xx / \ufffd). */
static void test_card_max(void **state)
{
	(void)state;
	struct cas_card c;
	memset(&c, 0, sizeof c);
	c.serial_no = 4294967295u;
	memset(c.name, 0x01, 255);
	memset(c.info, 0xFF, 1023);
	c.start = c.finish = 4294967295LL;
	char out[CAS_JSON_CARD_MAX];
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, sizeof out);
	cas_json_card(&w, &c);
	assert_int_equal(cas_wbuf_error(&w), 0);
	/* {"serial_no":"4294967295" ,"name":"..." ,"info":"..."
	 * ,"access_criteria":"00000000" ,"pair":"0" ,"start":"4294967295"
	 * ,"finish":"4294967295" } */
	assert_int_equal(w.len, 25 + 8 + (2 + 255 * 6) + 8 + (2 + 1023 * 6) + 29 + 11 + 21 + 22 + 1);
	assert_true(w.len <= CAS_JSON_CARD_MAX);
}

static uint32_t rnd(uint32_t n)
{
	return cas_rand_uniform(n);
}

/* Random bytes biased towards the interesting ones. */
static size_t random_string(uint8_t *s, size_t max)
{
	size_t n = rnd((uint32_t)max), i = 0;
	while (i < n) {
		uint32_t k = rnd(10);
		if (k < 3) {
			s[i++] = (uint8_t)(0x20 + rnd(0x60));		/* printable ASCII, DEL */
		} else if (k == 3) {
			s[i++] = (uint8_t)rnd(0x20);			/* controls */
		} else if (k == 4) {
			static const char sp[] = "\"\\/";
			s[i++] = (uint8_t)sp[rnd(3)];
		} else if (k < 8 && i + 4 <= n) {			/* a valid character */
			uint32_t cp;
			do
				cp = rnd(4) == 0 ? 0x10000 + rnd(0x100000) : 0x80 + rnd(0xFF80);
			while (cp >= 0xD800 && cp <= 0xDFFF);
			if (cp < 0x800) {
				s[i++] = (uint8_t)(0xC0 | cp >> 6);
				s[i++] = (uint8_t)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				s[i++] = (uint8_t)(0xE0 | cp >> 12);
				s[i++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
				s[i++] = (uint8_t)(0x80 | (cp & 0x3F));
			} else {
				s[i++] = (uint8_t)(0xF0 | cp >> 18);
				s[i++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
				s[i++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
				s[i++] = (uint8_t)(0x80 | (cp & 0x3F));
			}
		} else {
			s[i++] = (uint8_t)(0x80 + rnd(0x80));		/* any high byte */
		}
	}
	return i;
}

static void test_vs_python(void **state)
{
	(void)state;
	enum { N = 3000, MAX = 40 };
	char dir[] = "/tmp/test_json.XXXXXX", in[64], out[64], cmd[400];
	assert_non_null(mkdtemp(dir));
	snprintf(in, sizeof in, "%s/in", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	static uint8_t s[N][MAX];
	static size_t len[N];
	FILE *f = fopen(in, "w");
	assert_non_null(f);
	for (int i = 0; i < N; i++) {
		len[i] = random_string(s[i], MAX);
		for (size_t j = 0; j < len[i]; j++)
			fprintf(f, "%02x", s[i][j]);
		fputc('\n', f);
	}
	fclose(f);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 test/vectors/json_php.py < %s > %s", in, out);
	assert_int_equal(system(cmd), 0);
	f = fopen(out, "r");
	assert_non_null(f);
	char want[MAX * 12 + 8], got[MAX * 12 + 8];
	for (int i = 0; i < N; i++) {
		assert_non_null(fgets(want, sizeof want, f));
		want[strcspn(want, "\n")] = '\0';
		enc((const char *)s[i], len[i], got, sizeof got);
		if (strcmp(got, want) != 0)
			fail_msg("string %d: ours %s, python %s", i, got, want);
	}
	assert_null(fgets(want, sizeof want, f));
	fclose(f);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tvcas3_vector),
		cmocka_unit_test(test_php_rules),
		cmocka_unit_test(test_card_max),
		cmocka_unit_test(test_vs_python),
	};
	if (cas_rand_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
