/* casprog: numbers, times and dates on the command line and in output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casprog.h"
#include "cdate.h"

int cp_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	/* strtoull with base 0 reads a leading 0 as octal: refuse "010" */
	if (errno != 0 || *end != '\0' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return -1;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int cp_parse_time(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	int all_digits = n > 0 && n <= 12;
	for (size_t i = 0; i < n && all_digits; i++)
		all_digits = s[i] >= '0' && s[i] <= '9';
	if (all_digits) {
		*out = strtoll(s, NULL, 10);
		return 0;
	}
	/* YYYY-MM-DD[THH:MM:SS][Z] */
	int y, mo, d, h = 0, mi = 0, se = 0;
	if (n > 0 && s[n - 1] == 'Z')
		n--;
	if ((n != 10 && n != 19) || s[4] != '-' || s[7] != '-' ||
	    digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &d) < 0)
		return -1;
	if (n == 19 && (s[10] != 'T' || s[13] != ':' || s[16] != ':' || digits(s + 11, 2, &h) < 0 ||
			digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &se) < 0))
		return -1;
	if (n == 10 && s[10] == 'Z')
		return -1;	/* "YYYY-MM-DDZ" */
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
		return -1;
	/* the day must exist in that month: round-trip it */
	int64_t days = cas_days_from_civil(y, mo, d);
	int y2, mo2, d2;
	cas_civil_from_days(days, &y2, &mo2, &d2);
	if (y2 != y || mo2 != mo || d2 != d)
		return -1;
	*out = days * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

void cp_cdate_text(const uint8_t d[2], char out[16])
{
	int y, m, day;
	if (cas_cdate_decode(d, &y, &m, &day) < 0)
		snprintf(out, 16, "invalid");
	else
		snprintf(out, 16, "%04d-%02d-%02d", y, m, day);
}

void cp_time_text(int64_t t, char out[32])
{
	int64_t days = t / 86400, sec = t % 86400;
	if (sec < 0) {
		sec += 86400;
		days--;
	}
	int y, m, d;
	cas_civil_from_days(days, &y, &m, &d);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(sec / 3600),
		 (int)(sec / 60 % 60), (int)(sec % 60));
}

int cp_read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	*len = fread(buf, 1, cap, f);
	int err = ferror(f);
	if (!err && *len == cap && fgetc(f) != EOF)
		*len = cap + 1;
	fclose(f);
	if (err) {
		errno = EIO;
		return -1;
	}
	return 0;
}

void cp_bin_name(uint32_t serial, char out[32])
{
	char d[16];
	snprintf(d, sizeof d, "%010u", serial);
	snprintf(out, 32, "%.3s-%.3s-%.3s-%.1s.bin", d, d + 3, d + 6, d + 9);
}
