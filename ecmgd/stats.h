#ifndef ECMGD_STATS_H
#define ECMGD_STATS_H
/*
 * ecmgd's rows in the generators table (db.h), written by a thread of their
 * own: a commit waits for fsync (synchronous=FULL), which must never stall
 * the event loop that answers CW_provisions.  The loop hands over a batch of
 * rows at most once a second; while the writer is busy, the loop keeps its
 * changes for the next second.
 *
 * This header does not include db.h, and db.h is included only by stats.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* One row: the server itself (name = listen address) or one SCS connection
 * (name = "LISTEN/PEER"). */
struct ecmgd_row {
	char name[128];
	char peer[64];
	char state[16];		/* "running", "connected", "closed", "stopped" */
	char settings[256];
	int full;		/* write the whole record (upsert), not only counters */
	int64_t started, last_seen;
	int64_t channels, streams;
	int64_t cw_provisions, ecms, errors;
};

struct ecmgd_stats;

/* Opens the database of conf (creating it), removes the rows an earlier run
 * of this server (name `self`, and "self/...") left behind, and starts the
 * writer.  Closed connection rows are removed keep_closed seconds after
 * they closed.  Logs and returns -1 on failure. */
int ecmgd_stats_start(struct ecmgd_stats **out, const struct cas_conf *conf, const char *self,
		      int64_t keep_closed);

/* Hands a batch (malloc'ed, n rows) to the writer, which frees it.  Returns
 * 0, or -1 if the writer is still busy with the previous one (the caller
 * keeps its batch and tries again later). */
int ecmgd_stats_submit(struct ecmgd_stats *s, struct ecmgd_row *rows, size_t n);

/* Writes a last batch (may be NULL), stops the writer and closes the
 * database. */
void ecmgd_stats_stop(struct ecmgd_stats *s, struct ecmgd_row *rows, size_t n);

#endif
