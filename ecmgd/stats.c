/* ecmgd: the generators rows, written by a thread of their own (stats.h). */
#include "stats.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

struct closed_row {
	char name[128];
	int64_t at;
};

struct ecmgd_stats {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* a batch is there, or stop */
	pthread_cond_t idle;		/* the writer finished a batch */
	struct cas_db *db;
	struct ecmgd_row *batch;
	size_t n;
	int has_batch, busy, stop;
	/* writer thread only */
	int64_t keep_closed;
	struct closed_row *closed;
	size_t nclosed, capclosed;
	int failing;			/* the last batch failed (logged once) */
	int64_t pid;
};

static void to_generator(const struct ecmgd_stats *s, const struct ecmgd_row *r,
			 struct cas_generator *g)
{
	memset(g, 0, sizeof *g);
	g->kind = CAS_GEN_ECMG;
	snprintf(g->name, sizeof g->name, "%s", r->name);
	snprintf(g->peer, sizeof g->peer, "%s", r->peer);
	snprintf(g->state, sizeof g->state, "%s", r->state);
	snprintf(g->settings, sizeof g->settings, "%s", r->settings);
	g->pid = s->pid;
	g->started = r->started;
	g->last_seen = r->last_seen;
	g->channels = r->channels;
	g->streams = r->streams;
	g->cw_provisions = r->cw_provisions;
	g->ecms = r->ecms;
	g->errors = r->errors;
}

static void remember_closed(struct ecmgd_stats *s, const char *name, int64_t now)
{
	if (s->nclosed == s->capclosed) {
		size_t cap = s->capclosed == 0 ? 64 : s->capclosed * 2;
		struct closed_row *n = realloc(s->closed, cap * sizeof *n);
		if (n == NULL)
			return;		/* the row just stays longer */
		s->closed = n;
		s->capclosed = cap;
	}
	snprintf(s->closed[s->nclosed].name, sizeof s->closed[0].name, "%s", name);
	s->closed[s->nclosed].at = now;
	s->nclosed++;
}

static int write_batch(struct ecmgd_stats *s, const struct ecmgd_row *rows, size_t n)
{
	int64_t now = time(NULL);
	struct cas_generator g;
	if (cas_db_begin(s->db) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		to_generator(s, &rows[i], &g);
		int r = rows[i].full ? cas_db_gen_upsert(s->db, &g) : cas_db_gen_update_counters(s->db, &g);
		if (r == CAS_DB_NOTFOUND)
			r = cas_db_gen_upsert(s->db, &g);
		if (r != 0)
			goto fail;
		if (strcmp(rows[i].state, "closed") == 0)
			remember_closed(s, rows[i].name, now);
	}
	/* Rows of connections closed long ago go away (oldest first). */
	size_t k = 0;
	while (k < s->nclosed && now - s->closed[k].at >= s->keep_closed) {
		if (cas_db_gen_delete(s->db, CAS_GEN_ECMG, s->closed[k].name) < 0)
			goto fail;
		k++;
	}
	if (cas_db_commit(s->db) < 0)
		goto fail;
	if (k > 0) {
		memmove(s->closed, s->closed + k, (s->nclosed - k) * sizeof s->closed[0]);
		s->nclosed -= k;
	}
	return 0;
fail:
	cas_db_rollback(s->db);
	return -1;
}

static void *writer(void *arg)
{
	struct ecmgd_stats *s = arg;
	/* Counters can wait; ECMs cannot: on a busy machine the scheduler
	 * should prefer the event loop (Linux: nice applies per thread). */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) < 0)
		cas_log(CAS_LOG_DEBUG, "unable to lower the database writer's priority");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->has_batch && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->has_batch)
			break;
		struct ecmgd_row *rows = s->batch;
		size_t n = s->n;
		s->batch = NULL;
		s->has_batch = 0;
		s->busy = 1;
		pthread_mutex_unlock(&s->mu);

		if (write_batch(s, rows, n) < 0) {
			/* One line when it starts failing, one when it
			 * recovers: not one a second. */
			if (!s->failing)
				cas_log(CAS_LOG_ERROR, "unable to write the generators table: %s",
					cas_db_errmsg(s->db));
			s->failing = 1;
		} else if (s->failing) {
			cas_log(CAS_LOG_INFO, "generators table written again");
			s->failing = 0;
		}
		free(rows);

		pthread_mutex_lock(&s->mu);
		s->busy = 0;
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct old_rows {
	const char *self;
	size_t selflen;
	char (*names)[128];
	size_t n, cap;
};

static int collect_old(void *ctx, const struct cas_generator *g)
{
	struct old_rows *o = ctx;
	if (g->kind != CAS_GEN_ECMG || strncmp(g->name, o->self, o->selflen) != 0 ||
	    (g->name[o->selflen] != '\0' && g->name[o->selflen] != '/'))
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap == 0 ? 16 : o->cap * 2;
		char (*n)[128] = realloc(o->names, cap * sizeof *n);
		if (n == NULL)
			return -1;
		o->names = n;
		o->cap = cap;
	}
	snprintf(o->names[o->n++], sizeof o->names[0], "%s", g->name);
	return 0;
}

int ecmgd_stats_start(struct ecmgd_stats **out, const struct cas_conf *conf, const char *self,
		      int64_t keep_closed)
{
	*out = NULL;
	struct ecmgd_stats *s = calloc(1, sizeof *s);
	if (s == NULL) {
		cas_log(CAS_LOG_FATAL, "out of memory");
		return -1;
	}
	if (cas_db_start(conf, &s->db) < 0)
		goto fail;
	s->keep_closed = keep_closed;
	s->pid = getpid();

	/* One transaction: one fsync, not one per row. */
	struct old_rows o = { self, strlen(self), NULL, 0, 0 };
	int r = cas_db_begin(s->db);
	if (r == 0)
		r = cas_db_gen_each(s->db, collect_old, &o);
	for (size_t i = 0; r == 0 && i < o.n; i++)
		r = cas_db_gen_delete(s->db, CAS_GEN_ECMG, o.names[i]);
	if (r == 0)
		r = cas_db_commit(s->db);
	else
		cas_db_rollback(s->db);
	free(o.names);
	if (r != 0) {
		cas_log(CAS_LOG_FATAL, "unable to clean the generators table: %s", cas_db_errmsg(s->db));
		goto fail;
	}

	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->idle, NULL);
	if (pthread_create(&s->thread, NULL, writer, s) != 0) {
		cas_log(CAS_LOG_FATAL, "unable to start the database writer thread");
		pthread_cond_destroy(&s->idle);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	cas_db_close(s->db);
	free(s);
	return -1;
}

int ecmgd_stats_submit(struct ecmgd_stats *s, struct ecmgd_row *rows, size_t n)
{
	pthread_mutex_lock(&s->mu);
	int ok = !s->has_batch && !s->busy && !s->stop;
	if (ok) {
		s->batch = rows;
		s->n = n;
		s->has_batch = 1;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return ok ? 0 : -1;
}

void ecmgd_stats_stop(struct ecmgd_stats *s, struct ecmgd_row *rows, size_t n)
{
	if (s == NULL) {
		free(rows);
		return;
	}
	pthread_mutex_lock(&s->mu);
	while (s->has_batch || s->busy)
		pthread_cond_wait(&s->idle, &s->mu);
	if (rows != NULL) {
		s->batch = rows;
		s->n = n;
		s->has_batch = 1;
	}
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->closed);
	cas_db_close(s->db);
	free(s);
}
