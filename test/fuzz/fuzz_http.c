/* Fuzz target: HTTP request parsing (libcas/http.c) — head, target, query
 * decoding and the chunked decoder fed in pieces.  Every span it returns
 * must lie inside the input, and the chunked decoder must give the same
 * body whatever the piece sizes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *base, size_t len, const char *p, size_t n)
{
	if (p == NULL)
		return;
	if (p < base || p + n > base + len)
		abort();
}

struct body {
	char *buf;
	size_t len, cap;	/* the body is never longer than its coding */
};

static int collect(void *ctx, const char *d, size_t n)
{
	struct body *b = ctx;
	if (b->len + n > b->cap)
		abort();
	memcpy(b->buf + b->len, d, n);
	b->len += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	struct cas_http_head h;
	const char *why;
	size_t end = cas_http_head_end(t, size);
	if (end > size || cas_http_line_len(t, size) > size)
		abort();
	if (end > 0 && cas_http_parse_head(t, end, &h, &why) == 0) {
		inside(t, end, h.method, h.method_len);
		inside(t, end, h.target, h.target_len);
		inside(t, end, h.api_key, h.api_key_len);
		inside(t, end, h.content_type, h.content_type_len);
		const char *p, *q, *n, *v;
		size_t pl, ql, nl, vl, pos = 0;
		cas_http_target_split(&h, &p, &pl, &q, &ql);
		inside(h.target, h.target_len, p, pl);
		inside(h.target, h.target_len, q, ql);
		while (q != NULL && cas_http_query_next(q, ql, &pos, &n, &nl, &v, &vl)) {
			char dec[4096];
			inside(q, ql, n, nl);
			inside(q, ql, v, vl);
			if (vl <= sizeof dec && cas_http_url_decode(v, vl, dec) > vl)
				abort();
		}
	}
	/* the rest of the input as a chunked body: whole, then byte by byte */
	const char *body = t + end;
	size_t blen = size - end;
	struct body b1 = { malloc(blen + 1), 0, blen }, b2 = { malloc(blen + 1), 0, blen };
	struct cas_http_chunked c1 = { 0 }, c2 = { 0 };
	size_t used1 = 0, used2 = 0, used;
	int r1 = cas_http_chunked_feed(&c1, body, blen, &used1, collect, &b1), r2 = 0;
	while (r2 == 0 && used2 < blen) {
		r2 = cas_http_chunked_feed(&c2, body + used2, 1, &used, collect, &b2);
		used2 += used;
	}
	if (used1 > blen || r1 != r2 || (r1 == 1 && (used1 != used2 || b1.len != b2.len ||
						     memcmp(b1.buf, b2.buf, b1.len) != 0)))
		abort();
	free(b1.buf);
	free(b2.buf);
	return 0;
}
