#ifndef ECMGD_H
#define ECMGD_H
/*
 * ecmgd: one process, one libevent loop, one TCP connection per ECM channel
 * (libcas/ecmg.h does the protocol).  Everything the callbacks need hangs
 * off struct ecmgd; there are no globals.
 */
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "conf.h"
#include "ecmg.h"
#include "stats.h"
#include "tlv.h"

struct event_base;
struct event;
struct evbuffer;
struct evconnlistener;

struct conn {
	struct ecmgd *d;
	struct conn *prev, *next;
	int fd;
	struct event *rev, *wev;
	struct evbuffer *pending;	/* replies the socket did not take yet */
	struct cas_tlv_framer *framer;	/* only while a message is split */
	struct cas_ecmg_conn ec;
	char row[128];			/* generators row name */
	int64_t connected;
	/* monotonic seconds */
	int64_t last_input;		/* for the idle timeout */
	int64_t probe_sent;		/* channel_test sent at, 0 = none */
	int64_t close_by;		/* closing: give up flushing at */
	int closing;			/* stop reading, flush, then close */
	int read_paused;		/* too much output waiting */
	int dead;			/* socket failed: destroy when safe */
	int in_cb;			/* inside read_cb: defer destroy */
	int row_written;		/* full row handed to the writer */
};

struct ecmgd {
	struct cas_cli *cli;
	struct cas_conf conf;
	const char *conf_path;
	struct event_base *base;
	struct evconnlistener *lst;
	struct event *ev_term, *ev_int, *ev_hup, *ev_tick, *ev_accept_again;
	struct cas_ecmg eng;
	char listen[56];		/* as configured, for logs and the row name */
	int64_t idle_timeout;
	struct conn *conns;
	size_t nconns;
	/* shared by every connection: the loop handles one at a time */
	uint8_t *rbuf;
	size_t rcap;
	uint8_t *obuf;
	size_t ocap;
	struct cas_tlv_framer *framer;
	/* the generators table */
	struct ecmgd_stats *stats;
	struct ecmgd_row *closed_rows;	/* connections closed since the last batch */
	size_t nclosed, capclosed;
	int64_t started;
	uint64_t total_cw, total_ecm, total_err;	/* of closed connections */
	int server_row_written;
	int stopping;
	int exit_code;
};

/* server.c */
int ecmgd_listen(struct ecmgd *d);
/* Idle probes and timeouts (monotonic clock). */
void ecmgd_tick(struct ecmgd *d);
void ecmgd_close_all(struct ecmgd *d);
/* The rows to write now (dirty connections, closed ones, the server);
 * final: every connection and the server as stopped. */
struct ecmgd_row *ecmgd_rows(struct ecmgd *d, size_t *n, int final);
void ecmgd_rows_done(struct ecmgd *d, int accepted);

/* main.c */
int ecmgd_params(const struct cas_conf *conf, const char *path, struct cas_ecmg_params *p,
		 const struct cas_profile **profile, void **key);

#endif
