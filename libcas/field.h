#ifndef CAS_FIELD_H
#define CAS_FIELD_H
/*
 * The card fields billing sends, as text (the API's set[...] values and the
 * CSV columns), checked the same way by casapid, cascron and the CSV module.
 * Every rule is anchored: the whole text must match, nothing is trimmed,
 * nothing is converted silently (TVCAS 3 used unanchored regexes and
 * intval: tvcas3.md §7, §8).  Each function returns 0 with the value, or -1
 * with *why (when why is not NULL) pointing to a constant reason such as
 * "must be exactly 8 hex digits", to be prefixed with the field name.
 */
#include <stddef.h>
#include <stdint.h>

/* Subscription times FreeCAS accepts from billing: the Conax date of the
 * EMM and of the card file exists only for 1990-01-01 .. 2069-12-31 (UTC),
 * so a later finish would make the card's EMM impossible to build
 * (tvcas3.md §5, libcas/tvcas3.h). */
#define CAS_FIELD_TIME_MIN 631152000LL		/* 1990-01-01 00:00:00 UTC */
#define CAS_FIELD_TIME_MAX 3155759999LL		/* 2069-12-31 23:59:59 UTC */

/* Largest name and info, in bytes (the database's limits, db.h). */
#define CAS_FIELD_NAME_MAX 255
#define CAS_FIELD_INFO_MAX 1023

/* access_criteria: exactly 8 hex digits, either case ("must be exactly 8
 * hex digits"). */
int cas_field_ac(const char *s, size_t n, uint32_t *out, const char **why);

/* pair: exactly "0" or "1". */
int cas_field_pair(const char *s, size_t n, int *out, const char **why);

/* type (anti-sharing protection, admin CSV): exactly "1" (on) or "2" (off). */
int cas_field_type(const char *s, size_t n, int *out, const char **why);

/* start / finish, from CAS_FIELD_TIME_MIN to CAS_FIELD_TIME_MAX.  The API
 * (csv = 0) wants exactly 10 decimal digits, as TVCAS 3 documented.  A CSV
 * file (csv = 1) may write 1 to 10 digits (TVCAS 3 read them with intval,
 * and a time before 2001-09-09 has 9), and 0 means "no date", as a card
 * made without a subscription has. */
int cas_field_time(const char *s, size_t n, int csv, int64_t *out, const char **why);

/* serial_no: 1 to 10 decimal digits, value in [min, max] (max 0 means
 * 4294967295).  Reasons: "must be a number" or "out of range". */
int cas_field_serial(const char *s, size_t n, uint32_t min, uint32_t max, uint32_t *out,
		     const char **why);

/* The card key of the admin CSV: exactly 32 hex digits. */
int cas_field_key(const char *s, size_t n, uint8_t out[16], const char **why);

/* name / info text: at most max bytes of well-formed UTF-8, without control
 * characters (U+0000..U+001F, U+007F) and without ';', which cannot be
 * written to a CSV file without quoting (tvcas3.md §7, §8).  Reasons:
 * "longer than 255 bytes" (with the max given), "is not valid UTF-8",
 * "contains a control character", "contains ';' (the CSV separator)". */
int cas_field_text(const char *s, size_t n, size_t max, const char **why);

/* Optional unsigned decimal (the admin CSV's edit column): empty, or 1 to
 * 10 digits up to 4294967295; *out = -1 when empty. */
int cas_field_uint_opt(const char *s, size_t n, int64_t *out, const char **why);

#endif
