/* Unit tests: HTTP/1.1 request parsing (libcas/http.c), written from RFC
 * 9112 (message syntax, chunked coding, persistence) and RFC 9110. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

#define S(x) x, sizeof(x) - 1

static int parse(const char *text, struct cas_http_head *h, const char **why)
{
	size_t len = strlen(text);
	size_t end = cas_http_head_end(text, len);
	assert_true(end > 0);
	return cas_http_parse_head(text, end, h, why);
}

static void span_is(const char *p, size_t n, const char *want)
{
	if (p == NULL)
		fail_msg("NULL, wanted '%s'", want);
	if (n != strlen(want) || memcmp(p, want, n) != 0)
		fail_msg("'%.*s', wanted '%s'", (int)n, p, want);
}

static void test_head_end(void **state)
{
	(void)state;
	assert_int_equal(cas_http_head_end(S("GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY")), 27);
	assert_int_equal(cas_http_head_end(S("GET / HTTP/1.1\nHost: x\n\nBODY")), 24);
	assert_int_equal(cas_http_head_end(S("GET / HTTP/1.1\r\n\r\n")), 18);
	assert_int_equal(cas_http_head_end(S("\r\n\r\nGET / HTTP/1.1\r\n\r\n")), 22);
	assert_int_equal(cas_http_head_end(S("GET / HTTP/1.1\r\nHost: x\r\n\r")), 0);
	assert_int_equal(cas_http_head_end(S("GET / HTTP/1.1\r\nHost: x\r\n")), 0);
	assert_int_equal(cas_http_head_end(S("GET / HTTP/1.1")), 0);
	assert_int_equal(cas_http_head_end(S("")), 0);
	assert_int_equal(cas_http_head_end(S("\r\n\r\n")), 0);
	assert_int_equal(cas_http_line_len(S("GET /abc HTTP/1.1\r\nHost")), 17);
	assert_int_equal(cas_http_line_len(S("GET /abc HTTP/1.1\nHost")), 17);
	assert_int_equal(cas_http_line_len(S("\r\nGET /a")), 8);
}

static void test_parse_ok(void **state)
{
	(void)state;
	struct cas_http_head h;
	const char *why;
	assert_int_equal(parse("GET /api.php?api_key=k&serial_no=2100000000 HTTP/1.1\r\n"
			       "Host: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", &h, &why), 0);
	span_is(h.method, h.method_len, "GET");
	assert_true(cas_http_method_is(&h, "GET"));
	assert_false(cas_http_method_is(&h, "get"));
	assert_false(cas_http_method_is(&h, "GE"));
	span_is(h.target, h.target_len, "/api.php?api_key=k&serial_no=2100000000");
	assert_int_equal(h.minor, 1);
	assert_int_equal(h.keep_alive, 1);
	assert_int_equal(h.content_length, -1);
	assert_int_equal(h.chunked, 0);
	assert_int_equal(h.nheaders, 3);
	assert_null(h.api_key);

	assert_int_equal(parse("POST /cards.csv HTTP/1.1\r\ncontent-LENGTH:  42 \r\nX-Api-Key: s3cret\r\n"
			       "Content-Type: text/csv\r\nExpect: 100-Continue\r\nConnection: close\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.content_length, 42);
	span_is(h.api_key, h.api_key_len, "s3cret");
	span_is(h.content_type, h.content_type_len, "text/csv");
	assert_int_equal(h.expect_continue, 1);
	assert_int_equal(h.keep_alive, 0);

	/* the same Content-Length twice is one */
	assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.content_length, 5);
	assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.chunked, 1);

	/* persistence (RFC 9112 §9.3) */
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.minor, 0);
	assert_int_equal(h.keep_alive, 0);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.keep_alive, 1);
	assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.keep_alive, 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.keep_alive, 1);
	/* HTTP/1.2 is 1.x */
	assert_int_equal(parse("GET / HTTP/1.2\r\n\r\n", &h, &why), 0);
	/* bare LF, leading empty line, tabs around a value, empty value */
	assert_int_equal(parse("\r\nGET /x HTTP/1.1\nA:\tb \t\nB:\n\n", &h, &why), 0);
	span_is(h.target, h.target_len, "/x");
	assert_int_equal(h.nheaders, 2);
	/* raw UTF-8 in the target is kept */
	assert_int_equal(parse("GET /api?name=\xD0\x9C HTTP/1.1\r\n\r\n", &h, &why), 0);
	span_is(h.target, h.target_len, "/api?name=\xD0\x9C");
}

static void test_parse_errors(void **state)
{
	(void)state;
	struct cas_http_head h;
	const char *why;
	static const struct {
		const char *text;
		int status;
		const char *why;
	} v[] = {
		{ "GET /\r\n\r\n", 400, "malformed request line" },
		{ "GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line" },
		{ "GET / HTTP/1.1 \r\n\r\n", 400, "malformed request line" },
		{ "GET / http/1.1\r\n\r\n", 400, "malformed request line" },
		{ "GET / HTTP/11\r\n\r\n", 400, "malformed request line" },
		{ "G(T / HTTP/1.1\r\n\r\n", 400, "malformed request line" },
		{ "GET /a\x01 HTTP/1.1\r\n\r\n", 400, "malformed request line" },
		{ "GETGETGETGETGETGET / HTTP/1.1\r\n\r\n", 400, "malformed request line" },
		{ "GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported" },
		{ "GET / HTTP/0.9\r\n\r\n", 505, "HTTP version not supported" },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "malformed header" },
		{ "GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400, "malformed header" },
		{ "GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "malformed header" },
		{ "GET / HTTP/1.1\r\nA: x\r\n folded\r\n\r\n", 400, "obsolete line folding" },
		{ "GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", 400, "malformed header" },
		{ "GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n", 400, "malformed header" },
		{ "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, "invalid Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, "invalid Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "invalid Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length: 9999999999999999\r\n\r\n", 400, "invalid Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "conflicting Content-Length" },
		{ "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
		  "Content-Length and Transfer-Encoding" },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported Transfer-Encoding" },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
		  "unsupported Transfer-Encoding" },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in HTTP/1.0" },
		{ "POST / HTTP/1.1\r\nExpect: something\r\n\r\n", 417, "unsupported expectation" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		why = NULL;
		int st = parse(v[i].text, &h, &why);
		if (st != v[i].status || why == NULL || strcmp(why, v[i].why) != 0)
			fail_msg("case %zu: %d '%s', wanted %d '%s'", i, st, why ? why : "(null)",
				 v[i].status, v[i].why);
	}
	/* more than CAS_HTTP_MAX_HEADERS fields */
	char big[4096];
	size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= CAS_HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "H%d: v\r\n", i);
	snprintf(big + n, sizeof big - n, "\r\n");
	assert_int_equal(parse(big, &h, &why), 400);
	assert_string_equal(why, "too many header fields");
	/* a head cut short (the caller passes a length without the end) */
	assert_int_equal(cas_http_parse_head(S("GET / HTTP/1.1\r\nA: b"), &h, &why), 400);
	assert_int_equal(cas_http_parse_head(S("GET / HTTP/1.1"), &h, &why), 400);
}

static void split(const char *target, const char *wpath, const char *wquery)
{
	struct cas_http_head h;
	memset(&h, 0, sizeof h);
	h.target = target;
	h.target_len = strlen(target);
	const char *p, *q;
	size_t pl, ql;
	cas_http_target_split(&h, &p, &pl, &q, &ql);
	span_is(p, pl, wpath);
	if (wquery == NULL)
		assert_null(q);
	else
		span_is(q, ql, wquery);
}

static void test_target(void **state)
{
	(void)state;
	split("/api.php?api_key=x&serial_no=1", "/api.php", "api_key=x&serial_no=1");
	split("/api.php", "/api.php", NULL);
	split("/api.php?", "/api.php", "");
	split("/a?b=1#frag", "/a", "b=1");
	split("/a#f?x", "/a", NULL);
	split("http://127.0.0.1:8080/api?x=1", "/api", "x=1");
	split("http://host", "", NULL);
	split("*", "*", NULL);
}

static void test_query(void **state)
{
	(void)state;
	static const char q[] = "a=1&&b&c=&=v&set%5Bname%5D=x+y&d=1=2&";
	size_t pos = 0, nl, vl;
	const char *n, *v;
	static const char *const want[][2] = {
		{ "a", "1" }, { "b", "" }, { "c", "" }, { "", "v" }, { "set%5Bname%5D", "x+y" }, { "d", "1=2" },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(cas_http_query_next(q, strlen(q), &pos, &n, &nl, &v, &vl), 1);
		span_is(n, nl, want[i][0]);
		span_is(v, vl, want[i][1]);
	}
	assert_int_equal(cas_http_query_next(q, strlen(q), &pos, &n, &nl, &v, &vl), 0);
	pos = 0;
	assert_int_equal(cas_http_query_next("", 0, &pos, &n, &nl, &v, &vl), 0);

	char out[64];
	size_t len = cas_http_url_decode(S("%41%4a+%2B%2b%20%zz%4%"), out);
	assert_int_equal(len, 12);
	assert_memory_equal(out, "AJ ++ %zz%4%", 12);
	len = cas_http_url_decode(S("set%5Bname%5D"), out);
	assert_int_equal(len, 9);
	assert_memory_equal(out, "set[name]", 9);
	len = cas_http_url_decode(S("a%00b%D0%9C%2541"), out);
	assert_int_equal(len, 8);
	assert_memory_equal(out, "a\0b\xD0\x9C%41", 8);	/* decoded once: %2541 -> %41 */
}

struct body {
	char buf[256];
	size_t len;
	int refuse_after;
};

static int collect(void *ctx, const char *data, size_t len)
{
	struct body *b = ctx;
	if (b->refuse_after && b->len + len > (size_t)b->refuse_after)
		return -1;
	assert_true(b->len + len < sizeof b->buf);
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	return 0;
}

static void test_chunked(void **state)
{
	(void)state;
	static const char wire[] = "4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
				   "0\r\nTrailer: x\r\n\r\nNEXT";
	/* all at once */
	struct cas_http_chunked c = { 0 };
	struct body b = { .len = 0 };
	size_t used = 0;
	assert_int_equal(cas_http_chunked_feed(&c, S(wire), &used, collect, &b), 1);
	assert_int_equal(used, sizeof wire - 1 - 4);
	assert_int_equal(b.len, 23);
	assert_memory_equal(b.buf, "Wikipedia in\r\n\r\nchunks.", 23);
	/* one byte at a time */
	memset(&c, 0, sizeof c);
	memset(&b, 0, sizeof b);
	size_t i = 0;
	int rc = 0;
	while (rc == 0) {
		assert_true(i < sizeof wire - 1);
		rc = cas_http_chunked_feed(&c, wire + i, 1, &used, collect, &b);
		i += used;
	}
	assert_int_equal(rc, 1);
	assert_int_equal(i, sizeof wire - 1 - 4);
	assert_memory_equal(b.buf, "Wikipedia in\r\n\r\nchunks.", 23);
	/* bare LF line ends, upper and lower hex */
	memset(&c, 0, sizeof c);
	memset(&b, 0, sizeof b);
	assert_int_equal(cas_http_chunked_feed(&c, S("a\n0123456789\nA\nabcdefghij\n0\n\n"), &used, collect, &b), 1);
	assert_int_equal(b.len, 20);
	/* errors */
	static const char *const badv[] = {
		"G\r\n", "\r\n", "4\r\nWikiX\r\n", "4\r\nWiki\rX", "1234567890abcdef0\r\n", "4x\r\n", "4\rx",
	};
	for (size_t k = 0; k < sizeof badv / sizeof badv[0]; k++) {
		memset(&c, 0, sizeof c);
		memset(&b, 0, sizeof b);
		if (cas_http_chunked_feed(&c, badv[k], strlen(badv[k]), &used, collect, &b) != -1)
			fail_msg("case %zu accepted", k);
	}
	/* the sink refuses (body too large) */
	memset(&c, 0, sizeof c);
	memset(&b, 0, sizeof b);
	b.refuse_after = 6;
	assert_int_equal(cas_http_chunked_feed(&c, S(wire), &used, collect, &b), -1);
	/* incomplete: more needed */
	memset(&c, 0, sizeof c);
	memset(&b, 0, sizeof b);
	assert_int_equal(cas_http_chunked_feed(&c, S("4\r\nWi"), &used, collect, &b), 0);
	assert_int_equal(used, 5);
	assert_string_equal(cas_http_reason(414), "URI Too Long");
	assert_string_equal(cas_http_reason(200), "OK");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_chunked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
