#ifndef CAS_CDATE_H
#define CAS_CDATE_H
/*
 * The 2-byte Conax date (reference/tvcas3.md §5, conax-card.md §2.6):
 *   byte 0 = ((year - 1990) / 10) << 5 | day
 *   byte 1 = ((year - 1990) % 10) << 4 | month
 * Valid for 1990-01-01 .. 2069-12-31.  FreeCAS computes it in UTC (TVCAS 3
 * used the server's local zone; with the default zone that is the same).
 */
#include <stdint.h>
#include <time.h>

/* Encodes the UTC calendar date of t.  Returns 0, or -1 (and 0x0000) if the
 * date is outside 1990..2069. */
int cas_cdate_from_time(int64_t t, uint8_t out[2]);
/* Encodes a calendar date; -1 if outside 1990..2069 or not a valid date. */
int cas_cdate_encode(int year, int month, int day, uint8_t out[2]);
/* Decodes; -1 if month or day is zero/out of range. */
int cas_cdate_decode(const uint8_t in[2], int *year, int *month, int *day);
/* Decodes to the Unix time of 00:00:00 UTC that day; -1 if invalid. */
int cas_cdate_to_time(const uint8_t in[2], int64_t *t);
/* Days since 1970-01-01 for a proleptic Gregorian date (no libc, no zone). */
int64_t cas_days_from_civil(int year, int month, int day);
void cas_civil_from_days(int64_t days, int *year, int *month, int *day);

#endif
