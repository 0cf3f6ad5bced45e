/* UTF-8 decoding (see utf8.h). */
#include "utf8.h"

int cas_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	if (n == 0) {
		*cp = 0;
		return 0;
	}
	uint8_t b = s[0];
	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	/* Unicode §3.9 Table 3-7: the lead byte fixes the length and the
	 * range allowed for the second byte; later bytes are 80..BF. */
	size_t len;
	uint8_t lo = 0x80, hi = 0xBF;
	uint32_t v;
	if (b >= 0xC2 && b <= 0xDF) {
		len = 2;
		v = b & 0x1Fu;
	} else if (b >= 0xE0 && b <= 0xEF) {
		len = 3;
		v = b & 0x0Fu;
		if (b == 0xE0)
			lo = 0xA0;	/* no overlong forms */
		else if (b == 0xED)
			hi = 0x9F;	/* no surrogates */
	} else if (b >= 0xF0 && b <= 0xF4) {
		len = 4;
		v = b & 0x07u;
		if (b == 0xF0)
			lo = 0x90;	/* no overlong forms */
		else if (b == 0xF4)
			hi = 0x8F;	/* nothing above U+10FFFF */
	} else {
		*cp = CAS_UTF8_REPLACEMENT;	/* 80..C1, F5..FF never start a character */
		return -1;
	}
	size_t i;
	for (i = 1; i < len; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*cp = CAS_UTF8_REPLACEMENT;
			return -(int)i;
		}
		v = v << 6 | (s[i] & 0x3Fu);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = v;
	return (int)len;
}

int cas_utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;
	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		uint32_t cp;
		int r = cas_utf8_decode(p + i, n - i, &cp);
		if (r <= 0)
			return 0;
		i += (size_t)r;
	}
	return 1;
}
