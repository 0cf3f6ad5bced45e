#ifndef CASPROG_H
#define CASPROG_H
/*
 * casprog: card issuance (doc/casprog.8).
 *
 *   main.c    command line, dispatch
 *   create.c  new cards in the database + their personalisation files
 *   bin.c     the personalisation file (profile.h), checks of a file to write
 *   reader.c  the Phoenix reader: open, reset, ATR, card status, progress
 *   write.c   casprog write, casprog erase
 *   info.c    casprog info (table or JSON)
 *   util.c    numbers, times, dates, file reading
 */
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "conf.h"
#include "profile.h"

#define CP_BIN_MAX 256
#define CP_FILE_MAX 4096	/* longest file casprog write reads whole */

/* Everything a subcommand gets: the common options already parsed, its own
 * arguments (argv[0] = the subcommand's name). */
struct cp_ctx {
	struct cas_cli *cli;
	int argc;
	char **argv;
};

int cp_create(struct cp_ctx *ctx);
int cp_write(struct cp_ctx *ctx);
int cp_erase(struct cp_ctx *ctx);
int cp_info(struct cp_ctx *ctx);

/* Loads the configuration (cas_cli_start); -1 with *code set on failure. */
int cp_load_conf(struct cp_ctx *ctx, struct cas_conf *conf, int *code);

/* Reports a usage error ("casprog: fatal: usage: ...") and returns 100. */
int cp_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- bin.c ---- */

/* Builds the personalisation file of card c with the configured profile,
 * ecm_key, super_cas_id and trademark.  Returns its length, or -1 with the
 * reason in why. */
long cp_bin_build(const struct cas_conf *conf, const struct cas_rights *c, uint8_t *out, size_t cap,
		  char *why, size_t whysize);

/* What casprog write needs to know about a file before it touches a card. */
struct cp_bin_info {
	uint32_t serial;
	int protect;
};

/* Checks a file to be written to a card (len > CP_FILE_MAX: longer than
 * that): size, serial, shared address,
 * dates, and (when the configuration has one) that it carries the
 * configured ecm_key.  0, or -1 with the reason in why. */
int cp_bin_check(const struct cas_conf *conf, const uint8_t *bin, size_t len,
		 struct cp_bin_info *info, char *why, size_t whysize);

/* ---- util.c ---- */

/* Unix seconds, or an ISO 8601 date YYYY-MM-DD[THH:MM:SS][Z] in UTC. */
int cp_parse_time(const char *s, int64_t *out);
/* Decimal (or 0x hex) in [min, max]. */
int cp_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "YYYY-MM-DD" of a Conax date; "invalid" if it does not decode. */
void cp_cdate_text(const uint8_t d[2], char out[16]);
/* "YYYY-MM-DDTHH:MM:SSZ" of a Unix time. */
void cp_time_text(int64_t t, char out[32]);
/* Reads a whole small file; -1 with errno set.  *len may exceed cap by 1
 * to show the file is larger. */
int cp_read_file(const char *path, uint8_t *buf, size_t cap, size_t *len);
/* The personalisation file name of a serial, TVCAS 3 style:
 * 2100000000 -> "210-000-000-0.bin". */
void cp_bin_name(uint32_t serial, char out[32]);

#endif
