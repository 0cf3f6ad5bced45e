#ifndef CAS_HTTP_H
#define CAS_HTTP_H
/*
 * HTTP/1.1 request parsing for casapid (RFC 9112), without I/O: the server
 * collects a request head, hands it to cas_http_parse_head(), then reads
 * the body by Content-Length or through the chunked decoder.  Strict where
 * a lax parser would let a request be read two ways (request smuggling):
 * no white space before a header's colon, no obs-fold, Content-Length only
 * digits and never both Content-Length and Transfer-Encoding.  Lenient
 * where it costs nothing: a bare LF ends a line like CRLF.
 */
#include <stddef.h>
#include <stdint.h>

#define CAS_HTTP_MAX_HEADERS 100

struct cas_http_head {
	const char *method;		/* points into the head buffer */
	size_t method_len;
	const char *target;		/* request-target as sent (not decoded) */
	size_t target_len;
	int minor;			/* HTTP/1.<minor>: 0 or 1 */
	int keep_alive;			/* from the version and Connection */
	int64_t content_length;		/* -1 when absent */
	int chunked;			/* Transfer-Encoding: chunked */
	int expect_continue;		/* Expect: 100-continue */
	const char *api_key;		/* X-Api-Key value, or NULL */
	size_t api_key_len;
	const char *content_type;	/* Content-Type value, or NULL */
	size_t content_type_len;
	unsigned nheaders;
};

/* Length of the head at the start of buf (request line, headers and the
 * empty line that ends them), or 0 if the empty line has not come yet.
 * Empty lines before the request line (RFC 9112 §2.2) count as part of
 * the head. */
size_t cas_http_head_end(const char *buf, size_t len);

/* Length of the request line (without its line end), or len if no line
 * end has come yet: the server's check for "URI too long". */
size_t cas_http_line_len(const char *buf, size_t len);

/* Parses a complete head (len from cas_http_head_end).  Returns 0, or the
 * HTTP status to answer (400, 417, 501, 505) with *why set, e.g.
 * "malformed request line", "Content-Length and Transfer-Encoding". */
int cas_http_parse_head(const char *buf, size_t len, struct cas_http_head *h, const char **why);

/* 1 if the method is exactly m (methods are case-sensitive). */
int cas_http_method_is(const struct cas_http_head *h, const char *m);

/* The path of the target: for "/api.php?x=1" "/api.php"; an absolute-form
 * target ("http://host/api.php?x") gives its path too.  *query gets what
 * follows '?' (up to any '#'), or NULL. */
void cas_http_target_split(const struct cas_http_head *h, const char **path, size_t *path_len,
			   const char **query, size_t *query_len);

/* Query strings ("a=1&b=%41+c").  cas_http_query_next() returns 1 with the
 * next non-empty "name[=value]" pair (not decoded) and advances *pos, or 0
 * at the end.  Pairs are separated by '&' only. */
int cas_http_query_next(const char *q, size_t len, size_t *pos, const char **name,
			size_t *name_len, const char **value, size_t *value_len);

/* Form decoding, once: "+" is a space, "%XX" (either case) a byte; a '%'
 * not followed by two hex digits stays as it is (as PHP's urldecode keeps
 * it).  Writes at most n bytes to out (decoding never grows); returns the
 * length. */
size_t cas_http_url_decode(const char *s, size_t n, char *out);

/* Chunked transfer coding (RFC 9112 §7.1), fed in pieces. */
struct cas_http_chunked {
	int state;
	uint64_t left;		/* bytes left in the current chunk */
	unsigned digits;	/* size digits read */
	size_t line;		/* bytes of the current extension or trailer line */
};

typedef int cas_http_data_fn(void *ctx, const char *data, size_t len);

/* Feeds n bytes.  Body data goes to emit (which returns 0, or -1 to stop).
 * *used gets the bytes consumed.  Returns 0 when more input is needed, 1
 * when the body (and its trailers) ended — bytes after it are not
 * consumed — or -1 for a malformed body or a refusal by emit. */
int cas_http_chunked_feed(struct cas_http_chunked *c, const char *in, size_t n, size_t *used,
			  cas_http_data_fn *emit, void *ctx);

/* The reason phrase of a status code ("OK", "Not Found", ...). */
const char *cas_http_reason(int status);

#endif
