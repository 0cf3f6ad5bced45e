/* Unit tests: the card field rules (libcas/field.c) and UTF-8 decoding
 * (libcas/utf8.c).  The UTF-8 expectations come from the Unicode Standard
 * (§3.9 Table 3-7 well-formed sequences, Table 3-8 maximal subparts). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "field.h"
#include "utf8.h"

#define S(x) x, sizeof(x) - 1

static void test_ac(void **state)
{
	(void)state;
	uint32_t v = 7;
	const char *why = NULL;
	assert_int_equal(cas_field_ac(S("00000000"), &v, &why), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cas_field_ac(S("FFFFFFFF"), &v, &why), 0);
	assert_int_equal(v, 0xFFFFFFFFu);
	assert_int_equal(cas_field_ac(S("ffffffff"), &v, &why), 0);
	assert_int_equal(v, 0xFFFFFFFFu);
	assert_int_equal(cas_field_ac(S("01010101"), &v, &why), 0);
	assert_int_equal(v, 0x01010101u);
	assert_int_equal(cas_field_ac(S("aBcD0123"), &v, &why), 0);
	assert_int_equal(v, 0xABCD0123u);
	/* anchored: TVCAS 3's regex only wanted 8 hex digits somewhere */
	static const char *const bad[] = {
		"", "0000000", "123456789", "1x345678", " 1234567", "1234567 ", "0x123456",
		"G0000000", "+1234567", "-1234567", "x01010101", "0101010101",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = 7;
		why = NULL;
		if (cas_field_ac(bad[i], strlen(bad[i]), &v, &why) != -1)
			fail_msg("access_criteria '%s' accepted", bad[i]);
		assert_string_equal(why, "must be exactly 8 hex digits");
	}
	/* a NUL inside counts as a character, not an end */
	assert_int_equal(cas_field_ac("0000\0" "000", 8, &v, &why), -1);	/* 8 bytes: 0000 NUL 000 */
	/* why may be NULL */
	assert_int_equal(cas_field_ac(S("1"), &v, NULL), -1);
}

static void test_pair_type(void **state)
{
	(void)state;
	int v = 9;
	const char *why;
	assert_int_equal(cas_field_pair(S("0"), &v, &why), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cas_field_pair(S("1"), &v, &why), 0);
	assert_int_equal(v, 1);
	static const char *const bad[] = { "", "2", "01", "10", " 1", "1 ", "a", "-1", "+1", "1x" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		if (cas_field_pair(bad[i], strlen(bad[i]), &v, &why) != -1)
			fail_msg("pair '%s' accepted", bad[i]);
		assert_string_equal(why, "must be 0 or 1");
	}
	assert_int_equal(cas_field_type(S("1"), &v, &why), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cas_field_type(S("2"), &v, &why), 0);
	assert_int_equal(v, 2);
	assert_int_equal(cas_field_type(S("0"), &v, &why), -1);
	assert_string_equal(why, "must be 1 (protection on) or 2 (off)");
	assert_int_equal(cas_field_type(S("12"), &v, &why), -1);
}

static void test_time(void **state)
{
	(void)state;
	int64_t v = 5;
	const char *why;
	assert_int_equal(cas_field_time(S("1586693700"), 0, &v, &why), 0);
	assert_int_equal(v, 1586693700);
	/* the Conax range: 1990-01-01 00:00:00 .. 2069-12-31 23:59:59 UTC */
	assert_int_equal(cas_field_time(S("0631152000"), 0, &v, &why), 0);
	assert_int_equal(v, 631152000);
	assert_int_equal(cas_field_time(S("3155759999"), 0, &v, &why), 0);
	assert_int_equal(v, 3155759999LL);
	static const char *const range[] = { "0631151999", "3155760000", "4294967295", "9999999999",
					     "0000000000" };
	for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
		why = NULL;
		if (cas_field_time(range[i], strlen(range[i]), 0, &v, &why) != -1)
			fail_msg("time '%s' accepted", range[i]);
		assert_string_equal(why, "must be between 0631152000 (1990-01-01) and 3155759999 "
				    "(2069-12-31 23:59:59 UTC), the Conax date range");
	}
	assert_int_equal(cas_field_time(S("1000000000"), 0, &v, &why), 0);
	assert_int_equal(v, 1000000000);
	static const char *const bad[] = { "", "0", "123456789", "12345678901", "1x", "1586693700x",
					   "x1586693700", " 586693700", "-586693700", "+586693700",
					   "15866937.0", "1586693700 " };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		if (cas_field_time(bad[i], strlen(bad[i]), 0, &v, &why) != -1)
			fail_msg("time '%s' accepted", bad[i]);
		assert_string_equal(why, "must be exactly 10 digits (Unix time)");
	}
	/* CSV: 1..10 digits, or 0 ("no date") */
	assert_int_equal(cas_field_time(S("0"), 1, &v, &why), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cas_field_time(S("0000000000"), 1, &v, &why), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cas_field_time(S("978307200"), 1, &v, &why), 0);	/* 2001-01-01 */
	assert_int_equal(v, 978307200);
	assert_int_equal(cas_field_time(S("0978307200"), 1, &v, &why), 0);
	assert_int_equal(v, 978307200);
	assert_int_equal(cas_field_time(S("978307200"), 0, &v, &why), -1);	/* not for the API */
	assert_string_equal(why, "must be exactly 10 digits (Unix time)");
	assert_int_equal(cas_field_time(S("631151999"), 1, &v, &why), -1);
	assert_string_equal(why, "must be between 0631152000 (1990-01-01) and 3155759999 "
			    "(2069-12-31 23:59:59 UTC), the Conax date range");
	assert_int_equal(cas_field_time(S("1"), 1, &v, &why), -1);
	assert_string_equal(why, "must be between 0631152000 (1990-01-01) and 3155759999 "
			    "(2069-12-31 23:59:59 UTC), the Conax date range");
	static const char *const csvbad[] = { "", "12345678901", "1x", " 1", "-1", "+1", "1e9", "0x10" };
	for (size_t i = 0; i < sizeof csvbad / sizeof csvbad[0]; i++) {
		why = NULL;
		if (cas_field_time(csvbad[i], strlen(csvbad[i]), 1, &v, &why) != -1)
			fail_msg("csv time '%s' accepted", csvbad[i]);
		assert_string_equal(why, "must be a Unix time of at most 10 digits, or 0");
	}
}

static void test_serial_key_uint(void **state)
{
	(void)state;
	uint32_t s = 1;
	const char *why;
	assert_int_equal(cas_field_serial(S("2100000000"), 0, 0, &s, &why), 0);
	assert_int_equal(s, 2100000000u);
	assert_int_equal(cas_field_serial(S("4294967295"), 0, 0, &s, &why), 0);
	assert_int_equal(s, 4294967295u);
	assert_int_equal(cas_field_serial(S("4294967296"), 0, 0, &s, &why), -1);
	assert_string_equal(why, "out of range");
	assert_int_equal(cas_field_serial(S("0"), 1, 0, &s, &why), -1);
	assert_string_equal(why, "out of range");
	assert_int_equal(cas_field_serial(S("2099999999"), 2100000000u, 2109999999u, &s, &why), -1);
	assert_string_equal(why, "out of range");
	assert_int_equal(cas_field_serial(S("2110000000"), 2100000000u, 2109999999u, &s, &why), -1);
	assert_int_equal(cas_field_serial(S("2109999999"), 2100000000u, 2109999999u, &s, &why), 0);
	static const char *const bad[] = { "", "21000000001", "2100000000x", " 2100000000", "-1", "+5", "1e9" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		if (cas_field_serial(bad[i], strlen(bad[i]), 0, 0, &s, &why) != -1)
			fail_msg("serial '%s' accepted", bad[i]);
		assert_string_equal(why, "must be a number");
	}

	uint8_t k[16];
	static const uint8_t want[16] = { 0x07, 0xC8, 0xBA, 0x92, 0xE8, 0xEA, 0x42, 0x2E,
					  0x00, 0xEF, 0xCB, 0x68, 0x32, 0x9A, 0xA4, 0xA9 };
	assert_int_equal(cas_field_key(S("07C8BA92E8EA422E00EFCB68329AA4A9"), k, &why), 0);
	assert_memory_equal(k, want, 16);
	assert_int_equal(cas_field_key(S("07c8ba92e8ea422e00efcb68329aa4a9"), k, &why), 0);
	assert_memory_equal(k, want, 16);
	assert_int_equal(cas_field_key(S("07C8BA92E8EA422E00EFCB68329AA4A"), k, &why), -1);
	assert_string_equal(why, "must be exactly 32 hex digits");
	assert_int_equal(cas_field_key(S("07C8BA92E8EA422E00EFCB68329AA4A9A"), k, &why), -1);
	assert_int_equal(cas_field_key(S("07C8BA92E8EA422E00EFCB68329AA4AZ"), k, &why), -1);

	int64_t u;
	assert_int_equal(cas_field_uint_opt(S(""), &u, &why), 0);
	assert_int_equal(u, -1);
	assert_int_equal(cas_field_uint_opt(S("0"), &u, &why), 0);
	assert_int_equal(u, 0);
	assert_int_equal(cas_field_uint_opt(S("4294967295"), &u, &why), 0);
	assert_int_equal(u, 4294967295LL);
	assert_int_equal(cas_field_uint_opt(S("4294967296"), &u, &why), -1);
	assert_string_equal(why, "must be empty or a number up to 4294967295");
	assert_int_equal(cas_field_uint_opt(S("12a"), &u, &why), -1);
}

static void test_text(void **state)
{
	(void)state;
	const char *why;
	char big[4096];
	memset(big, 'a', sizeof big);
	assert_int_equal(cas_field_text(big, 255, CAS_FIELD_NAME_MAX, &why), 0);
	assert_int_equal(cas_field_text(big, 256, CAS_FIELD_NAME_MAX, &why), -1);
	assert_string_equal(why, "longer than 255 bytes");
	assert_int_equal(cas_field_text(big, 1023, CAS_FIELD_INFO_MAX, &why), 0);
	assert_int_equal(cas_field_text(big, 1024, CAS_FIELD_INFO_MAX, &why), -1);
	assert_string_equal(why, "longer than 1023 bytes");
	assert_int_equal(cas_field_text(big, 4096, CAS_FIELD_INFO_MAX, &why), -1);
	assert_int_equal(cas_field_text(S(""), CAS_FIELD_NAME_MAX, &why), 0);
	/* UTF-8: Cyrillic (2 bytes), CJK (3), emoji (4) */
	assert_int_equal(cas_field_text(S("\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F"), 255, &why), 0);
	assert_int_equal(cas_field_text(S("\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x93\xBA"), 255, &why), 0);
	assert_int_equal(cas_field_text(S("Moscow, Krasnaya square 1/2 \"x\" \\ % + & ' < >"), 255, &why), 0);
	/* 255 bytes is bytes, not characters */
	char cyr[300];
	for (int i = 0; i < 150; i++) {
		cyr[2 * i] = (char)0xD0;
		cyr[2 * i + 1] = (char)0x90;
	}
	assert_int_equal(cas_field_text(cyr, 254, 255, &why), 0);
	assert_int_equal(cas_field_text(cyr, 256, 255, &why), -1);
	assert_string_equal(why, "longer than 255 bytes");

	static const char *const notutf8[] = {
		"\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF0\x80\x80\x80",
		"\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\x80", "abc\xD0", "\xE4\xB8",
		"\xD0\x41", "caf\xE9",
	};
	for (size_t i = 0; i < sizeof notutf8 / sizeof notutf8[0]; i++) {
		why = NULL;
		if (cas_field_text(notutf8[i], strlen(notutf8[i]), 255, &why) != -1)
			fail_msg("text %zu accepted", i);
		assert_string_equal(why, "is not valid UTF-8");
	}
	static const char *const ctl[] = { "a\tb", "a\nb", "a\rb", "\x1F", "a\x7F" };
	for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
		why = NULL;
		assert_int_equal(cas_field_text(ctl[i], strlen(ctl[i]), 255, &why), -1);
		assert_string_equal(why, "contains a control character");
	}
	assert_int_equal(cas_field_text("a\0b", 3, 255, &why), -1);
	assert_string_equal(why, "contains a control character");
	assert_int_equal(cas_field_text(S("Ivanov; flat 5"), 255, &why), -1);
	assert_string_equal(why, "contains ';' (the CSV separator)");
}

/* Decodes a whole string, writing code points (U+FFFD per maximal subpart). */
static size_t decode_all(const uint8_t *s, size_t n, uint32_t *out)
{
	size_t k = 0;
	while (n > 0) {
		uint32_t cp;
		int r = cas_utf8_decode(s, n, &cp);
		assert_true(r != 0);
		size_t len = (size_t)(r < 0 ? -r : r);
		assert_true(len <= n);
		out[k++] = cp;
		s += len;
		n -= len;
	}
	return k;
}

static void test_utf8(void **state)
{
	(void)state;
	uint32_t cp[32];
	/* Unicode Standard §3.9, Table 3-8: "U+FFFD for Non-Shortest Form
	 * Sequences" example 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
	static const uint8_t t38[] = { 0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63,
				       0x80, 0xBF, 0x64 };
	static const uint32_t w38[] = { 0x61, 0xFFFD, 0xFFFD, 0xFFFD, 0x62, 0xFFFD, 0x63, 0xFFFD,
					0xFFFD, 0x64 };
	assert_int_equal(decode_all(t38, sizeof t38, cp), 10);
	assert_memory_equal(cp, w38, sizeof w38);
	/* the boundaries of Table 3-7 */
	static const struct {
		const char *s;
		int len;
		uint32_t cp;
	} v[] = {
		{ "\x7F", 1, 0x7F }, { "\xC2\x80", 2, 0x80 }, { "\xDF\xBF", 2, 0x7FF },
		{ "\xE0\xA0\x80", 3, 0x800 }, { "\xEC\xBF\xBF", 3, 0xCFFF }, { "\xED\x9F\xBF", 3, 0xD7FF },
		{ "\xEE\x80\x80", 3, 0xE000 }, { "\xEF\xBF\xBF", 3, 0xFFFF },
		{ "\xF0\x90\x80\x80", 4, 0x10000 }, { "\xF4\x8F\xBF\xBF", 4, 0x10FFFF },
		{ "\xC0\xAF", -1, 0xFFFD }, { "\xE0\x9F\xBF", -1, 0xFFFD }, { "\xED\xA0\x80", -1, 0xFFFD },
		{ "\xF0\x8F\xBF\xBF", -1, 0xFFFD }, { "\xF4\x90\x80\x80", -1, 0xFFFD },
		{ "\xE1\x80", -2, 0xFFFD }, { "\xF1\x80\x80", -3, 0xFFFD }, { "\xF1\x80\x80\x41", -3, 0xFFFD },
		{ "\xE1\x41", -1, 0xFFFD },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint32_t c = 0;
		int r = cas_utf8_decode((const uint8_t *)v[i].s, strlen(v[i].s), &c);
		if (r != v[i].len || c != v[i].cp)
			fail_msg("case %zu: got %d U+%04X", i, r, (unsigned)c);
	}
	uint32_t c = 1;
	assert_int_equal(cas_utf8_decode((const uint8_t *)"", 0, &c), 0);
	assert_int_equal(cas_utf8_valid(S("")), 1);
	assert_int_equal(cas_utf8_valid(S("\xD0\x9C\xF0\x9F\x93\xBA")), 1);
	assert_int_equal(cas_utf8_valid(S("\xD0\x9C\xF0\x9F\x93")), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ac),
		cmocka_unit_test(test_pair_type),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_serial_key_uint),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
