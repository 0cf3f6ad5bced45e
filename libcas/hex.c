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

int cas_hex_decode(const char *text, size_t textlen, uint8_t *out, size_t n)
{
	if (textlen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = cas_hex_digit((unsigned char)text[2 * i]);
		int lo = cas_hex_digit((unsigned char)text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
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
