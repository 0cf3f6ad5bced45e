/*
 * Conax dates (tvcas3.md §5) and the proleptic Gregorian calendar in UTC,
 * without libc time functions: no time zone, no 2038 limit.
 */
#include "cdate.h"

#include <string.h>

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const uint8_t dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return month == 2 && is_leap(year) ? 29 : dim[month - 1];
}

/*
 * Years are counted from March, so that the leap day is the last day of a
 * year: a 400-year cycle then has exactly 146097 days, and the day of the
 * year of the first of each month (March = 0) is (153 * m + 2) / 5.
 * 719468 is the number of days from 0000-03-01 to 1970-01-01.
 */
int64_t cas_days_from_civil(int year, int month, int day)
{
	int64_t y = (int64_t)year - (month <= 2 ? 1 : 0);
	int64_t cycle = floor_div(y, 400);
	int64_t yc = y - cycle * 400;				/* 0..399 */
	int64_t m = month > 2 ? month - 3 : month + 9;		/* March = 0 */
	int64_t yday = (153 * m + 2) / 5 + day - 1;		/* 0..365 */
	int64_t cday = yc * 365 + yc / 4 - yc / 100 + yday;	/* 0..146096 */
	return cycle * 146097 + cday - 719468;
}

void cas_civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t cycle = floor_div(z, 146097);
	int64_t cday = z - cycle * 146097;			/* 0..146096 */
	/* Year of the cycle: remove the leap days before cday (one per 4
	 * years, none per 100, one per 400; the last day of the cycle is the
	 * 400th year's leap day). */
	int64_t yc = (cday - cday / 1460 + cday / 36524 - cday / 146096) / 365;
	int64_t yday = cday - (yc * 365 + yc / 4 - yc / 100);	/* 0..365 */
	int64_t m = (5 * yday + 2) / 153;			/* March = 0 */
	*day = (int)(yday - (153 * m + 2) / 5 + 1);
	*month = (int)(m < 10 ? m + 3 : m - 9);
	*year = (int)(yc + cycle * 400 + (*month <= 2 ? 1 : 0));
}

int cas_cdate_encode(int year, int month, int day, uint8_t out[2])
{
	if (year < 1990 || year > 2069 || month < 1 || month > 12 ||
	    day < 1 || day > days_in_month(year, month)) {
		out[0] = out[1] = 0;
		return -1;
	}
	int y = year - 1990;
	out[0] = (uint8_t)((y / 10) << 5 | day);
	out[1] = (uint8_t)((y % 10) << 4 | month);
	return 0;
}

int cas_cdate_from_time(int64_t t, uint8_t out[2])
{
	int y, m, d;
	/* Outside 1990..2069 anyway; keeps the day arithmetic far from overflow. */
	if (t < 0 || t > INT64_C(4102444800)) {
		out[0] = out[1] = 0;
		return -1;
	}
	cas_civil_from_days(floor_div(t, 86400), &y, &m, &d);
	return cas_cdate_encode(y, m, d, out);
}

int cas_cdate_decode(const uint8_t in[2], int *year, int *month, int *day)
{
	int y = 1990 + 10 * (in[0] >> 5) + (in[1] >> 4);
	int m = in[1] & 15;
	int d = in[0] & 31;
	if (in[1] >> 4 > 9 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	*year = y;
	*month = m;
	*day = d;
	return 0;
}

int cas_cdate_to_time(const uint8_t in[2], int64_t *t)
{
	int y, m, d;
	if (cas_cdate_decode(in, &y, &m, &d) < 0)
		return -1;
	*t = cas_days_from_civil(y, m, d) * 86400;
	return 0;
}
