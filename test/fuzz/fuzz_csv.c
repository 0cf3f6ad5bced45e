/* Fuzz target: the CSV parser (libcas/csv.c).  Any input is accepted or
 * refused with a report; an accepted file, written back with the CSV
 * writer, parses again to the same rows. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	char *buf;
	size_t len, cap;
	size_t rows;
	int bad;
};

static int collect(void *ctx, const struct cas_csv_row *row, struct cas_csv_report *r)
{
	struct out *o = ctx;
	char line[4096], err[200];
	size_t n;
	(void)r;
	struct cas_card c = row->card;
	c.edited = row->edit < 0 ? 0 : row->edit;
	if (cas_csv_format_row(&c, r->layout, line, sizeof line, &n, err, sizeof err) < 0) {
		o->bad = 1;	/* a valid row must always be writable */
		return 0;
	}
	if (o->len + n > o->cap) {
		size_t cap = (o->len + n) * 2 + 256;
		char *b = realloc(o->buf, cap);
		if (b == NULL)
			return -1;
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, line, n);
	o->len += n;
	o->rows++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cas_csv_report r, r2;
	struct cas_csv_opts opts = { CAS_CSV_AUTO, 0, 0, 1700000000 };
	struct out o = { NULL, 0, 0, 0, 0 };
	char text[8192];
	if (size > 0 && (data[0] & 1))
		opts.serial_min = 2100000000u, opts.serial_max = 2109999999u;
	int rc = cas_csv_parse((const char *)data, size, &opts, collect, &o, &r);
	cas_csv_report_format(&r, text, sizeof text);
	if (r.kept > CAS_CSV_MAX_ERRORS || r.kept > r.nerrors || (rc == 0) != (r.nerrors == 0))
		abort();
	if (rc == 0) {
		if (o.bad || o.rows != r.rows)
			abort();
		/* header + the rows as written by FreeCAS: valid, same count */
		const char *h = cas_csv_header(r.layout);
		size_t hl = strlen(h);
		char *again = malloc(hl + 1 + o.len + 1);
		if (again == NULL)
			abort();
		memcpy(again, h, hl);
		again[hl] = '\n';
		if (o.len)
			memcpy(again + hl + 1, o.buf, o.len);
		if (cas_csv_parse(again, hl + 1 + o.len, &opts, NULL, NULL, &r2) != 0 ||
		    r2.rows != r.rows || r2.layout != r.layout)
			abort();
		free(again);
	}
	free(o.buf);
	return 0;
}
