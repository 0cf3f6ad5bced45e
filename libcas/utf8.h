#ifndef CAS_UTF8_H
#define CAS_UTF8_H
/*
 * UTF-8 decoding for the text billing sends (card name and info) and for
 * the JSON encoder.  Well-formed means exactly the byte sequences of
 * Unicode 15, §3.9 Table 3-7: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF.
 */
#include <stddef.h>
#include <stdint.h>

#define CAS_UTF8_REPLACEMENT 0xFFFDu

/* Decodes the character at s (n >= 1 bytes).  Returns its length (1..4)
 * with the code point in *cp; for an ill-formed sequence returns minus the
 * length of its maximal subpart (1..3) with *cp = U+FFFD, so a caller that
 * substitutes one U+FFFD per maximal subpart (Unicode §3.9 "U+FFFD
 * Substitution of Maximal Subparts", what Python's errors="replace" does)
 * skips that many bytes.  Returns 0 only for n == 0. */
int cas_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* 1 if s[0..n-1] is entirely well-formed UTF-8, else 0. */
int cas_utf8_valid(const char *s, size_t n);

#endif
