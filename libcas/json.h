#ifndef CAS_JSON_H
#define CAS_JSON_H
/*
 * JSON output byte-compatible with TVCAS 3, whose API answers with PHP's
 * json_encode() and default flags (tvcas3.md §7): every string escaped as
 *   "  \"      \  \\      /  \/
 *   \b \f \n \r \t as such; other bytes below 0x20 as \u00XX (lower case)
 *   every non-ASCII character as \uXXXX (lower-case hex), above U+FFFF as
 *   a UTF-16 surrogate pair; 0x7F and other ASCII as they are.
 * PHP's json_encode fails (TVCAS 3 then sends an empty body) on ill-formed
 * UTF-8; FreeCAS never stores such text (field.h refuses it), and should
 * some reach the encoder it writes one \ufffd per maximal subpart (utf8.h),
 * as PHP does with JSON_INVALID_UTF8_SUBSTITUTE.
 */
#include <stddef.h>

#include "buf.h"
#include "db.h"

/* Appends s[0..n-1] as a JSON string, quotes included. */
void cas_json_put_string(struct cas_wbuf *w, const char *s, size_t n);

/* The TVCAS 3 API's answer for a card, every value a string, in this order:
 * {"serial_no":"2100000000","name":"…","info":"…","access_criteria":"01010101",
 *  "pair":"0","start":"1586693700","finish":"1589285580"}
 * access_criteria as 8 upper-case hex digits.  CAS_JSON_CARD_MAX bytes
 * always suffice. */
void cas_json_card(struct cas_wbuf *w, const struct cas_card *c);
#define CAS_JSON_CARD_MAX 8192

#endif
