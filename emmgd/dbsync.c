/*
 * The database thread of emmgd.  It owns the one database connection and
 * does every query, so the event loop that paces the EMMs never waits for
 * SQLite (a full load of 1,000,000 cards takes seconds; a write may wait for
 * another writer's lock).
 *
 *   - full load: the cards on air (cas_db_cards_on_air), newest change
 *     first, in batches, between a BEGIN and an END marker;
 *   - every 200 ms: the highest change_no (one indexed read); when it
 *     moved, the changes since the last one seen (cas_db_cards_changed_since),
 *     so a change is on air well within a second;
 *   - the generators rows the event loop hands over, once a second at most.
 *
 * Batches go to the event loop through a mutex-protected list and a pipe;
 * the event loop applies one batch per callback so pacing timers run in
 * between.  Card keys in batches are wiped once applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "db.h"
#include "emmgd.h"
#include "log.h"

#define POLL_MS 200
#define BATCH_CARDS 4096
/* Batches waiting for the event loop before the thread waits: a full load
 * of 1,000,000 cards then holds about 7 MB in flight, not all of it. */
#define MAX_QUEUED 32

enum batch_kind { B_BEGIN, B_CARDS, B_END };

struct batch {
	enum batch_kind kind;
	enum cas_carousel_how how;
	size_t n;
	int64_t t0_ms;			/* B_BEGIN/B_END: when the load started */
	int complete;			/* B_END: the load read every card */
	struct batch *next;
	struct cas_carousel_update u[];
};

struct emmgd_sync {
	struct emmgd *d;
	struct cas_db *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_cond_t space;		/* a batch was applied */
	int pipe_rd, pipe_wr;
	struct event *ev_pipe, *ev_apply;
	/* shared, under mu */
	int quit;
	int reload;
	int off_days;
	struct batch *out_head, *out_tail;	/* to the event loop */
	unsigned queued;			/* posted, not yet applied */
	struct emmgd_stats stats[EMMGD_MAX_MUX];
	unsigned nstats;
	/* thread only */
	int64_t last_change;
	struct batch *cur;
	size_t loaded;
	/* event loop only */
	struct batch *apply_head, *apply_tail;
	size_t apply_pos;
	size_t load_count;
};

static void batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	sodium_memzero(b->u, b->n * sizeof b->u[0]);
	free(b);
}

static struct batch *batch_new(enum batch_kind kind, enum cas_carousel_how how)
{
	size_t cap = kind == B_CARDS ? BATCH_CARDS : 0;
	struct batch *b = calloc(1, sizeof *b + cap * sizeof b->u[0]);
	if (b != NULL) {
		b->kind = kind;
		b->how = how;
	}
	return b;
}

/* Thread side: hands a batch to the event loop. */
static void post(struct emmgd_sync *s, struct batch *b)
{
	pthread_mutex_lock(&s->mu);
	while (s->queued >= MAX_QUEUED && !s->quit)
		pthread_cond_wait(&s->space, &s->mu);
	s->queued++;
	if (s->out_tail)
		s->out_tail->next = b;
	else
		s->out_head = b;
	s->out_tail = b;
	pthread_mutex_unlock(&s->mu);
	char c = 1;
	/* A full pipe already holds a wake-up. */
	if (write(s->pipe_wr, &c, 1) < 0 && errno != EAGAIN)
		cas_log(CAS_LOG_ERROR, "unable to wake the event loop: %s", strerror(errno));
}

static void flush_cur(struct emmgd_sync *s)
{
	if (s->cur != NULL && s->cur->n > 0) {
		post(s, s->cur);
		s->cur = NULL;
	}
}

static int add_card(struct emmgd_sync *s, enum cas_carousel_how how, const struct cas_card *c,
		    uint32_t serial, int deleted)
{
	if (s->cur != NULL && (s->cur->how != how || s->cur->n == BATCH_CARDS))
		flush_cur(s);
	if (s->cur == NULL) {
		s->cur = batch_new(B_CARDS, how);
		if (s->cur == NULL) {
			cas_log(CAS_LOG_ERROR, "out of memory reading cards");
			return -1;
		}
	}
	struct cas_carousel_update *u = &s->cur->u[s->cur->n++];
	memset(u, 0, sizeof *u);
	u->serial = serial;
	u->deleted = deleted;
	if (c != NULL) {
		memcpy(u->key, c->key, sizeof u->key);
		u->ac = c->access_criteria;
		u->start = c->start;
		u->finish = c->finish;
		u->blocked_until = c->blocked_until;
		u->edited = c->edited;
		u->status = c->status;
		u->pair = c->pair;
		u->type = c->type;
	}
	s->loaded++;
	return 0;
}

static int on_loaded(void *ctx, const struct cas_card *c)
{
	struct emmgd_sync *s = ctx;
	int quit;
	pthread_mutex_lock(&s->mu);
	quit = s->quit;
	pthread_mutex_unlock(&s->mu);
	if (quit)
		return 1;
	return add_card(s, CAS_CAROUSEL_LOADED, c, c->serial_no, 0) < 0 ? -1 : 0;
}

static int on_changed(void *ctx, const struct cas_card *c)
{
	struct emmgd_sync *s = ctx;
	if (c->change_no > s->last_change)
		s->last_change = c->change_no;
	return add_card(s, CAS_CAROUSEL_CHANGED, c, c->serial_no, 0) < 0 ? -1 : 0;
}

static int on_deleted(void *ctx, uint32_t serial, int64_t change_no)
{
	struct emmgd_sync *s = ctx;
	if (change_no > s->last_change)
		s->last_change = change_no;
	return add_card(s, CAS_CAROUSEL_CHANGED, NULL, serial, 1) < 0 ? -1 : 0;
}

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void full_load(struct emmgd_sync *s, int off_days)
{
	int64_t t0 = real_ms();
	int64_t max = 0;
	if (cas_db_change_max(s->db, &max) < 0) {
		cas_log(CAS_LOG_ERROR, "unable to read the change sequence: %s", cas_db_errmsg(s->db));
		return;
	}
	struct batch *b = batch_new(B_BEGIN, CAS_CAROUSEL_LOADED);
	if (b == NULL)
		return;
	b->t0_ms = t0;
	post(s, b);
	s->loaded = 0;
	int rc = cas_db_cards_on_air(s->db, t0 / 1000, off_days, on_loaded, s);
	flush_cur(s);
	if (rc < 0)
		cas_log(CAS_LOG_ERROR, "unable to load the cards on air: %s", cas_db_errmsg(s->db));
	b = batch_new(B_END, CAS_CAROUSEL_LOADED);
	if (b == NULL)
		return;
	b->t0_ms = t0;
	/* An interrupted load must not remove the cards it did not reach. */
	b->complete = rc == 0;
	post(s, b);
	/* Changes committed after `max` come with the next poll (some twice,
	 * which is harmless). */
	s->last_change = max;
}

static void poll_changes(struct emmgd_sync *s, int off_days)
{
	int64_t max = 0;
	if (cas_db_change_max(s->db, &max) < 0) {
		cas_log(CAS_LOG_ERROR, "unable to read the change sequence: %s", cas_db_errmsg(s->db));
		return;
	}
	if (max == s->last_change)
		return;
	if (max < s->last_change) {
		/* The sequence went back: another database file (a restored
		 * backup).  Start again from what it holds. */
		cas_log(CAS_LOG_WARN, "change sequence went back from %lld to %lld: reloading the cards",
			(long long)s->last_change, (long long)max);
		full_load(s, off_days);
		return;
	}
	int64_t before = s->last_change;
	if (cas_db_cards_changed_since(s->db, before, on_changed, on_deleted, s) < 0)
		cas_log(CAS_LOG_ERROR, "unable to read changed cards: %s", cas_db_errmsg(s->db));
	flush_cur(s);
	if (s->last_change < max && s->last_change == before)
		s->last_change = max;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void write_stats(struct emmgd_sync *s, const struct emmgd_stats *st, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct cas_generator g;
		memset(&g, 0, sizeof g);
		g.kind = CAS_GEN_EMMG;
		copy_str(g.name, sizeof g.name, st[i].name);
		copy_str(g.peer, sizeof g.peer, st[i].peer);
		copy_str(g.state, sizeof g.state, st[i].state);
		copy_str(g.settings, sizeof g.settings, st[i].settings);
		g.pid = st[i].pid;
		g.started = st[i].started;
		g.last_seen = st[i].last_seen;
		g.channels = st[i].channels;
		g.streams = st[i].streams;
		g.emms = st[i].emms;
		g.bytes = st[i].bytes;
		g.errors = st[i].errors;
		g.queue_len = st[i].queue_len;
		g.cycle_ms = st[i].cycle_ms;
		g.bandwidth = st[i].bandwidth;
		if (cas_db_gen_upsert(s->db, &g) < 0)
			cas_log(CAS_LOG_WARN, "unable to write the generators row of %s: %s",
				g.name, cas_db_errmsg(s->db));
	}
}

static void *thread_main(void *arg)
{
	struct emmgd_sync *s = arg;
	struct emmgd_stats st[EMMGD_MAX_MUX];
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->nstats > 0) {
			unsigned n = s->nstats;
			memcpy(st, s->stats, n * sizeof st[0]);
			s->nstats = 0;
			pthread_mutex_unlock(&s->mu);
			write_stats(s, st, n);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (s->quit)
			break;
		int off_days = s->off_days;
		if (s->reload) {
			s->reload = 0;
			pthread_mutex_unlock(&s->mu);
			full_load(s, off_days);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		poll_changes(s, off_days);
		pthread_mutex_lock(&s->mu);
		if (s->quit || s->reload || s->nstats > 0)
			continue;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += POLL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cond, &s->mu, &until);
	}
	pthread_mutex_unlock(&s->mu);
	batch_free(s->cur);
	s->cur = NULL;
	return NULL;
}

/* ---- event loop side ---- */

/* Applies at most one batch, then yields to the loop (pacing timers) and
 * comes back through ev_apply. */
static void apply_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct emmgd_sync *s = arg;
	struct emmgd *d = s->d;
	if (s->apply_head == NULL) {
		pthread_mutex_lock(&s->mu);
		s->apply_head = s->out_head;
		s->apply_tail = s->out_tail;
		s->out_head = s->out_tail = NULL;
		pthread_mutex_unlock(&s->mu);
	}
	struct batch *b = s->apply_head;
	if (b == NULL)
		return;
	s->apply_head = b->next;
	if (s->apply_head == NULL)
		s->apply_tail = NULL;
	int64_t now = emmgd_real_ms();
	int changed = 0;
	switch (b->kind) {
	case B_BEGIN:
		cas_carousel_mark_begin(d->car);
		s->load_count = 0;
		break;
	case B_CARDS:
		for (size_t i = 0; i < b->n; i++)
			if (cas_carousel_apply(d->car, &b->u[i], b->how, now) < 0)
				cas_log(CAS_LOG_ERROR, "out of memory: card %u not on air", b->u[i].serial);
		if (b->how == CAS_CAROUSEL_CHANGED) {
			changed = 1;
			cas_log(CAS_LOG_DEBUG, "%zu changed cards queued", b->n);
		} else {
			s->load_count += b->n;
		}
		break;
	case B_END:
		if (b->complete)
			cas_carousel_mark_end(d->car);
		cas_log(CAS_LOG_INFO, "%zu cards on air (%zu loaded in %.1f s)",
			cas_carousel_count(d->car), s->load_count, (double)(now - b->t0_ms) / 1000.0);
		break;
	}
	batch_free(b);
	if (changed)
		for (unsigned i = 0; i < d->set.n_mux; i++)
			if (d->mux[i] != NULL)
				emmgd_mux_kick(d->mux[i]);
	pthread_mutex_lock(&s->mu);
	if (s->queued > 0)
		s->queued--;
	pthread_cond_signal(&s->space);
	int more = s->apply_head != NULL || s->out_head != NULL;
	pthread_mutex_unlock(&s->mu);
	if (more)
		event_active(s->ev_apply, EV_TIMEOUT, 0);
}

static void pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct emmgd_sync *s = arg;
	char buf[256];
	while (read(fd, buf, sizeof buf) > 0)
		;
	apply_cb(-1, 0, s);
}

struct emmgd_sync *emmgd_sync_start(struct emmgd *d, struct cas_db *db)
{
	struct emmgd_sync *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->d = d;
	s->db = db;
	s->pipe_rd = s->pipe_wr = -1;
	int fds[2];
	if (pipe(fds) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to create a pipe: %s", strerror(errno));
		free(s);
		return NULL;
	}
	s->pipe_rd = fds[0];
	s->pipe_wr = fds[1];
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->space, NULL);
	s->ev_pipe = event_new(d->base, s->pipe_rd, EV_READ | EV_PERSIST, pipe_cb, s);
	s->ev_apply = event_new(d->base, -1, 0, apply_cb, s);
	if (s->ev_pipe == NULL || s->ev_apply == NULL || event_add(s->ev_pipe, NULL) < 0)
		goto fail;
	/* emmgd reads the cards once, in one pass, then only what changes: a
	 * small page cache does (the library's default is 64 MB per connection,
	 * which would add that much to emmgd's memory with a large card base). */
	if (sqlite3_exec(cas_db_sqlite(db), "PRAGMA cache_size = -8192", NULL, NULL, NULL) != SQLITE_OK)
		cas_log(CAS_LOG_WARN, "unable to set the database page cache: %s",
			sqlite3_errmsg(cas_db_sqlite(db)));
	s->off_days = d->set.car.off_days;
	s->reload = 1;
	if (pthread_create(&s->thread, NULL, thread_main, s) != 0) {
		cas_log(CAS_LOG_FATAL, "unable to start the database thread");
		goto fail;
	}
	return s;
fail:
	if (s->ev_pipe)
		event_free(s->ev_pipe);
	if (s->ev_apply)
		event_free(s->ev_apply);
	close(s->pipe_rd);
	close(s->pipe_wr);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->space);
	free(s);
	return NULL;
}

void emmgd_sync_reload(struct emmgd_sync *s, int off_days)
{
	pthread_mutex_lock(&s->mu);
	s->reload = 1;
	s->off_days = off_days;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void emmgd_sync_stats(struct emmgd_sync *s, const struct emmgd_stats *st, unsigned n)
{
	if (n > EMMGD_MAX_MUX)
		n = EMMGD_MAX_MUX;
	pthread_mutex_lock(&s->mu);
	memcpy(s->stats, st, n * sizeof st[0]);
	s->nstats = n;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void emmgd_sync_stop(struct emmgd_sync *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->quit = 1;
	pthread_cond_signal(&s->cond);
	pthread_cond_broadcast(&s->space);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	for (struct batch *b = s->out_head, *n; b != NULL; b = n) {
		n = b->next;
		batch_free(b);
	}
	for (struct batch *b = s->apply_head, *n; b != NULL; b = n) {
		n = b->next;
		batch_free(b);
	}
	event_free(s->ev_pipe);
	event_free(s->ev_apply);
	close(s->pipe_rd);
	close(s->pipe_wr);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->space);
	cas_db_close(s->db);
	free(s);
}
