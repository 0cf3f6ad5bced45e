#ifndef EMMGD_H
#define EMMGD_H
/*
 * emmgd internals.  Three parts:
 *   main.c    configuration, signals, the event loop, statistics;
 *   mux.c     one EMMG<=>MUX session per multiplexer (TCP control, optional
 *             UDP data), paced by the carousel's pacer;
 *   dbsync.c  the database thread: loads the cards on air, follows the
 *             change sequence every 200 ms, writes the generators table, so
 *             that no database call ever stalls the event loop.
 * This header includes neither db.h nor profile.h: each .c file includes
 * what it needs.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "carousel.h"
#include "cli.h"
#include "conf.h"

#define EMMGD_MAX_MUX CAS_CAROUSEL_MAX_OUTPUTS
#define EMMGD_ADDR_SIZE 300

struct emmgd_settings {
	unsigned n_mux;
	char mux[EMMGD_MAX_MUX][EMMGD_ADDR_SIZE];	/* "host:port" as configured */
	char udp[EMMGD_MAX_MUX][EMMGD_ADDR_SIZE];	/* "" = data over TCP */
	uint32_t client_id;
	int version;
	uint16_t channel_id, stream_id, data_id;
	int ts_mode;				/* section_TSpkt_flag */
	enum cas_pacer_mode pacer_mode;
	int udp_ids;
	size_t max_bytes;
	uint32_t bandwidth;			/* kbit/s requested */
	int timeout_s;
	int channel_test_s;
	struct cas_carousel_params car;
	char profile[32];
};

/* One mux's live figures, for the generators table. */
struct emmgd_stats {
	char name[128];
	char peer[EMMGD_ADDR_SIZE];
	char state[32];
	char settings[1024];
	int64_t pid, started, last_seen;
	int64_t channels, streams, emms, bytes, errors, queue_len, cycle_ms, bandwidth;
};

struct emmgd_mux;
struct emmgd_sync;

struct emmgd {
	struct event_base *base;
	struct evdns_base *dns;
	struct cas_cli *cli;
	struct cas_conf conf;
	struct emmgd_settings set;
	const struct cas_profile *profile;
	size_t emm_max_len;
	struct cas_carousel *car;
	struct emmgd_mux *mux[EMMGD_MAX_MUX];
	struct emmgd_sync *sync;
	struct event *ev_sig[4];
	struct event *ev_stats, *ev_stop_bound, *ev_sweep;
	int ready;
	int stopping;
	unsigned muxes_done;
	int64_t started;
	struct emmgd_stats last[EMMGD_MAX_MUX];	/* last posted to the database */
};

/* main.c */
int64_t emmgd_mono_ns(void);
int64_t emmgd_real_ms(void);
/* A mux session reached the running state (readiness on the first one). */
void emmgd_mux_running(struct emmgd *d);
/* A mux session finished its shutdown. */
void emmgd_mux_done(struct emmgd *d);

/* profile_glue.c: the profile by name and its longest EMM. */
const struct cas_profile *emmgd_profile(const char *name, size_t *emm_max_len);

/* mux.c */
struct emmgd_mux *emmgd_mux_new(struct emmgd *d, unsigned index);
void emmgd_mux_free(struct emmgd_mux *m);
void emmgd_mux_start(struct emmgd_mux *m);
/* Cards changed: send now if the pacer allows. */
void emmgd_mux_kick(struct emmgd_mux *m);
/* Closes the session and reconnects at once (new settings). */
void emmgd_mux_restart(struct emmgd_mux *m);
/* New bandwidth: a new stream_BW_request when running. */
void emmgd_mux_bandwidth(struct emmgd_mux *m);
/* SIGTERM: stream_close_request, wait (bounded), channel_close, close;
 * then emmgd_mux_done(). */
void emmgd_mux_shutdown(struct emmgd_mux *m);
void emmgd_mux_stats(const struct emmgd_mux *m, struct emmgd_stats *st);

/* dbsync.c.  The thread owns the database connection `db` from here on. */
struct cas_db;
typedef void emmgd_batch_fn(void *ctx);
struct emmgd_sync *emmgd_sync_start(struct emmgd *d, struct cas_db *db);
/* Asks for a full load of the cards on air (start, SIGHUP, new off_days). */
void emmgd_sync_reload(struct emmgd_sync *s, int off_days);
/* Queues generators rows to write (copied). */
void emmgd_sync_stats(struct emmgd_sync *s, const struct emmgd_stats *st, unsigned n);
/* Writes what is queued, stops the thread, closes the database. */
void emmgd_sync_stop(struct emmgd_sync *s);

#endif
