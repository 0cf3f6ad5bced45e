/* casapid's endpoints (see casapid.h and casapid.8).
 *
 * GET /api.php (or /api), TVCAS 3 compatible (tvcas3.md §7), with the
 * answers decided in this order, the first that applies wins:
 *   1. api_key missing or wrong       400 NOT_VALID_API_KEY (held back)
 *   2. serial_no missing, not a number, or no such card
 *                                      400 SMARDCARD_NOT_FOUND
 *   3. the set[...] parameters in the order they first appear in the query
 *      (a repeated one keeps its first place and its last value, as PHP's
 *      $_GET does); the first bad one answers:
 *        set[x] for anything but the six fields  UNKNOWN_SET_PARAMETER
 *        name / info                              NAME_ERROR / INFO_ERROR
 *        access_criteria                          ACCESS_CRITERIA_ERROR
 *        pair                                     PAIR_ERROR
 *        start / finish                           START_ERROR / FINISH_ERROR
 *   4. otherwise 200 and the card as JSON, after applying the set[...]
 *      values in one transaction when there are any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "casapid.h"
#include "field.h"
#include "json.h"
#include "log.h"

#define TEXT "text/plain; charset=utf-8"

/* ---- metrics and the access log ---- */

static const char *const result_names[] = {
	"ok", "NOT_VALID_API_KEY", "SMARDCARD_NOT_FOUND", "UNKNOWN_SET_PARAMETER",
	"ACCESS_CRITERIA_ERROR", "PAIR_ERROR", "START_ERROR", "FINISH_ERROR", "NAME_ERROR",
	"INFO_ERROR", "CSV_ERROR", "LAYOUT_ERROR", "ADMIN_CSV_DISABLED", "UNSUPPORTED_MEDIA_TYPE",
	"BAD_REQUEST", "NOT_FOUND", "METHOD_NOT_ALLOWED", "REQUEST_TIMEOUT", "BODY_TOO_LARGE",
	"URI_TOO_LONG", "HEADERS_TOO_LARGE", "HTTP_VERSION_NOT_SUPPORTED", "NOT_IMPLEMENTED",
	"EXPECTATION_FAILED", "INTERNAL_ERROR", "DATABASE_ERROR", "OTHER",
};
#define N_RESULT_NAMES (sizeof result_names / sizeof result_names[0])

static const double lat_le[LAT_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

static const char *const ep_names[EP_COUNT] = {
	"api", "csv_export", "csv_import", "healthz", "metrics", "other",
};

/* Printable ASCII only, at most max bytes: a path in a log line. */
static void log_safe(const char *s, size_t n, char *out, size_t size, size_t max)
{
	size_t o = 0;
	if (s == NULL || n == 0) {
		snprintf(out, size, "-");
		return;
	}
	for (size_t i = 0; i < n && o + 4 < size; i++) {
		if (i == max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		unsigned char ch = (unsigned char)s[i];
		out[o++] = ch > 0x20 && ch < 0x7F ? (char)ch : '?';
	}
	out[o] = '\0';
}

void api_note_response(struct conn *c, int status, const char *result, size_t bytes,
		       double seconds)
{
	struct app *a = c->app;
	struct metrics *m = &a->m;
	if (status >= 100 && status < 600)
		m->requests[c->ep][status]++;
	if (strcmp(result, "ok") != 0) {
		size_t i;
		for (i = 1; i < N_RESULT_NAMES - 1; i++)
			if (strcmp(result, result_names[i]) == 0)
				break;
		m->results[i]++;
	}
	size_t b = 0;
	while (b < LAT_BUCKETS && seconds > lat_le[b])
		b++;
	m->lat_bucket[b]++;
	m->lat_sum += seconds;
	m->lat_count++;
	if (!a->set.access_log || !cas_log_enabled(CAS_LOG_INFO))
		return;
	/* One line per request; never the query string (it holds api_key). */
	char method[24], path[80];
	const char *p = NULL, *q;
	size_t pl = 0, ql;
	if (c->h.target != NULL)
		cas_http_target_split(&c->h, &p, &pl, &q, &ql);
	log_safe(c->h.method, c->h.method_len, method, sizeof method, 16);
	log_safe(p, pl, path, sizeof path, 64);
	cas_log(CAS_LOG_INFO, "%s %s %s %d %s %zuB %.3fms%s", c->addr, method, path, status, result,
		bytes, seconds * 1000, c->logx);
}

/* ---- small answers ---- */

static void answer(struct conn *c, int status, const char *code)
{
	conn_respond(c, status, code, TEXT, code, strlen(code), NULL);
}

/* ---- wrong keys ---- */

static int key_ok(struct conn *c, const char *key, size_t len)
{
	uint8_t h[32];
	if (key == NULL)
		return 0;
	/* Constant time whatever the length: compare keyed hashes. */
	app_key_hash(c->app, key, len, h);
	int ok = sodium_memcmp(h, c->app->set.key_hash, sizeof h) == 0;
	sodium_memzero(h, sizeof h);
	return ok;
}

static uint32_t addr_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int badkey_slot(struct app *a, const char *addr, int64_t now)
{
	uint32_t h = addr_hash(addr);
	int free_slot = -1;
	for (int k = 0; k < 16; k++) {
		int i = (int)((h + (uint32_t)k) % BADKEY_SLOTS);
		struct badkey *b = &a->bad[i];
		if (strcmp(b->addr, addr) == 0)
			return i;
		if (free_slot < 0 && (b->addr[0] == '\0' ||
				      (b->waiting == 0 && b->next_ms < now && b->audit_ms < now - 60000)))
			free_slot = i;
	}
	if (free_slot >= 0) {
		struct badkey *b = &a->bad[free_slot];
		memset(b, 0, sizeof *b);
		snprintf(b->addr, sizeof b->addr, "%s", addr);
		b->audit_ms = INT64_MIN / 2;
	}
	return free_slot;
}

/* A wrong key: the answer is held back api.bad_key_delay_ms, and the
 * answers to one address come one per delay, so parallel guessing from
 * one address is no faster than serial guessing (TVCAS 3 slept 3 s per
 * request, which parallel requests defeat: tvcas3.md §8).  Other clients
 * are not held.  An address with BADKEY_MAX_WAITING answers already held
 * gets its further connections closed without an answer. */
static void bad_key(struct conn *c)
{
	struct app *a = c->app;
	long delay = a->set.bad_key_delay_ms;
	int64_t now = mono_ms();
	a->m.bad_keys++;
	int slot = badkey_slot(a, c->addr, now);
	if (slot >= 0 && now - a->bad[slot].audit_ms >= 60000) {
		/* at most one audit row per address and minute */
		struct job *j = job_new(JOB_AUDIT, NULL);
		if (j != NULL) {
			snprintf(j->addr, sizeof j->addr, "%s", c->addr);
			snprintf(j->message, sizeof j->message, "API key refused");
			worker_submit(&a->writer, j);
		}
		a->bad[slot].audit_ms = now;
	}
	if (delay <= 0) {
		answer(c, 400, "NOT_VALID_API_KEY");
		return;
	}
	int64_t at = now + delay;
	if (slot >= 0) {
		struct badkey *b = &a->bad[slot];
		if (b->waiting >= BADKEY_MAX_WAITING) {
			snprintf(c->logx, sizeof c->logx, " dropped (%u answers held)", b->waiting);
			api_note_response(c, 0, "NOT_VALID_API_KEY", 0, 0);
			c->state = C_BUSY;
			c->drop = 1;
			struct timeval tv = { 0, 0 };
			evtimer_add(c->timer, &tv);
			return;
		}
		if (b->next_ms > now)
			at = b->next_ms + delay;
		b->next_ms = at;
		b->waiting++;
	}
	c->badkey_slot = slot;
	conn_hold(c, (long)(at - now));
}

void api_held_release(struct conn *c)
{
	if (!c->badkey_wait)
		return;
	c->badkey_wait = 0;
	if (c->badkey_slot >= 0 && c->app->bad[c->badkey_slot].waiting > 0)
		c->app->bad[c->badkey_slot].waiting--;
	c->badkey_slot = -1;
}

void api_held_answer(struct conn *c)
{
	api_held_release(c);
	answer(c, 400, "NOT_VALID_API_KEY");
}

/* ---- the query ---- */

enum { F_NAME, F_INFO, F_AC, F_PAIR, F_START, F_FINISH, NF };
static const char *const field_names[NF] = {
	"name", "info", "access_criteria", "pair", "start", "finish",
};
static const char *const field_errors[NF] = {
	"NAME_ERROR", "INFO_ERROR", "ACCESS_CRITERIA_ERROR", "PAIR_ERROR", "START_ERROR", "FINISH_ERROR",
};

struct query {
	char *arena;		/* decoded names and values */
	const char *key;
	size_t key_len;
	const char *serial;
	size_t serial_len;
	const char *layout;
	size_t layout_len;
	struct {
		int present;
		unsigned pos;
		const char *v;
		size_t n;
	} f[NF];
	int unknown;		/* a set[...] that is not a field */
	unsigned unknown_pos;
	unsigned nset;
};

static int span_eq(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* Decodes the query once (tvcas3.md §8: TVCAS 3 decoded twice). */
static int query_parse(struct conn *c, struct query *q)
{
	const char *p, *qs;
	size_t pl, ql, pos = 0, used = 0;
	const char *n, *v;
	size_t nl, vl;
	memset(q, 0, sizeof *q);
	cas_http_target_split(&c->h, &p, &pl, &qs, &ql);
	if (qs == NULL)
		return 0;
	q->arena = malloc(ql + 1);
	if (q->arena == NULL)
		return -1;
	while (cas_http_query_next(qs, ql, &pos, &n, &nl, &v, &vl)) {
		char *dn = q->arena + used;
		size_t dnl = cas_http_url_decode(n, nl, dn);
		used += dnl;
		char *dv = q->arena + used;
		size_t dvl = cas_http_url_decode(v, vl, dv);
		used += dvl;
		if (span_eq(dn, dnl, "api_key")) {
			q->key = dv;
			q->key_len = dvl;
		} else if (span_eq(dn, dnl, "serial_no")) {
			q->serial = dv;
			q->serial_len = dvl;
		} else if (span_eq(dn, dnl, "layout")) {
			q->layout = dv;
			q->layout_len = dvl;
		} else if (dnl >= 3 && memcmp(dn, "set", 3) == 0 && (dnl == 3 || dn[3] == '[')) {
			int k = -1;
			if (dnl > 5 && dn[dnl - 1] == ']')
				for (int i = 0; i < NF; i++)
					if (span_eq(dn + 4, dnl - 5, field_names[i]))
						k = i;
			if (k < 0) {
				if (!q->unknown) {
					q->unknown = 1;
					q->unknown_pos = q->nset;
				}
			} else {
				if (!q->f[k].present) {
					q->f[k].present = 1;
					q->f[k].pos = q->nset;
				}
				q->f[k].v = dv;		/* the last value wins */
				q->f[k].n = dvl;
			}
			q->nset++;
		}
	}
	return 0;
}

/* api_key from the query (TVCAS 3) or from an X-Api-Key header (which keeps
 * it out of proxy logs). */
static int authorised(struct conn *c, const struct query *q)
{
	if (q->key != NULL)
		return key_ok(c, q->key, q->key_len);
	return key_ok(c, c->h.api_key, c->h.api_key_len);
}

/* ---- /api.php ---- */

static void api_card(struct conn *c)
{
	struct app *a = c->app;
	struct query q;
	struct cas_card card;
	uint32_t serial;
	const char *why;
	if (query_parse(c, &q) < 0) {
		answer(c, 500, "INTERNAL_ERROR");
		return;
	}
	if (!authorised(c, &q)) {
		free(q.arena);
		bad_key(c);
		return;
	}
	if (q.serial == NULL || cas_field_serial(q.serial, q.serial_len, 1, 0, &serial, &why) < 0) {
		free(q.arena);
		answer(c, 400, "SMARDCARD_NOT_FOUND");
		return;
	}
	int len = snprintf(c->logx, sizeof c->logx, " serial=%lu", (unsigned long)serial);
	int rc = cas_db_card_get_info(a->db, serial, &card);	/* no key needed */
	if (rc != 0) {
		free(q.arena);
		if (rc == CAS_DB_NOTFOUND) {
			answer(c, 400, "SMARDCARD_NOT_FOUND");
		} else {
			cas_log(CAS_LOG_ERROR, "card %lu: %s", (unsigned long)serial, cas_db_errmsg(a->db));
			answer(c, 500, "INTERNAL_ERROR");
		}
		return;
	}
	if (q.nset == 0) {
		char json[CAS_JSON_CARD_MAX];
		struct cas_wbuf w;
		cas_wbuf_init(&w, json, sizeof json);
		cas_json_card(&w, &card);
		cas_card_wipe(&card);
		free(q.arena);
		conn_respond(c, 200, "ok", "application/json", json, w.len, NULL);
		return;
	}
	cas_card_wipe(&card);

	/* Check every set[...] in the order of the query; the first bad one
	 * answers and nothing is written. */
	struct job *j = job_new(JOB_SET, c);
	if (j == NULL) {
		free(q.arena);
		answer(c, 500, "INTERNAL_ERROR");
		return;
	}
	j->card.serial_no = serial;
	const char *error = NULL;
	for (unsigned pos = 0; pos < q.nset && error == NULL; pos++) {
		if (q.unknown && q.unknown_pos == pos) {
			error = "UNKNOWN_SET_PARAMETER";
			break;
		}
		int k;
		for (k = 0; k < NF; k++)
			if (q.f[k].present && q.f[k].pos == pos)
				break;
		if (k == NF)
			continue;	/* a repeat: checked at its first place */
		const char *v = q.f[k].v;
		size_t n = q.f[k].n;
		int bad = 0;
		switch (k) {
		case F_NAME:
			bad = cas_field_text(v, n, CAS_FIELD_NAME_MAX, &why) < 0;
			if (!bad)
				memcpy(j->card.name, v, n);
			j->fields |= CAS_CARD_F_NAME;
			break;
		case F_INFO:
			bad = cas_field_text(v, n, CAS_FIELD_INFO_MAX, &why) < 0;
			if (!bad)
				memcpy(j->card.info, v, n);
			j->fields |= CAS_CARD_F_INFO;
			break;
		case F_AC:
			bad = cas_field_ac(v, n, &j->card.access_criteria, &why) < 0;
			j->fields |= CAS_CARD_F_AC;
			break;
		case F_PAIR:
			bad = cas_field_pair(v, n, &j->card.pair, &why) < 0;
			j->fields |= CAS_CARD_F_PAIR;
			break;
		case F_START:
			bad = cas_field_time(v, n, 0, &j->card.start, &why) < 0;
			j->fields |= CAS_CARD_F_START;
			break;
		default:
			bad = cas_field_time(v, n, 0, &j->card.finish, &why) < 0;
			j->fields |= CAS_CARD_F_FINISH;
			break;
		}
		if (bad)
			error = field_errors[k];
	}
	/* the log names the fields, never their values */
	len += snprintf(c->logx + len, sizeof c->logx - (size_t)len, " set=");
	for (int k = 0; k < NF && len < (int)sizeof c->logx; k++)
		if (q.f[k].present)
			len += snprintf(c->logx + len, sizeof c->logx - (size_t)len, "%s%s",
					c->logx[len - 1] == '=' ? "" : ",", field_names[k]);
	if (q.unknown && len < (int)sizeof c->logx)
		snprintf(c->logx + len, sizeof c->logx - (size_t)len, "%s?",
			 c->logx[len - 1] == '=' ? "" : ",");
	free(q.arena);
	if (error != NULL) {
		job_free(j);
		answer(c, 400, error);
		return;
	}
	c->job = j;
	worker_submit(&a->writer, j);
}

/* ---- /cards.csv ---- */

static void csv_request(struct conn *c, int import)
{
	struct app *a = c->app;
	struct query q;
	enum cas_csv_layout layout = import ? CAS_CSV_AUTO : CAS_CSV_OPERATOR;
	if (query_parse(c, &q) < 0) {
		answer(c, 500, "INTERNAL_ERROR");
		return;
	}
	if (!authorised(c, &q)) {
		free(q.arena);
		bad_key(c);
		return;
	}
	if (q.layout != NULL) {
		char name[16];
		if (q.layout_len >= sizeof name) {
			free(q.arena);
			answer(c, 400, "LAYOUT_ERROR");
			return;
		}
		memcpy(name, q.layout, q.layout_len);
		name[q.layout_len] = '\0';
		if (cas_csv_layout_parse(name, &layout) < 0) {
			free(q.arena);
			answer(c, 400, "LAYOUT_ERROR");
			return;
		}
	}
	free(q.arena);
	/* The admin layout carries card keys in clear: off unless configured. */
	if (layout == CAS_CSV_ADMIN && !a->set.csv_admin) {
		answer(c, 403, "ADMIN_CSV_DISABLED");
		return;
	}
	if (layout == CAS_CSV_AUTO && !a->set.csv_admin)
		layout = CAS_CSV_OPERATOR;
	struct job *j = job_new(import ? JOB_IMPORT : JOB_EXPORT, c);
	if (j == NULL) {
		answer(c, 500, "INTERNAL_ERROR");
		return;
	}
	j->layout = layout;
	if (import) {
		const char *ct = c->h.content_type;
		if (ct != NULL && c->h.content_type_len >= 19 && strncasecmp(ct, "multipart/form-data", 19) == 0) {
			static const char msg[] = "UNSUPPORTED_MEDIA_TYPE\nsend the CSV file itself as the "
						  "request body (curl --data-binary @cards.csv)\n";
			job_free(j);
			conn_respond(c, 415, "UNSUPPORTED_MEDIA_TYPE", TEXT, msg, sizeof msg - 1, NULL);
			return;
		}
		size_t n = c->body ? evbuffer_get_length(c->body) : 0;
		j->text = malloc(n + 1);
		if (j->text == NULL) {
			job_free(j);
			answer(c, 500, "INTERNAL_ERROR");
			return;
		}
		if (n)
			evbuffer_remove(c->body, j->text, n);
		j->len = n;
		j->serial_min = a->set.serial_min;
		j->serial_max = a->set.serial_max;
		worker_submit(&a->writer, j);
	} else {
		worker_submit(&a->reader, j);
	}
	c->job = j;
}

/* ---- /healthz, /metrics ---- */

static void healthz(struct conn *c)
{
	int v;
	if (cas_db_schema_version(c->app->db, &v) < 0) {
		cas_log(CAS_LOG_ERROR, "health check: %s", cas_db_errmsg(c->app->db));
		answer(c, 503, "DATABASE_ERROR");
		return;
	}
	conn_respond(c, 200, "ok", TEXT, "OK\n", 3, NULL);
}

static void metrics_answer(struct conn *c)
{
	struct app *a = c->app;
	struct metrics *m = &a->m;
	struct evbuffer *b = evbuffer_new();
	if (b == NULL) {
		answer(c, 500, "INTERNAL_ERROR");
		return;
	}
	evbuffer_add_printf(b, "# HELP casapid_requests_total HTTP requests answered, by endpoint and status.\n"
			    "# TYPE casapid_requests_total counter\n");
	for (int e = 0; e < EP_COUNT; e++)
		for (int s = 100; s < 600; s++)
			if (m->requests[e][s])
				evbuffer_add_printf(b, "casapid_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
						    ep_names[e], s, (unsigned long long)m->requests[e][s]);
	evbuffer_add_printf(b, "# HELP casapid_errors_total Error answers, by the code in their body.\n"
			    "# TYPE casapid_errors_total counter\n");
	for (size_t i = 1; i < N_RESULT_NAMES; i++)
		evbuffer_add_printf(b, "casapid_errors_total{code=\"%s\"} %llu\n", result_names[i],
				    (unsigned long long)m->results[i]);
	evbuffer_add_printf(b, "# HELP casapid_request_duration_seconds Time from a complete request "
			    "head to its answer.\n# TYPE casapid_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < LAT_BUCKETS; i++) {
		cum += m->lat_bucket[i];
		evbuffer_add_printf(b, "casapid_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
				    lat_le[i], (unsigned long long)cum);
	}
	cum += m->lat_bucket[LAT_BUCKETS];
	evbuffer_add_printf(b, "casapid_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "casapid_request_duration_seconds_sum %.6f\n"
			    "casapid_request_duration_seconds_count %llu\n",
			    (unsigned long long)cum, m->lat_sum, (unsigned long long)m->lat_count);
	evbuffer_add_printf(b, "# HELP casapid_connections Open HTTP connections.\n"
			    "# TYPE casapid_connections gauge\ncasapid_connections %u\n"
			    "# HELP casapid_connections_refused_total Connections refused at api.max_connections.\n"
			    "# TYPE casapid_connections_refused_total counter\n"
			    "casapid_connections_refused_total %llu\n"
			    "# HELP casapid_bad_keys_total Requests with a missing or wrong API key.\n"
			    "# TYPE casapid_bad_keys_total counter\ncasapid_bad_keys_total %llu\n",
			    a->nconn, (unsigned long long)m->connections_refused,
			    (unsigned long long)m->bad_keys);
	if (m->cards_at != 0)
		evbuffer_add_printf(b, "# HELP casapid_cards Cards in the database, by status.\n"
				    "# TYPE casapid_cards gauge\n"
				    "casapid_cards{status=\"disabled\"} %lld\n"
				    "casapid_cards{status=\"active\"} %lld\n"
				    "casapid_cards{status=\"expired\"} %lld\n",
				    (long long)m->cards[0], (long long)m->cards[1], (long long)m->cards[2]);
	size_t n = evbuffer_get_length(b);
	char *text = malloc(n + 1);
	if (text == NULL) {
		evbuffer_free(b);
		answer(c, 500, "INTERNAL_ERROR");
		return;
	}
	evbuffer_remove(b, text, n);
	evbuffer_free(b);
	conn_respond_buffer(c, 200, "ok", "text/plain; version=0.0.4; charset=utf-8", text, n, NULL);
}

/* The card counts are refreshed by the reader thread at most every 10 s
 * (a count over a million cards takes a while). */
static void metrics(struct conn *c)
{
	struct app *a = c->app;
	if (a->m.cards_at != 0 && time(NULL) - a->m.cards_at < 10) {
		metrics_answer(c);
		return;
	}
	struct job *j = job_new(JOB_COUNT, c);
	if (j == NULL) {
		metrics_answer(c);
		return;
	}
	c->job = j;
	worker_submit(&a->reader, j);
}

/* ---- routing ---- */

void api_request(struct conn *c)
{
	const char *p, *q;
	size_t pl, ql;
	cas_http_target_split(&c->h, &p, &pl, &q, &ql);
	int get = cas_http_method_is(&c->h, "GET");
	if (span_eq(p, pl, "/api.php") || span_eq(p, pl, "/api")) {
		c->ep = EP_API;
		if (get)
			api_card(c);
		else
			conn_respond(c, 405, "METHOD_NOT_ALLOWED", TEXT, "METHOD_NOT_ALLOWED", 18,
				     "Allow: GET\r\n");
	} else if (span_eq(p, pl, "/cards.csv")) {
		int post = cas_http_method_is(&c->h, "POST");
		c->ep = post ? EP_CSV_POST : EP_CSV_GET;
		if (get || post)
			csv_request(c, post);
		else
			conn_respond(c, 405, "METHOD_NOT_ALLOWED", TEXT, "METHOD_NOT_ALLOWED", 18,
				     "Allow: GET, POST\r\n");
	} else if (span_eq(p, pl, "/healthz") || span_eq(p, pl, "/metrics")) {
		int hz = p[1] == 'h';
		c->ep = hz ? EP_HEALTHZ : EP_METRICS;
		if (!get)
			conn_respond(c, 405, "METHOD_NOT_ALLOWED", TEXT, "METHOD_NOT_ALLOWED", 18,
				     "Allow: GET\r\n");
		else if (hz)
			healthz(c);
		else
			metrics(c);
	} else {
		c->ep = EP_OTHER;
		answer(c, 404, "NOT_FOUND");
	}
}

void api_job_done(struct conn *c, struct job *j)
{
	c->job = NULL;
	size_t n = strlen(c->logx);
	snprintf(c->logx + n, sizeof c->logx - n, "%s", j->detail);
	if (j->kind == JOB_COUNT) {
		metrics_answer(c);
	} else if (j->kind == JOB_EXPORT && j->status == 200) {
		char hdr[120];
		struct tm tm;
		time_t now = time(NULL);
		gmtime_r(&now, &tm);
		/* TVCAS 3's file name: YYYY-mm-dd_His_{admin|oper}.csv */
		int k = snprintf(hdr, sizeof hdr, "Content-Disposition: attachment; filename=\"");
		k += (int)strftime(hdr + k, sizeof hdr - (size_t)k, "%Y-%m-%d_%H%M%S", &tm);
		snprintf(hdr + k, sizeof hdr - (size_t)k, "_%s.csv\"\r\n",
			 j->layout == CAS_CSV_ADMIN ? "admin" : "oper");
		char *body = j->out;
		size_t len = j->out_len;
		j->out = NULL;
		j->out_cap = 0;
		if (body == NULL) {
			body = malloc(1);
			len = 0;
		}
		conn_respond_buffer(c, 200, "ok", j->ctype, body, len, hdr);
	} else {
		conn_respond(c, j->status, j->result, j->ctype, j->out ? j->out : "", j->out_len, NULL);
	}
	job_free(j);
}
