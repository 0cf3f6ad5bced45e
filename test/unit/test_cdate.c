/* Conax dates (tvcas3.md §5): the reference vectors, the range limits, and
 * a round trip of every day 1990-01-01..2069-12-31 checked against libc's
 * gmtime_r as an independent calendar. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cdate.h"
#include "hex.h"

#include "tvcas3_vectors.h"

static void check_vector(const struct v_cdate *v)
{
	uint8_t out[2] = { 0xAA, 0xAA };
	int year, month, day;
	assert_int_equal(sscanf(v->utc, "%d-%d-%d", &year, &month, &day), 3);
	int rc = cas_cdate_from_time(v->unix_time, out);
	if (!v->in_range) {
		/* 1970 (TVCAS 3: garbage) and 2070 (TVCAS 3: wraps to 1990)
		 * are refused, not encoded */
		assert_int_equal(rc, -1);
		assert_int_equal(out[0], 0);
		assert_int_equal(out[1], 0);
		assert_int_equal(cas_cdate_encode(year, month, day, out), -1);
		return;
	}
	assert_int_equal(rc, 0);
	char hex[5];
	cas_hex_encode(out, 2, hex);
	assert_string_equal(hex, v->packed);

	int y, m, d;
	assert_int_equal(cas_cdate_decode(out, &y, &m, &d), 0);
	assert_int_equal(y, year);
	assert_int_equal(m, month);
	assert_int_equal(d, day);
	int64_t t;
	assert_int_equal(cas_cdate_to_time(out, &t), 0);
	assert_int_equal(t, v->unix_time - v->unix_time % 86400);
}

static void test_reference_vectors(void **state)
{
	(void)state;
	size_t n = sizeof V_CDATE / sizeof V_CDATE[0];
	assert_int_equal(n, 11);
	int refused = 0;
	for (size_t i = 0; i < n; i++) {
		check_vector(&V_CDATE[i]);
		refused += !V_CDATE[i].in_range;
	}
	assert_int_equal(refused, 2);	/* 1970 and 2070 */
	check_vector(&V_CDATE_ZONE_UTC);
}

/* The 2070 case: TVCAS 3 wrote 0101 (which decodes as 1990-01-01). */
static void test_2070_not_wrapped(void **state)
{
	(void)state;
	const struct v_cdate *v2070 = NULL;
	for (size_t i = 0; i < sizeof V_CDATE / sizeof V_CDATE[0]; i++)
		if (strncmp(V_CDATE[i].utc, "2070-", 5) == 0)
			v2070 = &V_CDATE[i];
	assert_non_null(v2070);
	assert_string_equal(v2070->packed, "0101");
	uint8_t out[2];
	assert_int_equal(cas_cdate_from_time(v2070->unix_time, out), -1);
	assert_int_equal(cas_cdate_from_time(v2070->unix_time - 1, out), 0);	/* 2069-12-31 */
	assert_int_equal(out[0], 0xFF);
	assert_int_equal(out[1], 0x9C);
	assert_int_equal(cas_cdate_from_time(631152000, out), 0);		/* 1990-01-01 */
	assert_int_equal(out[0], 0x01);
	assert_int_equal(out[1], 0x01);
	assert_int_equal(cas_cdate_from_time(631151999, out), -1);		/* 1989-12-31 */
	assert_int_equal(cas_cdate_from_time(-1, out), -1);
	assert_int_equal(cas_cdate_from_time(INT64_MAX, out), -1);
	assert_int_equal(cas_cdate_from_time(INT64_MIN, out), -1);
}

static void test_encode_decode_invalid(void **state)
{
	(void)state;
	uint8_t out[2];
	assert_int_equal(cas_cdate_encode(1989, 12, 31, out), -1);
	assert_int_equal(cas_cdate_encode(2070, 1, 1, out), -1);
	assert_int_equal(cas_cdate_encode(2023, 2, 29, out), -1);
	assert_int_equal(cas_cdate_encode(2024, 13, 1, out), -1);
	assert_int_equal(cas_cdate_encode(2024, 0, 1, out), -1);
	assert_int_equal(cas_cdate_encode(2024, 4, 31, out), -1);
	assert_int_equal(cas_cdate_encode(2024, 4, 0, out), -1);
	assert_int_equal(cas_cdate_encode(2000, 2, 29, out), 0);	/* 400-year leap */

	int y, m, d;
	static const uint8_t bad[][2] = {
		{ 0x00, 0x00 },		/* day 0, month 0 */
		{ 0x01, 0x00 },		/* month 0 */
		{ 0x01, 0x0D },		/* month 13 */
		{ 0x00, 0x01 },		/* day 0 */
		{ 0x1E, 0x42 },		/* 1994-02-30 */
		{ 0x7D, 0x32 },		/* 2023-02-29 */
		{ 0x01, 0xA1 },		/* year digit 10 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t t;
		assert_int_equal(cas_cdate_decode(bad[i], &y, &m, &d), -1);
		assert_int_equal(cas_cdate_to_time(bad[i], &t), -1);
	}
}

/* Every day of the Conax range, against gmtime_r. */
static void test_every_day_round_trip(void **state)
{
	(void)state;
	int64_t first = cas_days_from_civil(1990, 1, 1);
	int64_t last = cas_days_from_civil(2069, 12, 31);
	assert_int_equal(first, 7305);
	assert_int_equal(last - first + 1, 29220);	/* 80 years, 20 leap days */
	for (int64_t day = first; day <= last; day++) {
		time_t t = (time_t)(day * 86400);
		struct tm tm;
		assert_non_null(gmtime_r(&t, &tm));
		int y, m, d;
		cas_civil_from_days(day, &y, &m, &d);
		assert_int_equal(y, tm.tm_year + 1900);
		assert_int_equal(m, tm.tm_mon + 1);
		assert_int_equal(d, tm.tm_mday);
		assert_int_equal(cas_days_from_civil(y, m, d), day);

		uint8_t a[2], b[2], c[2];
		assert_int_equal(cas_cdate_encode(y, m, d, a), 0);
		assert_int_equal(a[0], ((y - 1990) / 10) << 5 | d);
		assert_int_equal(a[1], ((y - 1990) % 10) << 4 | m);
		assert_int_equal(cas_cdate_from_time(day * 86400, b), 0);
		assert_int_equal(cas_cdate_from_time(day * 86400 + 86399, c), 0);
		assert_memory_equal(a, b, 2);
		assert_memory_equal(a, c, 2);
		int y2, m2, d2;
		assert_int_equal(cas_cdate_decode(a, &y2, &m2, &d2), 0);
		assert_int_equal(y2, y);
		assert_int_equal(m2, m);
		assert_int_equal(d2, d);
		int64_t back;
		assert_int_equal(cas_cdate_to_time(a, &back), 0);
		assert_int_equal(back, day * 86400);
	}
}

/* The calendar helpers beyond the Conax range (negative days, centuries). */
static void test_civil_wide_range(void **state)
{
	(void)state;
	assert_int_equal(cas_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(cas_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(cas_days_from_civil(2000, 3, 1), 11017);
	for (int64_t day = cas_days_from_civil(1601, 1, 1); day <= cas_days_from_civil(2401, 1, 1);
	     day += 7) {
		time_t t = (time_t)(day * 86400);
		struct tm tm;
		assert_non_null(gmtime_r(&t, &tm));
		int y, m, d;
		cas_civil_from_days(day, &y, &m, &d);
		assert_int_equal(y, tm.tm_year + 1900);
		assert_int_equal(m, tm.tm_mon + 1);
		assert_int_equal(d, tm.tm_mday);
		assert_int_equal(cas_days_from_civil(y, m, d), day);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_vectors),
		cmocka_unit_test(test_2070_not_wrapped),
		cmocka_unit_test(test_encode_decode_invalid),
		cmocka_unit_test(test_every_day_round_trip),
		cmocka_unit_test(test_civil_wide_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
