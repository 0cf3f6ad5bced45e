/* Card lists as CSV, TVCAS 3 layouts (see csv.h). */
#include "csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "field.h"
#include "hex.h"

#define NFIELDS_OPERATOR 7
#define NFIELDS_ADMIN 10
#define MAX_FIELDS 10
#define IMPORT_BATCH 4096
#define EXPORT_CHUNK 65536

const char *cas_csv_layout_name(enum cas_csv_layout l)
{
	switch (l) {
	case CAS_CSV_OPERATOR: return "operator";
	case CAS_CSV_ADMIN: return "admin";
	default: return "auto";
	}
}

int cas_csv_layout_parse(const char *name, enum cas_csv_layout *out)
{
	if (strcmp(name, "operator") == 0 || strcmp(name, "oper") == 0)
		*out = CAS_CSV_OPERATOR;
	else if (strcmp(name, "admin") == 0)
		*out = CAS_CSV_ADMIN;
	else
		return -1;
	return 0;
}

const char *cas_csv_header(enum cas_csv_layout l)
{
	return l == CAS_CSV_ADMIN ? CAS_CSV_HEADER_ADMIN : CAS_CSV_HEADER_OPERATOR;
}

/* ---- the error report ---- */

static void report_add(struct cas_csv_report *r, size_t line, const char *fmt, va_list ap)
{
	size_t slot;
	size_t seq = r->nerrors++;
	if (r->kept < CAS_CSV_MAX_ERRORS) {
		slot = r->kept++;
	} else {
		/* Keep the errors of the first lines: replace the latest one
		 * kept if this one comes earlier in the file. */
		slot = 0;
		for (size_t i = 1; i < r->kept; i++)
			if (r->err[i].line > r->err[slot].line ||
			    (r->err[i].line == r->err[slot].line && r->err[i].seq > r->err[slot].seq))
				slot = i;
		if (r->err[slot].line <= line)
			return;
	}
	r->err[slot].line = line;
	r->err[slot].seq = seq;
	int n = snprintf(r->err[slot].text, sizeof r->err[slot].text, "line %zu: ", line);
	if (n < 0 || (size_t)n >= sizeof r->err[slot].text)
		return;
	vsnprintf(r->err[slot].text + n, sizeof r->err[slot].text - (size_t)n, fmt, ap);
}

void cas_csv_report_error(struct cas_csv_report *r, size_t line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report_add(r, line, fmt, ap);
	va_end(ap);
}

static int by_line(const void *a, const void *b)
{
	const size_t *x = a, *y = b;	/* line, seq */
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

size_t cas_csv_report_format(const struct cas_csv_report *r, char *out, size_t size)
{
	size_t len = 0;
	if (size == 0)
		return 0;
	out[0] = '\0';
	if (r->fail[0] != '\0') {
		snprintf(out, size, "%s", r->fail);
		return strlen(out);
	}
	size_t order[CAS_CSV_MAX_ERRORS][3];
	for (size_t i = 0; i < r->kept; i++) {
		order[i][0] = r->err[i].line;
		order[i][1] = r->err[i].seq;
		order[i][2] = i;
	}
	qsort(order, r->kept, sizeof order[0], by_line);
	for (size_t i = 0; i < r->kept && len < size - 1; i++) {
		int n = snprintf(out + len, size - len, "%s%s", i ? "\n" : "", r->err[order[i][2]].text);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (r->nerrors > r->kept && len < size - 1) {
		size_t more = r->nerrors - r->kept;
		int n = snprintf(out + len, size - len, "\n... and %zu more error%s", more,
				 more == 1 ? "" : "s");
		if (n > 0)
			len += (size_t)n;
	}
	return len < size ? len : size - 1;
}

static int set_fail(struct cas_csv_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int set_fail(struct cas_csv_report *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->fail, sizeof r->fail, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- parsing ---- */

struct field {
	const char *p;
	size_t n;
};

/* Splits one line into at most MAX_FIELDS + 1 fields; returns the count
 * (MAX_FIELDS + 1 means "more than MAX_FIELDS"). */
static size_t split(const char *p, size_t n, struct field *f)
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == ';') {
			if (k == MAX_FIELDS + 1)
				return k;
			f[k].p = p + start;
			f[k].n = i - start;
			k++;
			start = i + 1;
		}
	}
	return k;
}

/* Counts every ';' for the message about a wrong number of fields. */
static size_t count_fields(const char *p, size_t n)
{
	size_t k = 1;
	for (size_t i = 0; i < n; i++)
		k += p[i] == ';';
	return k;
}

static int header_layout(const char *p, size_t n, enum cas_csv_layout *l)
{
	if (n == strlen(CAS_CSV_HEADER_OPERATOR) && memcmp(p, CAS_CSV_HEADER_OPERATOR, n) == 0)
		*l = CAS_CSV_OPERATOR;
	else if (n == strlen(CAS_CSV_HEADER_ADMIN) && memcmp(p, CAS_CSV_HEADER_ADMIN, n) == 0)
		*l = CAS_CSV_ADMIN;
	else
		return -1;
	return 0;
}

/* Checks one data line into row; records every bad field.  Returns 0 if
 * the line is valid. */
static int parse_row(const char *p, size_t n, size_t line, enum cas_csv_layout layout,
		     const struct cas_csv_opts *o, struct cas_csv_row *row,
		     struct cas_csv_report *r)
{
	struct field f[MAX_FIELDS + 1];
	size_t want = layout == CAS_CSV_ADMIN ? NFIELDS_ADMIN : NFIELDS_OPERATOR;
	size_t k = split(p, n, f);
	const char *why;
	size_t before = r->nerrors;
	if (n == 0) {
		cas_csv_report_error(r, line, "empty line (expected %zu fields)", want);
		return -1;
	}
	if (k != want) {
		cas_csv_report_error(r, line, "%zu fields, expected %zu (%s layout)",
				     count_fields(p, n), want, cas_csv_layout_name(layout));
		return -1;
	}
	memset(row, 0, sizeof *row);
	row->line = line;
	row->edit = -1;
	struct cas_card *c = &row->card;
	/* Field positions: operator 0..6, admin adds key at 3, type at 5, edit at 9. */
	const int admin = layout == CAS_CSV_ADMIN;
	const struct field *fs = &f[0], *fname = &f[1], *finfo = &f[2];
	const struct field *fac = &f[admin ? 4 : 3], *fpair = &f[admin ? 6 : 4];
	const struct field *fstart = &f[admin ? 7 : 5], *ffinish = &f[admin ? 8 : 6];

	if (cas_field_serial(fs->p, fs->n, o->serial_min, o->serial_max, &c->serial_no, &why) < 0) {
		if (strcmp(why, "out of range") == 0)
			cas_csv_report_error(r, line, "serial_no: out of range %lu..%lu",
					     (unsigned long)(o->serial_min ? o->serial_min : 1),
					     (unsigned long)(o->serial_max ? o->serial_max : UINT32_MAX));
		else
			cas_csv_report_error(r, line, "serial_no: %s", why);
	}
	if (cas_field_text(fname->p, fname->n, CAS_FIELD_NAME_MAX, &why) < 0)
		cas_csv_report_error(r, line, "name: %s", why);
	else
		memcpy(c->name, fname->p, fname->n);
	if (cas_field_text(finfo->p, finfo->n, CAS_FIELD_INFO_MAX, &why) < 0)
		cas_csv_report_error(r, line, "info: %s", why);
	else
		memcpy(c->info, finfo->p, finfo->n);
	if (admin && cas_field_key(f[3].p, f[3].n, c->key, &why) < 0)
		cas_csv_report_error(r, line, "key: %s", why);
	if (cas_field_ac(fac->p, fac->n, &c->access_criteria, &why) < 0)
		cas_csv_report_error(r, line, "access_criteria: %s", why);
	if (admin && cas_field_type(f[5].p, f[5].n, &c->type, &why) < 0)
		cas_csv_report_error(r, line, "type: %s", why);
	if (cas_field_pair(fpair->p, fpair->n, &c->pair, &why) < 0)
		cas_csv_report_error(r, line, "pair: %s", why);
	if (cas_field_time(fstart->p, fstart->n, 1, &c->start, &why) < 0)
		cas_csv_report_error(r, line, "start: %s", why);
	if (cas_field_time(ffinish->p, ffinish->n, 1, &c->finish, &why) < 0)
		cas_csv_report_error(r, line, "finish: %s", why);
	if (admin && cas_field_uint_opt(f[9].p, f[9].n, &row->edit, &why) < 0)
		cas_csv_report_error(r, line, "edit: %s", why);

	row->fields = CAS_CARD_F_NAME | CAS_CARD_F_INFO | CAS_CARD_F_AC | CAS_CARD_F_PAIR |
		      CAS_CARD_F_START | CAS_CARD_F_FINISH;
	if (admin)
		row->fields |= CAS_CARD_F_KEY | CAS_CARD_F_TYPE;
	else
		c->type = CAS_CARD_PROTECT_ON;
	c->status = CAS_CARD_ACTIVE;
	return r->nerrors == before ? 0 : -1;
}

struct seen {
	uint32_t serial;
	uint32_t pad;
	size_t line;
};

static int by_serial(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	if (x->serial != y->serial)
		return x->serial < y->serial ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

int cas_csv_parse(const char *text, size_t len, const struct cas_csv_opts *o,
		  cas_csv_row_fn *cb, void *ctx, struct cas_csv_report *r)
{
	struct cas_csv_row row;
	struct seen *seen = NULL;
	size_t nseen = 0, capseen = 0;
	int ret = -1;
	memset(r, 0, sizeof *r);
	r->layout = o->layout;

	size_t pos = 0, line = 0;
	int header_done = 0;
	if (len == 0) {
		cas_csv_report_error(r, 1, "header: missing (the file is empty)");
		return CAS_CSV_REJECTED;
	}
	while (pos < len) {
		const char *p = text + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - p) : len - pos;
		pos += n + (nl != NULL);
		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (!header_done) {
			header_done = 1;
			enum cas_csv_layout l;
			if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
				cas_csv_report_error(r, 1, "header: starts with a byte order mark "
						     "(save the file as UTF-8 without BOM)");
				break;
			}
			if (header_layout(p, n, &l) < 0) {
				if (o->layout == CAS_CSV_AUTO)
					cas_csv_report_error(r, 1, "header: expected \"%s\" (operator) or "
							     "\"%s\" (admin)", CAS_CSV_HEADER_OPERATOR,
							     CAS_CSV_HEADER_ADMIN);
				else
					cas_csv_report_error(r, 1, "header: expected \"%s\" (%s layout)",
							     cas_csv_header(o->layout),
							     cas_csv_layout_name(o->layout));
				break;
			}
			if (o->layout != CAS_CSV_AUTO && l != o->layout) {
				cas_csv_report_error(r, 1, "header: this is the %s layout, expected the %s layout",
						     cas_csv_layout_name(l), cas_csv_layout_name(o->layout));
				break;
			}
			r->layout = l;
			continue;
		}
		r->rows++;
		if (parse_row(p, n, line, r->layout, o, &row, r) < 0)
			continue;
		if (nseen == capseen) {
			size_t ncap = capseen ? capseen * 2 : 1024;
			struct seen *ns = realloc(seen, ncap * sizeof *ns);
			if (ns == NULL) {
				set_fail(r, "out of memory");
				goto out;
			}
			seen = ns;
			capseen = ncap;
		}
		seen[nseen].serial = row.card.serial_no;
		seen[nseen].pad = 0;
		seen[nseen].line = line;
		nseen++;
		if (cb != NULL) {
			int rc = cb(ctx, &row, r);
			if (rc < 0)
				goto out;
		}
	}
	/* Each serial at most once: the later lines are the errors. */
	if (nseen > 1)
		qsort(seen, nseen, sizeof *seen, by_serial);
	for (size_t i = 1; i < nseen; i++) {
		size_t first = i - 1;
		while (i < nseen && seen[i].serial == seen[first].serial) {
			cas_csv_report_error(r, seen[i].line, "serial_no: %lu repeats line %zu",
					     (unsigned long)seen[i].serial, seen[first].line);
			i++;
		}
	}
	ret = r->nerrors ? CAS_CSV_REJECTED : 0;
out:
	sodium_memzero(&row, sizeof row);
	free(seen);
	return ret;
}

/* ---- import ---- */

/* The rows are applied a batch at a time: cas_db_cards_update() for all of
 * them, then the new cards of the admin layout in one bulk insert. */
struct import {
	struct cas_db *db;
	const struct cas_db_actor *who;
	int64_t now;
	enum cas_csv_layout layout;
	unsigned fields;		/* what the layout carries */
	struct cas_card *rows;		/* the batch, in file order */
	size_t *lines;			/* ... their line numbers */
	int *result;			/* ... what cas_db_cards_update() did */
	size_t nrows;
	struct cas_card *news;		/* the batch's new cards */
	size_t nnews;
	int large;			/* 1: may become a large job (cas_db_large_begin) */
	int empty;			/* 1: the table had no card (a first load) */
};

/* A file of this many rows or more, half the table or more, whose first
 * batch writes half its rows or more, is applied as a large job
 * (cas_db_large_begin): the indexes the updates touch are built again at
 * the end instead of being maintained row by row.  Measured on 1,000,000
 * cards (test/bench/cascron.sh): every row changed 5.0-5.7 s -> 3.9-4.8 s.
 * A file that changes little stays on the row-by-row path (1,000,000 rows,
 * none changed: 1.2 s).  New cards are inserted with the indexes in place:
 * a billing file comes in serial order, which appends to them (1,000,000
 * new cards: 4.1-4.4 s as a large job, 3.8-4.0 s without). */
#define LARGE_MIN_ROWS 20000

static int flush_batch(struct import *im, struct cas_csv_report *r)
{
	if (im->nrows == 0)
		return 0;
	int ret = 0;
	if (im->empty) {
		/* The table was empty when the transaction began and every
		 * serial comes once: no row can exist yet. */
		for (size_t i = 0; i < im->nrows; i++)
			im->result[i] = -1;
	} else if (cas_db_cards_update(im->db, im->rows, im->nrows, im->fields, im->now, im->who,
				       im->result) != 0) {
		ret = set_fail(r, "%s", cas_db_errmsg(im->db));
		goto out;
	}
	for (size_t i = 0; i < im->nrows; i++) {
		if (im->result[i] < 0 && im->layout != CAS_CSV_ADMIN)
			cas_csv_report_error(r, im->lines[i], "serial_no: no card %lu (the operator "
					     "layout only updates cards; create cards with the admin "
					     "layout or casprog)", (unsigned long)im->rows[i].serial_no);
		else if (im->result[i] < 0)
			im->news[im->nnews++] = im->rows[i];
		else if (im->result[i] > 0)
			r->updated++;
		else
			r->unchanged++;
	}
	/* After an error the file is refused anyway: only look for more. */
	if (im->nnews > 0 && r->nerrors == 0) {
		if (cas_db_cards_insert(im->db, im->news, im->nnews, im->who) != 0) {
			ret = set_fail(r, "%s", cas_db_errmsg(im->db));
			goto out;
		}
		r->added += im->nnews;
	}
	if (im->large && r->nerrors == 0) {
		im->large = 0;
		if ((r->added + r->updated) * 2 >= im->nrows && cas_db_large_begin(im->db) < 0)
			ret = set_fail(r, "%s", cas_db_errmsg(im->db));
	}
out:
	sodium_memzero(im->rows, im->nrows * sizeof *im->rows);
	sodium_memzero(im->news, im->nnews * sizeof *im->news);
	im->nrows = im->nnews = 0;
	return ret;
}

static int apply_row(void *ctx, const struct cas_csv_row *row, struct cas_csv_report *r)
{
	struct import *im = ctx;
	im->fields = row->fields;
	im->lines[im->nrows] = row->line;
	im->rows[im->nrows++] = row->card;
	if (im->nrows == IMPORT_BATCH)
		return flush_batch(im, r) < 0 ? -1 : 0;
	return 0;
}

/* One PRAGMA's integer value, or def. */
static long long pragma_int(sqlite3 *s, const char *sql, long long def)
{
	sqlite3_stmt *st = NULL;
	long long v = def;
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Connection tuning for one big transaction (not data access: the rows go
 * through db.h): every card update runs in a savepoint, whose journal
 * would otherwise be a temporary file written for every row; and a page
 * cache large enough to keep the touched index pages (64 MiB) instead of
 * spilling them to the WAL again and again.  Restored afterwards. */
struct tuning {
	long long temp_store, cache_size;
};

static void tune(struct cas_db *db, struct tuning *t)
{
	sqlite3 *s = cas_db_sqlite(db);
	t->temp_store = pragma_int(s, "PRAGMA temp_store", 0);
	t->cache_size = pragma_int(s, "PRAGMA cache_size", -2000);
	sqlite3_exec(s, "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536", NULL, NULL, NULL);
}

static void untune(struct cas_db *db, const struct tuning *t)
{
	char sql[100];
	snprintf(sql, sizeof sql, "PRAGMA temp_store = %lld; PRAGMA cache_size = %lld", t->temp_store,
		 t->cache_size);
	sqlite3_exec(cas_db_sqlite(db), sql, NULL, NULL, NULL);
}

int cas_csv_import(struct cas_db *db, const char *text, size_t len, const struct cas_csv_opts *o,
		   const struct cas_db_actor *who, struct cas_csv_report *r)
{
	struct cas_csv_opts opts = *o;
	if (opts.now == 0)
		opts.now = (int64_t)time(NULL);
	int rc = cas_csv_parse(text, len, &opts, NULL, NULL, r);
	if (rc != 0)
		return rc;
	size_t rows = r->rows;
	enum cas_csv_layout layout = r->layout;
	if (cas_db_in_transaction(db))
		return set_fail(r, "internal: CSV import inside an open transaction");

	struct import im = { db, who, opts.now, layout, 0, NULL, NULL, NULL, 0, NULL, 0, 0, 0 };
	im.rows = malloc(IMPORT_BATCH * sizeof *im.rows);
	im.news = malloc(IMPORT_BATCH * sizeof *im.news);
	im.lines = malloc(IMPORT_BATCH * sizeof *im.lines);
	im.result = malloc(IMPORT_BATCH * sizeof *im.result);
	struct tuning saved;
	if (im.rows == NULL || im.news == NULL || im.lines == NULL || im.result == NULL) {
		rc = set_fail(r, "out of memory");
		goto out_free;
	}
	tune(db, &saved);
	if (cas_db_begin(db) < 0) {
		untune(db, &saved);
		rc = set_fail(r, "%s", cas_db_errmsg(db));
		goto out_free;
	}
	int64_t cards = 0;
	if (cas_db_card_count(db, &cards) < 0) {
		rc = set_fail(r, "%s", cas_db_errmsg(db));
		cas_db_rollback(db);
		untune(db, &saved);
		goto out_free;
	}
	im.large = rows >= LARGE_MIN_ROWS && (int64_t)rows * 2 >= cards;
	im.empty = cards == 0;
	/* Second pass inside the transaction: the file is known to be valid;
	 * what remains to check needs the database (a card the operator layout
	 * names must exist). */
	struct cas_csv_report r2;
	rc = cas_csv_parse(text, len, &opts, apply_row, &im, &r2);
	if (rc == 0 && flush_batch(&im, &r2) < 0)
		rc = -1;
	if (rc == 0 && r2.nerrors)
		rc = CAS_CSV_REJECTED;
	if (rc == 0) {
		char msg[200];
		snprintf(msg, sizeof msg, "CSV import (%s layout): %zu rows, %zu added, %zu updated, "
			 "%zu unchanged", cas_csv_layout_name(layout), rows, r2.added, r2.updated,
			 r2.unchanged);
		struct cas_audit a = { 0 };
		a.who = who && who->who ? who->who : "csv";
		a.addr = who ? who->addr : NULL;
		a.message = msg;
		if (cas_db_audit_add(db, &a) < 0)
			rc = set_fail(&r2, "%s", cas_db_errmsg(db));
	}
	if (rc == 0 && cas_db_commit(db) < 0)
		rc = set_fail(&r2, "%s", cas_db_errmsg(db));
	if (rc != 0)
		cas_db_rollback(db);
	untune(db, &saved);
	*r = r2;
	if (rc != 0) {
		r->added = r->updated = r->unchanged = 0;
	}
out_free:
	/* flush_batch() wiped what it applied; a failed parse may leave rows */
	if (im.rows != NULL)
		sodium_memzero(im.rows, IMPORT_BATCH * sizeof *im.rows);
	if (im.news != NULL)
		sodium_memzero(im.news, IMPORT_BATCH * sizeof *im.news);
	free(im.rows);
	free(im.news);
	free(im.lines);
	free(im.result);
	return rc;
}

/* ---- export ---- */

static const char *csv_breaker(const char *s)
{
	for (; *s; s++) {
		if (*s == ';')
			return "';'";
		if (*s == '\n' || *s == '\r')
			return "a line break";
	}
	return NULL;
}

int cas_csv_format_row(const struct cas_card *c, enum cas_csv_layout layout, char *out,
		       size_t size, size_t *len, char *err, size_t errsize)
{
	const char *b;
	if ((b = csv_breaker(c->name)) != NULL) {
		snprintf(err, errsize, "card %lu: name contains %s, which CSV cannot hold",
			 (unsigned long)c->serial_no, b);
		return -1;
	}
	if ((b = csv_breaker(c->info)) != NULL) {
		snprintf(err, errsize, "card %lu: info contains %s, which CSV cannot hold",
			 (unsigned long)c->serial_no, b);
		return -1;
	}
	int n;
	if (layout == CAS_CSV_ADMIN) {
		char key[2 * CAS_CARD_KEY_SIZE + 1];
		cas_hex_encode(c->key, sizeof c->key, key);
		n = snprintf(out, size, "%lu;%s;%s;%s;%08lX;%d;%d;%lld;%lld;%lld\n",
			     (unsigned long)c->serial_no, c->name, c->info, key,
			     (unsigned long)c->access_criteria, c->type, c->pair, (long long)c->start,
			     (long long)c->finish, (long long)c->edited);
		sodium_memzero(key, sizeof key);
	} else {
		n = snprintf(out, size, "%lu;%s;%s;%08lX;%d;%lld;%lld\n", (unsigned long)c->serial_no,
			     c->name, c->info, (unsigned long)c->access_criteria, c->pair,
			     (long long)c->start, (long long)c->finish);
	}
	if (n < 0 || (size_t)n >= size) {
		snprintf(err, errsize, "card %lu: CSV line too long", (unsigned long)c->serial_no);
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

struct exporter {
	enum cas_csv_layout layout;
	cas_csv_write_fn *w;
	void *ctx;
	char *buf;
	size_t len;
	size_t rows;
	int failed;	/* 1 = bad card, 2 = write failed */
	char *err;
	size_t errsize;
};

static int export_flush(struct exporter *e)
{
	if (e->len > 0 && e->w(e->ctx, e->buf, e->len) < 0) {
		snprintf(e->err, e->errsize, "unable to write the CSV");
		e->failed = 2;
		return -1;
	}
	e->len = 0;
	return 0;
}

static int export_card(void *ctx, const struct cas_card *c)
{
	struct exporter *e = ctx;
	size_t n;
	/* e->len < EXPORT_CHUNK here, and a line is at most ~1.4 KB. */
	if (cas_csv_format_row(c, e->layout, e->buf + e->len, EXPORT_CHUNK + 4096 - e->len, &n,
			       e->err, e->errsize) < 0) {
		e->failed = 1;
		return 1;
	}
	e->len += n;
	e->rows++;
	if (e->len >= EXPORT_CHUNK && export_flush(e) < 0)
		return 1;
	return 0;
}

int cas_csv_export(struct cas_db *db, enum cas_csv_layout layout, cas_csv_write_fn *w,
		   void *ctx, size_t *rows, char *err, size_t errsize)
{
	struct exporter e = { layout == CAS_CSV_ADMIN ? CAS_CSV_ADMIN : CAS_CSV_OPERATOR,
			      w, ctx, NULL, 0, 0, 0, err, errsize };
	int ret = -1;
	if (rows)
		*rows = 0;
	if (errsize)
		err[0] = '\0';
	e.buf = malloc(EXPORT_CHUNK + 4096);
	if (e.buf == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	e.len = (size_t)snprintf(e.buf, EXPORT_CHUNK, "%s\n", cas_csv_header(e.layout));
	int rc = cas_db_cards_each(db, export_card, &e);
	if (rc < 0 && !e.failed)
		snprintf(err, errsize, "%s", cas_db_errmsg(db));
	else if (rc == 0 && export_flush(&e) == 0)
		ret = 0;
	if (rows)
		*rows = e.rows;
	sodium_memzero(e.buf, EXPORT_CHUNK + 4096);
	free(e.buf);
	return ret;
}
