#ifndef CAS_HEX_H
#define CAS_HEX_H
#include <stddef.h>
#include <stdint.h>

/* Parses exactly 2*n hex digits (either case, nothing else) into out.
 * Returns 0, or -1 if the text has another length or a non-hex character. */
int cas_hex_decode(const char *text, size_t textlen, uint8_t *out, size_t n);
/* Writes 2*n upper-case digits and a NUL into out (size >= 2*n+1). */
void cas_hex_encode(const uint8_t *in, size_t n, char *out);
/* Same, lower case. */
void cas_hex_encode_lower(const uint8_t *in, size_t n, char *out);
/* Value of one hex digit, or -1. */
int cas_hex_digit(int c);

#endif
