#ifndef CARDEMU_H
#define CARDEMU_H
/* cardemu: the software card (doc/cardemu.1).  main.c holds the card, its
 * state file and the log; pty.c and vpcd.c are the two transports. */
#include <stdint.h>

#include "card.h"

struct emu {
	struct cas_card_chip card;
	const char *state_path;		/* NULL: nothing survives a restart */
	int sigfd;			/* signalfd for SIGTERM, SIGINT, SIGHUP */
	int stop;			/* set once a stop signal arrived */
};

/* After each complete command: logs what the card did (one line, never a
 * CW or a key) and writes the state file if the card says it is dirty. */
void emu_after_command(struct emu *e);
/* Logs a reset / power event. */
void emu_log_reset(struct emu *e, const char *why);
/* Writes the state file atomically (temp file, fsync, rename); 0 or -1. */
int emu_save(struct emu *e);
/* Reads pending signals from e->sigfd; sets e->stop on SIGTERM/SIGINT. */
void emu_signals(struct emu *e);
int64_t emu_now_ms(void);

/* Transports: run until a stop signal; return a cli.h exit code. */
int emu_run_pty(struct emu *e, const char *link_path);
int emu_run_vpcd(struct emu *e, const char *host, const char *port);

#endif
