#ifndef CASPROG_READER_H
#define CASPROG_READER_H
/* casprog: the card reader (a Phoenix/Smartmouse serial reader, or the pty
 * of contrib/cardemu), through libcas t0host (reference/conax-card.md
 * §1.5, §1.6).  Every function that talks to the card returns a cli.h exit
 * code: 0, 2 (the card: no card, wrong ATR, timeout, refused), 111 (the
 * system: cannot open the port, no modem lines). */
#include <stdint.h>

#include "casprog.h"
#include "t0host.h"

/* Command-line choices; unset fields take the configuration's card.*. */
struct cp_reader_opts {
	const char *port;		/* --port, NULL = card.port */
	int reset;			/* --reset, -1 = card.reset */
	int invert;			/* --invert, -1 = card.reset_invert */
	int no_echo;			/* --no-echo */
	long timeout_ms;		/* --timeout, 0 = card.timeout */
};

/* getopt_long codes of the reader options, shared by write, info, erase. */
enum {
	CP_OPT_PORT = 0x100,
	CP_OPT_RESET,
	CP_OPT_INVERT,
	CP_OPT_NO_ECHO,
	CP_OPT_TIMEOUT,
};
#define CP_READER_LONGOPTS \
	{ "port", required_argument, NULL, CP_OPT_PORT }, \
	{ "reset", required_argument, NULL, CP_OPT_RESET }, \
	{ "invert", no_argument, NULL, CP_OPT_INVERT }, \
	{ "no-echo", no_argument, NULL, CP_OPT_NO_ECHO }, \
	{ "timeout", required_argument, NULL, CP_OPT_TIMEOUT }

void cp_reader_opts_init(struct cp_reader_opts *o);
/* Takes one reader option: 1 taken, 0 not a reader option, or a usage exit
 * code (100) after reporting a bad value. */
int cp_reader_opt(struct cp_reader_opts *o, int code, const char *arg);

/* Parses the arguments of write (file != NULL: one FILE), info (json !=
 * NULL: --json) or erase.  0 to go on, or -1 with *code the exit code
 * (after --help or a usage error). */
int cp_reader_args(struct cp_ctx *ctx, struct cp_reader_opts *ro, const char *name,
		   const char **file, int *json, int *code);

struct cp_reader {
	struct cas_t0host h;
	const char *port;
	/* progress display */
	int tty;			/* stderr is a terminal: one redrawn bar */
	int bar_shown;
	char label[64];
};

/* STATUS (DD D8, card.h): the FreeCAS personalisation state. */
struct cp_status {
	int life;			/* enum cas_card_life */
	int flags;			/* CAS_CARD_ST_* */
	int nwritten;			/* BIN bytes written while blank */
	uint32_t serial;		/* 0 while blank */
};

/* Opens the port, resets the card and checks its ATR. */
int cp_reader_start(struct cp_reader *r, const struct cp_reader_opts *o, const struct cas_conf *conf);
void cp_reader_close(struct cp_reader *r);

/* Logs "what: <t0host error>" and returns 2, or 111 for a system error. */
int cp_reader_fail(struct cp_reader *r, const char *what);

/* DD D8: 0, or 2 with the reason logged (not a FreeCAS card, ...). */
int cp_card_status(struct cp_reader *r, struct cp_status *st);
/* The same without a word on failure (2): for cards that may not know it. */
int cp_card_status_probe(struct cp_reader *r, struct cp_status *st);
/* A case-1/3 TPDU (data to the card) and a case-2 TPDU (data from it). */
int cp_card_send(struct cp_reader *r, uint8_t ins, uint8_t p2, const uint8_t *data, uint8_t lc,
		 uint16_t *sw, const char *what);
int cp_card_recv(struct cp_reader *r, uint8_t ins, uint8_t p2, uint8_t le, uint8_t *out,
		 uint16_t *sw, const char *what);
/* A Conax command with its DD CA reads. */
int cp_card_conax(struct cp_reader *r, uint8_t ins, const uint8_t *data, size_t len,
		  uint8_t *resp, size_t cap, size_t *resp_len, uint16_t *sw, const char *what);

/* "locked, protect on, pair off" style text of a status. */
const char *cp_life_name(int life);

/* Progress of a long operation: a bar on a terminal, plain log lines
 * otherwise.  percent 0..100. */
void cp_progress(struct cp_reader *r, int percent, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ends the bar (a newline) before other output. */
void cp_progress_end(struct cp_reader *r);

#endif
