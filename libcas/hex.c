#include "hex.h"

int cas_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Digit values by character, 0xFF for a character that is no hex digit:
 * a table lookup instead of three range tests (a CSV import of 1,000,000
 * cards decodes 64,000,000 digits). */
static const uint8_t digit_value[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};	/* value + 1, so that 0 (every other entry) means "not a digit" */

int cas_hex_decode(const char *text, size_t textlen, uint8_t *out, size_t n)
{
	if (textlen != 2 * n)
		return -1;
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned hi = digit_value[(unsigned char)text[2 * i]];
		unsigned lo = digit_value[(unsigned char)text[2 * i + 1]];
		bad |= (hi == 0) | (lo == 0);
		out[i] = (uint8_t)((hi - 1) << 4 | ((lo - 1) & 15));
	}
	return bad ? -1 : 0;
}

static void encode(const uint8_t *in, size_t n, char *out, const char *digits)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void cas_hex_encode(const uint8_t *in, size_t n, char *out)
{
	encode(in, n, out, "0123456789ABCDEF");
}

void cas_hex_encode_lower(const uint8_t *in, size_t n, char *out)
{
	encode(in, n, out, "0123456789abcdef");
}
