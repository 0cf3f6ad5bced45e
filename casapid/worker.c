/* casapid's database threads (see casapid.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "casapid.h"
#include "json.h"
#include "log.h"

struct job *job_new(enum job_kind kind, struct conn *c)
{
	struct job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->conn = c;
	if (c != NULL)
		snprintf(j->addr, sizeof j->addr, "%s", c->addr);
	j->now = (int64_t)time(NULL);
	j->status = 500;
	j->result = "INTERNAL_ERROR";
	j->ctype = "text/plain; charset=utf-8";
	return j;
}

void job_free(struct job *j)
{
	if (j == NULL)
		return;
	cas_card_wipe(&j->card);
	free(j->text);
	if (j->out != NULL) {
		sodium_memzero(j->out, j->out_cap);	/* an admin export holds card keys */
		free(j->out);
	}
	free(j);
}

static int out_append(struct job *j, const char *data, size_t len)
{
	if (j->out_len + len > j->out_cap) {
		size_t cap = j->out_cap ? j->out_cap : 65536;
		while (cap < j->out_len + len)
			cap *= 2;
		char *n = malloc(cap);
		if (n == NULL)
			return -1;
		/* not realloc: the old block is wiped before it is freed */
		if (j->out_len)
			memcpy(n, j->out, j->out_len);
		if (j->out != NULL) {
			sodium_memzero(j->out, j->out_cap);
			free(j->out);
		}
		j->out = n;
		j->out_cap = cap;
	}
	memcpy(j->out + j->out_len, data, len);
	j->out_len += len;
	return 0;
}

void job_body(struct job *j, int status, const char *result, const char *ctype,
	      const char *text, size_t len)
{
	j->status = status;
	j->result = result;
	j->ctype = ctype;
	j->out_len = 0;
	if (out_append(j, text, len) < 0) {
		j->status = 500;
		j->result = "INTERNAL_ERROR";
	}
}

static void job_text(struct job *j, int status, const char *code)
{
	char b[64];
	int n = snprintf(b, sizeof b, "%s", code);
	job_body(j, status, code, "text/plain; charset=utf-8", b, (size_t)n);
}

/* ---- the jobs ---- */

static void do_set(struct worker *w, struct job *j)
{
	struct cas_card cur, upd;
	int changed = 0;
	const struct cas_db_actor who = { "api", j->addr };
	int rc = cas_db_card_get_info(w->db, j->card.serial_no, &cur);
	if (rc == CAS_DB_NOTFOUND) {
		job_text(j, 400, "SMARDCARD_NOT_FOUND");
		return;
	}
	if (rc != 0) {
		cas_log(CAS_LOG_ERROR, "card %lu: %s", (unsigned long)j->card.serial_no,
			cas_db_errmsg(w->db));
		job_text(j, 500, "INTERNAL_ERROR");
		return;
	}
	upd = cur;
	unsigned f = j->fields;
	if (f & CAS_CARD_F_NAME)
		memcpy(upd.name, j->card.name, sizeof upd.name);
	if (f & CAS_CARD_F_INFO)
		memcpy(upd.info, j->card.info, sizeof upd.info);
	if (f & CAS_CARD_F_AC)
		upd.access_criteria = j->card.access_criteria;
	if (f & CAS_CARD_F_PAIR)
		upd.pair = j->card.pair;
	if (f & CAS_CARD_F_START)
		upd.start = j->card.start;
	if (f & CAS_CARD_F_FINISH)
		upd.finish = j->card.finish;
	/* Renewal: a card cascron expired (finish < now) is active again once
	 * billing gives it a finish that has not passed. */
	if ((f & CAS_CARD_F_FINISH) && cur.status == CAS_CARD_EXPIRED && upd.finish >= j->now) {
		upd.status = CAS_CARD_ACTIVE;
		f |= CAS_CARD_F_STATUS;
	}
	rc = cas_db_card_update(w->db, &upd, f, &who, &changed);
	if (rc == CAS_DB_NOTFOUND) {
		job_text(j, 400, "SMARDCARD_NOT_FOUND");
	} else if (rc != 0) {
		cas_log(CAS_LOG_ERROR, "card %lu: %s", (unsigned long)j->card.serial_no,
			cas_db_errmsg(w->db));
		job_text(j, 500, "INTERNAL_ERROR");
	} else {
		char json[CAS_JSON_CARD_MAX];
		struct cas_wbuf b;
		cas_wbuf_init(&b, json, sizeof json);
		cas_json_card(&b, &upd);
		job_body(j, 200, "ok", "application/json", json, b.len);
		snprintf(j->detail, sizeof j->detail, " changed=%d", changed);
	}
	cas_card_wipe(&cur);
	cas_card_wipe(&upd);
}

static void do_audit(struct worker *w, struct job *j)
{
	struct cas_audit a;
	memset(&a, 0, sizeof a);
	a.who = "api";
	a.addr = j->addr;
	a.message = j->message;
	if (cas_db_audit_add(w->db, &a) < 0)
		cas_log(CAS_LOG_ERROR, "unable to write the audit log: %s", cas_db_errmsg(w->db));
	j->status = 0;
}

static int is_write(const struct job *j)
{
	return j->kind == JOB_SET || j->kind == JOB_AUDIT;
}

/* set[...] requests and audit rows that queued up together are one
 * transaction: one commit (one fsync) for the lot, from `first` up to (not
 * including) `end`. */
static void do_write_batch(struct worker *w, struct job *first, struct job *end)
{
	size_t n = 0;
	int tx = cas_db_begin(w->db) == 0;
	if (!tx)
		cas_log(CAS_LOG_ERROR, "unable to begin a transaction: %s", cas_db_errmsg(w->db));
	for (struct job *j = first; j != end; j = j->next, n++) {
		if (!tx)
			job_text(j, 500, "INTERNAL_ERROR");
		else if (j->kind == JOB_SET)
			do_set(w, j);
		else
			do_audit(w, j);
	}
	if (cas_log_enabled(CAS_LOG_DEBUG))
		cas_log(CAS_LOG_DEBUG, "writer: %zu job(s) in one transaction", n);
	if (tx && cas_db_commit(w->db) < 0) {
		cas_log(CAS_LOG_ERROR, "unable to commit %zu change(s): %s", n, cas_db_errmsg(w->db));
		for (struct job *j = first; j != end; j = j->next)
			if (j->kind == JOB_SET)
				job_text(j, 500, "INTERNAL_ERROR");
	}
}

static void do_import(struct worker *w, struct job *j)
{
	struct cas_csv_report *r = malloc(sizeof *r);
	const struct cas_db_actor who = { "csv", j->addr };
	struct cas_csv_opts o = { j->layout, j->serial_min, j->serial_max, j->now };
	char msg[200];
	if (r == NULL) {
		job_text(j, 500, "INTERNAL_ERROR");
		return;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = cas_csv_import(w->db, j->text, j->len, &o, &who, r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	free(j->text);
	j->text = NULL;
	if (rc == 0) {
		int n = snprintf(msg, sizeof msg, "OK %zu rows: %zu added, %zu updated, %zu unchanged\n",
				 r->rows, r->added, r->updated, r->unchanged);
		job_body(j, 200, "ok", "text/plain; charset=utf-8", msg, (size_t)n);
		snprintf(j->detail, sizeof j->detail, " layout=%s rows=%zu added=%zu updated=%zu "
			 "unchanged=%zu %.3fs", cas_csv_layout_name(r->layout), r->rows, r->added,
			 r->updated, r->unchanged, secs);
	} else if (rc == CAS_CSV_REJECTED) {
		char *text = malloc(16384);
		if (text == NULL) {
			job_text(j, 500, "INTERNAL_ERROR");
		} else {
			size_t n = (size_t)snprintf(text, 16384, "CSV_ERROR\n");
			n += cas_csv_report_format(r, text + n, 16384 - n - 1);
			text[n++] = '\n';
			job_body(j, 400, "CSV_ERROR", "text/plain; charset=utf-8", text, n);
			free(text);
		}
		/* the first error, for the access log */
		size_t first = 0;
		for (size_t i = 1; i < r->kept; i++)
			if (r->err[i].line < r->err[first].line)
				first = i;
		snprintf(j->detail, sizeof j->detail, " errors=%zu first=\"%.100s\"", r->nerrors,
			 r->kept ? r->err[first].text : "");
	} else {
		cas_log(CAS_LOG_ERROR, "CSV import from %s failed: %s", j->addr, r->fail);
		job_text(j, 500, "INTERNAL_ERROR");
	}
	free(r);
}

static int export_write(void *ctx, const char *data, size_t len)
{
	return out_append(ctx, data, len);
}

static void do_export(struct worker *w, struct job *j)
{
	char err[300];
	size_t rows = 0;
	if (cas_csv_export(w->db, j->layout, export_write, j, &rows, err, sizeof err) < 0) {
		cas_log(CAS_LOG_ERROR, "CSV export: %s", err);
		/* a card the CSV cannot hold is the operator's to fix: say which */
		if (strncmp(err, "card ", 5) == 0) {
			char b[400];
			int n = snprintf(b, sizeof b, "CSV_ERROR\n%s\n", err);
			job_body(j, 500, "CSV_ERROR", "text/plain; charset=utf-8", b, (size_t)n);
		} else {
			job_text(j, 500, "INTERNAL_ERROR");
		}
		return;
	}
	j->status = 200;
	j->result = "ok";
	j->ctype = "text/csv; charset=utf-8";
	snprintf(j->detail, sizeof j->detail, " layout=%s rows=%zu", cas_csv_layout_name(j->layout), rows);
}

static void do_count(struct worker *w, struct job *j)
{
	sqlite3 *s = cas_db_sqlite(w->db);
	sqlite3_stmt *st = NULL;
	j->counts[0] = j->counts[1] = j->counts[2] = 0;
	j->status = 200;
	if (sqlite3_prepare_v2(s, "SELECT status, count(*) FROM card_state GROUP BY status", -1, &st,
			       NULL) != SQLITE_OK) {
		cas_log(CAS_LOG_ERROR, "unable to count cards: %s", sqlite3_errmsg(s));
		j->status = 500;
		return;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int status = sqlite3_column_int(st, 0);
		if (status >= 0 && status <= 2)
			j->counts[status] = sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE) {
		cas_log(CAS_LOG_ERROR, "unable to count cards: %s", sqlite3_errmsg(s));
		j->status = 500;
	}
	sqlite3_finalize(st);
}

/* WAL checkpoints.  Under a steady stream of changes SQLite's automatic
 * checkpoint (run by the committing writer every 1000 pages) stalls the
 * set[...] requests queued behind it while it copies pages back and syncs
 * the database file.  So the writer does not checkpoint in its commits:
 * the reader thread copies the WAL back (a passive checkpoint, beside the
 * writer) every 250 ms, and once a second the writer, between two
 * transactions, checkpoints the little that is left, so that its next
 * transaction can start the WAL file over instead of growing it. */
static void checkpoint(struct worker *w)
{
	int nlog = 0, nckpt = 0;
	int rc = sqlite3_wal_checkpoint_v2(cas_db_sqlite(w->db), NULL, SQLITE_CHECKPOINT_PASSIVE,
					   &nlog, &nckpt);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		cas_log(CAS_LOG_WARN, "WAL checkpoint: %s", sqlite3_errmsg(cas_db_sqlite(w->db)));
	else if (nlog > 0 && cas_log_enabled(CAS_LOG_DEBUG))
		cas_log(CAS_LOG_DEBUG, "%s: WAL checkpoint, %d of %d frames", w->name, nckpt, nlog);
}

static void do_checkpoint(struct worker *w, struct job *j)
{
	checkpoint(w);
	j->status = 0;
}

/* ---- the threads ---- */

/* Hands the jobs first..end (exclusive) back to the event loop: one lock,
 * one wake-up for the lot. */
static void post_done(struct app *a, struct job *first, struct job *end)
{
	if (first == end)
		return;
	struct job *last = first;
	while (last->next != end)
		last = last->next;
	last->next = NULL;
	pthread_mutex_lock(&a->done_mu);
	if (a->done_tail)
		a->done_tail->next = first;
	else
		a->done_head = first;
	a->done_tail = last;
	pthread_mutex_unlock(&a->done_mu);
	event_active(a->ev_done, EV_READ, 0);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
#ifdef __linux__
	/* "casapid-writer" in ps, top and perf */
	char name[16];
	snprintf(name, sizeof name, "casapid-%s", w->name);
	prctl(PR_SET_NAME, name, 0, 0, 0);
#endif
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		struct job *j = w->head;
		w->head = w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		if (j == NULL)
			break;	/* stop, and nothing left */
		while (j != NULL) {
			struct job *end = j->next;
			if (is_write(j)) {
				/* a run of set/audit jobs shares one transaction */
				while (end != NULL && is_write(end))
					end = end->next;
				do_write_batch(w, j, end);
			} else if (j->kind == JOB_IMPORT) {
				do_import(w, j);
			} else if (j->kind == JOB_EXPORT) {
				do_export(w, j);
			} else if (j->kind == JOB_CHECKPOINT) {
				do_checkpoint(w, j);
			} else {
				do_count(w, j);
			}
			post_done(w->app, j, end);
			j = end;
			if (w->writer) {
				int64_t now = mono_ms();
				if (now - w->last_ckpt_ms >= 1000) {
					checkpoint(w);
					w->last_ckpt_ms = now;
				}
			}
		}
	}
	return NULL;
}

int worker_start(struct app *a, struct worker *w, const char *name, int writer)
{
	struct cas_mkey mk;
	w->app = a;
	w->name = name;
	w->writer = writer;
	if (cas_mkey_load(&mk, cas_conf_str(&a->conf, "master_key"), 0) < 0) {
		cas_log(CAS_LOG_FATAL, "%s", mk.err);
		return -1;
	}
	struct cas_db_options opt = { (int)cas_conf_int(&a->conf, "db.busy_timeout"), 0 };
	int rc = cas_db_open(&w->db, cas_conf_str(&a->conf, "db"), &mk, &opt);
	cas_mkey_clear(&mk);
	if (rc < 0) {
		cas_log(CAS_LOG_FATAL, "%s", cas_db_errmsg(w->db));
		cas_db_close(w->db);
		w->db = NULL;
		return -1;
	}
	/* Tuning of this connection (no data access): every card update runs
	 * in a savepoint, whose journal should not be a temporary file; a
	 * bigger page cache and memory-mapped reads for a database of a
	 * million cards. */
	sqlite3_exec(cas_db_sqlite(w->db), "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; "
		     "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
	if (writer)
		sqlite3_exec(cas_db_sqlite(w->db), "PRAGMA wal_autocheckpoint = 0; "
			     "PRAGMA journal_size_limit = 67108864", NULL, NULL, NULL);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		cas_log(CAS_LOG_FATAL, "unable to start the %s thread", name);
		return -1;
	}
	w->started = 1;
	return 0;
}

void worker_submit(struct worker *w, struct job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Finishes the queued jobs, then ends the thread and closes its database. */
void worker_stop(struct worker *w)
{
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		w->started = 0;
	}
	cas_db_close(w->db);
	w->db = NULL;
}

/* Event loop thread: hands finished jobs to their connections. */
void app_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct app *a = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&a->done_mu);
	struct job *list = a->done_head;
	a->done_head = a->done_tail = NULL;
	pthread_mutex_unlock(&a->done_mu);
	while (list != NULL) {
		struct job *j = list;
		list = j->next;
		j->next = NULL;
		if (j->kind == JOB_CHECKPOINT)
			a->ckpt_pending = 0;
		if (j->kind == JOB_COUNT && j->status == 200) {
			memcpy(a->m.cards, j->counts, sizeof a->m.cards);
			a->m.cards_at = time(NULL);
		}
		if (j->conn != NULL)
			api_job_done(j->conn, j);	/* takes the job */
		else
			job_free(j);
	}
}
