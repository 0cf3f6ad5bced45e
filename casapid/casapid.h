#ifndef CASAPID_H
#define CASAPID_H
/*
 * casapid's parts (casapid.8 describes the daemon):
 *   main.c    start, configuration and reload, signals, the event loop
 *   server.c  HTTP/1.1 connections on libevent bufferevents: limits,
 *             deadlines, keep-alive, the connection cap, responses
 *   api.c     the endpoints: /api.php, /cards.csv, /healthz, /metrics;
 *             wrong-key slow-down, access log, metrics
 *   worker.c  two database threads with their own connections: the writer
 *             (set[...] requests committed together, CSV imports) and the
 *             reader (CSV exports, card counts)
 * The event loop thread answers card reads itself from its own database
 * connection (WAL: readers never wait for the writer).  Nothing is global:
 * every callback gets the struct app or a struct conn.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "conf.h"
#include "csv.h"
#include "db.h"
#include "http.h"

struct app;
struct conn;
struct job;

/* What the configuration says, in the form the server uses; rebuilt on
 * SIGHUP. */
struct settings {
	uint8_t key_hash[32];		/* keyed BLAKE2b of api.key (never the key itself) */
	long bad_key_delay_ms;
	int timeout_s;
	size_t max_body;
	size_t max_url;
	size_t max_head;		/* max_url + room for the header fields */
	unsigned max_connections;
	int csv_admin;
	int access_log;
	uint32_t serial_min, serial_max;	/* CSV import */
};

/* ---- metrics (event loop thread only) ---- */

#define LAT_BUCKETS 15
enum endpoint { EP_API, EP_CSV_GET, EP_CSV_POST, EP_HEALTHZ, EP_METRICS, EP_OTHER, EP_COUNT };

#define N_RESULTS 32

struct metrics {
	uint64_t requests[EP_COUNT][600];	/* by endpoint and HTTP status */
	uint64_t results[N_RESULTS];		/* error answers by code (api.c: result_names) */
	uint64_t lat_bucket[LAT_BUCKETS + 1];
	double lat_sum;
	uint64_t lat_count;
	uint64_t connections_refused;
	uint64_t bad_keys;
	int64_t cards[3];		/* by status, from the reader thread */
	time_t cards_at;		/* when counted, 0 = never */
};

/* ---- wrong-key slow-down (event loop thread only) ---- */

#define BADKEY_SLOTS 4096
#define BADKEY_MAX_WAITING 16

struct badkey {
	char addr[64];		/* "" = free */
	int64_t next_ms;	/* monotonic ms when this address may have its next answer */
	int64_t audit_ms;	/* last audit row for this address */
	unsigned waiting;	/* answers being held back */
};

/* ---- database jobs ---- */

enum job_kind { JOB_SET, JOB_IMPORT, JOB_EXPORT, JOB_COUNT, JOB_AUDIT, JOB_CHECKPOINT };

struct job {
	enum job_kind kind;
	struct job *next;
	struct conn *conn;	/* event loop thread only; NULL once the client has gone */
	char addr[64];
	int64_t now;
	/* JOB_SET: serial_no and the new values of `fields` */
	struct cas_card card;
	unsigned fields;
	/* JOB_IMPORT, JOB_EXPORT */
	enum cas_csv_layout layout;
	char *text;
	size_t len;
	uint32_t serial_min, serial_max;
	/* JOB_AUDIT */
	char message[200];
	/* the answer */
	int status;
	const char *result;	/* "ok" or the error code, for the access log */
	const char *ctype;
	char *out;
	size_t out_len, out_cap;
	int64_t counts[3];
	char detail[160];	/* extra for the access log ("rows=..."), may be "" */
};

struct worker {
	struct app *app;
	const char *name;
	int writer;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	int stop;
	struct cas_db *db;
	int64_t last_ckpt_ms;	/* writer: its last checkpoint */
};

/* ---- connections ---- */

enum conn_state {
	C_HEAD,		/* waiting for (the rest of) a request head */
	C_BODY,		/* reading a body */
	C_BUSY,		/* request being answered (database job, held-back answer) */
	C_WRITING,	/* answer queued; next request or close once it is sent */
};

struct conn {
	struct app *app;
	struct conn *prev, *next;
	struct bufferevent *bev;
	struct event *timer;
	enum conn_state state;
	char addr[64];
	char *head;
	size_t head_len;
	struct cas_http_head h;
	struct evbuffer *body;
	int64_t body_left;
	struct cas_http_chunked chunk;
	int keep_alive;
	int close_after;	/* close once the answer is out */
	int badkey_wait;	/* held-back NOT_VALID_API_KEY answer */
	int badkey_slot;	/* its struct badkey, or -1 */
	int drop;		/* close without an answer (timer) */
	int too_big;		/* the chunked body went over api.max_body */
	struct job *job;
	struct timespec t0;
	enum endpoint ep;
	char logx[200];		/* access log extra: "serial=... set=..." */
};

struct app {
	struct event_base *base;
	struct cas_cli *cli;
	struct cas_conf conf;
	struct settings set;
	uint8_t hash_key[32];		/* per-process key for key_hash */
	struct cas_db *db;		/* event loop thread: card reads */
	struct evconnlistener *listener;
	struct event *ev_term, *ev_int, *ev_hup, *ev_done, *ev_stop_deadline, *ev_ckpt;
	int ckpt_pending;		/* a JOB_CHECKPOINT is queued */
	struct conn *conns;
	unsigned nconn;
	time_t refused_log_at;
	struct worker writer, reader;
	pthread_mutex_t done_mu;
	struct job *done_head, *done_tail;
	struct badkey bad[BADKEY_SLOTS];
	struct metrics m;
	int stopping;
	char date[40];			/* cached Date header value */
	time_t date_at;
};

/* main.c */
int settings_from_conf(struct app *a, const struct cas_conf *c, struct settings *s, char *err,
		       size_t errsize);
void app_key_hash(const struct app *a, const char *key, size_t len, uint8_t out[32]);

/* server.c */
int server_listen(struct app *a);
void server_stop(struct app *a);
void conn_respond(struct conn *c, int status, const char *result, const char *ctype,
		  const char *body, size_t len, const char *extra_headers);
void conn_respond_buffer(struct conn *c, int status, const char *result, const char *ctype,
			 char *body, size_t len, const char *extra_headers);
void conn_hold(struct conn *c, long ms);
int64_t mono_ms(void);

/* api.c */
void api_request(struct conn *c);
void api_job_done(struct conn *c, struct job *j);
void api_held_answer(struct conn *c);
void api_held_release(struct conn *c);
void api_note_response(struct conn *c, int status, const char *result, size_t bytes,
		       double seconds);

/* worker.c */
int worker_start(struct app *a, struct worker *w, const char *name, int writer);
void worker_submit(struct worker *w, struct job *j);
void worker_stop(struct worker *w);
struct job *job_new(enum job_kind kind, struct conn *c);
void job_free(struct job *j);
void job_body(struct job *j, int status, const char *result, const char *ctype,
	      const char *text, size_t len);
void app_done_cb(evutil_socket_t fd, short what, void *arg);

#endif
