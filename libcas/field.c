/* Card field checks shared by the API and the CSV module (see field.h). */
#include "field.h"

#include <string.h>

#include "hex.h"
#include "utf8.h"

static int fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return -1;
}

/* Value of n (1..10) decimal digits, or -1 if any byte is not a digit. */
static int64_t digits(const char *s, size_t n)
{
	int64_t v = 0;
	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int cas_field_ac(const char *s, size_t n, uint32_t *out, const char **why)
{
	uint8_t b[4];
	if (cas_hex_decode(s, n, b, sizeof b) < 0)
		return fail(why, "must be exactly 8 hex digits");
	*out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

int cas_field_pair(const char *s, size_t n, int *out, const char **why)
{
	if (n != 1 || (s[0] != '0' && s[0] != '1'))
		return fail(why, "must be 0 or 1");
	*out = s[0] - '0';
	return 0;
}

int cas_field_type(const char *s, size_t n, int *out, const char **why)
{
	if (n != 1 || (s[0] != '1' && s[0] != '2'))
		return fail(why, "must be 1 (protection on) or 2 (off)");
	*out = s[0] - '0';
	return 0;
}

int cas_field_time(const char *s, size_t n, int csv, int64_t *out, const char **why)
{
	int64_t v = csv || n == 10 ? digits(s, n) : -1;
	if (v < 0)
		return fail(why, csv ? "must be a Unix time of at most 10 digits, or 0"
				     : "must be exactly 10 digits (Unix time)");
	if (!(csv && v == 0) && (v < CAS_FIELD_TIME_MIN || v > CAS_FIELD_TIME_MAX))
		return fail(why, "must be between 0631152000 (1990-01-01) and 3155759999 "
				 "(2069-12-31 23:59:59 UTC), the Conax date range");
	*out = v;
	return 0;
}

int cas_field_serial(const char *s, size_t n, uint32_t min, uint32_t max, uint32_t *out,
		     const char **why)
{
	int64_t v = digits(s, n);
	if (v < 0)
		return fail(why, "must be a number");
	if (max == 0)
		max = UINT32_MAX;
	if (v < (int64_t)min || v > (int64_t)max)
		return fail(why, "out of range");
	*out = (uint32_t)v;
	return 0;
}

int cas_field_key(const char *s, size_t n, uint8_t out[16], const char **why)
{
	if (cas_hex_decode(s, n, out, 16) < 0) {
		memset(out, 0, 16);
		return fail(why, "must be exactly 32 hex digits");
	}
	return 0;
}

int cas_field_text(const char *s, size_t n, size_t max, const char **why)
{
	if (n > max)
		return fail(why, max == CAS_FIELD_NAME_MAX ? "longer than 255 bytes"
			    : max == CAS_FIELD_INFO_MAX ? "longer than 1023 bytes" : "too long");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F)
			return fail(why, "contains a control character");
		if (c == ';')
			return fail(why, "contains ';' (the CSV separator)");
	}
	if (!cas_utf8_valid(s, n))
		return fail(why, "is not valid UTF-8");
	return 0;
}

int cas_field_uint_opt(const char *s, size_t n, int64_t *out, const char **why)
{
	if (n == 0) {
		*out = -1;
		return 0;
	}
	int64_t v = digits(s, n);
	if (v < 0 || v > 4294967295LL)
		return fail(why, "must be empty or a number up to 4294967295");
	*out = v;
	return 0;
}
