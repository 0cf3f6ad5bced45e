/* HTTP/1.1 request parsing (see http.h). */
#include "http.h"

#include <string.h>
#include <strings.h>

#include "hex.h"

/* RFC 9110 §5.6.2 tchar */
static int is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

size_t cas_http_head_end(const char *buf, size_t len)
{
	size_t i = 0;
	/* RFC 9112 §2.2: ignore at least one empty line before the request line. */
	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		if (nl == NULL)
			return 0;
		size_t next = (size_t)(nl - buf) + 1;
		if (next < len && buf[next] == '\n')
			return next + 1;
		if (next + 1 < len && buf[next] == '\r' && buf[next + 1] == '\n')
			return next + 2;
		if (next + 1 >= len)
			return 0;
		i = next;
	}
	return 0;
}

size_t cas_http_line_len(const char *buf, size_t len)
{
	size_t i = 0;
	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	const char *nl = memchr(buf + i, '\n', len - i);
	if (nl == NULL)
		return len;
	size_t n = (size_t)(nl - (buf + i));
	if (n > 0 && buf[i + n - 1] == '\r')
		n--;
	return n;
}

static int lower_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Does the comma-separated list s contain the token lit (any case)? */
static int list_has(const char *s, size_t n, const char *lit)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		size_t e = j;
		while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (lower_eq(s + i, e - i, lit))
			return 1;
		i = j;
	}
	return 0;
}

static int bad(const char **why, const char *reason, int status)
{
	*why = reason;
	return status;
}

int cas_http_parse_head(const char *buf, size_t len, struct cas_http_head *h, const char **why)
{
	size_t i = 0;
	int conn_close = 0, conn_keep = 0, has_te = 0;
	memset(h, 0, sizeof *h);
	h->content_length = -1;
	*why = "";
	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;

	/* request-line = method SP request-target SP HTTP-version */
	size_t m = i;
	while (i < len && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == m || i >= len || buf[i] != ' ' || i - m > 16)
		return bad(why, "malformed request line", 400);
	h->method = buf + m;
	h->method_len = i - m;
	size_t t = ++i;
	while (i < len && (unsigned char)buf[i] > 0x20 && buf[i] != 0x7F)
		i++;
	if (i == t || i >= len || buf[i] != ' ')
		return bad(why, "malformed request line", 400);
	h->target = buf + t;
	h->target_len = i - t;
	i++;
	if (len - i < 8 || memcmp(buf + i, "HTTP/", 5) != 0 || buf[i + 5] < '0' || buf[i + 5] > '9' ||
	    buf[i + 6] != '.' || buf[i + 7] < '0' || buf[i + 7] > '9')
		return bad(why, "malformed request line", 400);
	if (buf[i + 5] != '1')
		return bad(why, "HTTP version not supported", 505);
	h->minor = buf[i + 7] - '0';
	i += 8;
	if (i < len && buf[i] == '\r')
		i++;
	if (i >= len || buf[i] != '\n')
		return bad(why, "malformed request line", 400);
	i++;

	/* header-field = field-name ":" OWS field-value OWS */
	for (;;) {
		if (i >= len)
			return bad(why, "malformed header", 400);
		if (buf[i] == '\n' || (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n'))
			break;	/* the empty line */
		if (buf[i] == ' ' || buf[i] == '\t')
			return bad(why, "obsolete line folding", 400);
		if (++h->nheaders > CAS_HTTP_MAX_HEADERS)
			return bad(why, "too many header fields", 400);
		size_t n = i;
		while (i < len && is_tchar((unsigned char)buf[i]))
			i++;
		if (i == n || i >= len || buf[i] != ':')
			return bad(why, "malformed header", 400);
		size_t name_len = i - n;
		const char *name = buf + n;
		i++;
		while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		size_t v = i;
		while (i < len && buf[i] != '\n') {
			unsigned char c = (unsigned char)buf[i];
			if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F)
				return bad(why, "malformed header", 400);
			if (c == '\r' && (i + 1 >= len || buf[i + 1] != '\n'))
				return bad(why, "malformed header", 400);
			i++;
		}
		if (i >= len)
			return bad(why, "malformed header", 400);
		size_t e = i;
		i++;
		if (e > v && buf[e - 1] == '\r')
			e--;
		while (e > v && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
			e--;
		const char *val = buf + v;
		size_t vlen = e - v;

		if (lower_eq(name, name_len, "content-length")) {
			int64_t cl = 0;
			if (vlen == 0 || vlen > 15)
				return bad(why, "invalid Content-Length", 400);
			for (size_t k = 0; k < vlen; k++) {
				if (val[k] < '0' || val[k] > '9')
					return bad(why, "invalid Content-Length", 400);
				cl = cl * 10 + (val[k] - '0');
			}
			if (h->content_length >= 0 && h->content_length != cl)
				return bad(why, "conflicting Content-Length", 400);
			h->content_length = cl;
		} else if (lower_eq(name, name_len, "transfer-encoding")) {
			if (has_te || !lower_eq(val, vlen, "chunked"))
				return bad(why, "unsupported Transfer-Encoding", 501);
			has_te = 1;
			h->chunked = 1;
		} else if (lower_eq(name, name_len, "connection")) {
			conn_close |= list_has(val, vlen, "close");
			conn_keep |= list_has(val, vlen, "keep-alive");
		} else if (lower_eq(name, name_len, "expect")) {
			if (!lower_eq(val, vlen, "100-continue"))
				return bad(why, "unsupported expectation", 417);
			h->expect_continue = 1;
		} else if (lower_eq(name, name_len, "x-api-key")) {
			h->api_key = val;
			h->api_key_len = vlen;
		} else if (lower_eq(name, name_len, "content-type")) {
			h->content_type = val;
			h->content_type_len = vlen;
		}
	}
	if (h->chunked && h->content_length >= 0)
		return bad(why, "Content-Length and Transfer-Encoding", 400);
	if (h->chunked && h->minor == 0)
		return bad(why, "Transfer-Encoding in HTTP/1.0", 400);
	/* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with keep-alive. */
	h->keep_alive = h->minor >= 1 ? !conn_close : conn_keep && !conn_close;
	return 0;
}

int cas_http_method_is(const struct cas_http_head *h, const char *m)
{
	return h->method_len == strlen(m) && memcmp(h->method, m, h->method_len) == 0;
}

void cas_http_target_split(const struct cas_http_head *h, const char **path, size_t *path_len,
			   const char **query, size_t *query_len)
{
	const char *t = h->target;
	size_t n = h->target_len;
	/* absolute-form: skip "scheme://authority" */
	const char *sep = memchr(t, ':', n);
	if (n > 0 && t[0] != '/' && sep != NULL && (size_t)(sep - t) + 3 <= n &&
	    sep[1] == '/' && sep[2] == '/') {
		const char *a = sep + 3;
		const char *end = t + n;
		while (a < end && *a != '/' && *a != '?' && *a != '#')
			a++;
		n = (size_t)(end - a);
		t = a;
	}
	const char *hash = memchr(t, '#', n);
	if (hash != NULL)
		n = (size_t)(hash - t);
	const char *q = memchr(t, '?', n);
	*path = t;
	*path_len = q ? (size_t)(q - t) : n;
	*query = q ? q + 1 : NULL;
	*query_len = q ? n - *path_len - 1 : 0;
}

int cas_http_query_next(const char *q, size_t len, size_t *pos, const char **name,
			size_t *name_len, const char **value, size_t *value_len)
{
	while (*pos < len) {
		size_t s = *pos;
		const char *amp = memchr(q + s, '&', len - s);
		size_t e = amp ? (size_t)(amp - q) : len;
		*pos = amp ? e + 1 : len;
		if (e == s)
			continue;	/* "a=1&&b=2" */
		const char *eq = memchr(q + s, '=', e - s);
		*name = q + s;
		*name_len = eq ? (size_t)(eq - (q + s)) : e - s;
		*value = eq ? eq + 1 : q + e;
		*value_len = eq ? (size_t)(q + e - (eq + 1)) : 0;
		return 1;
	}
	return 0;
}

size_t cas_http_url_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
			   (hi = cas_hex_digit((unsigned char)s[i + 1])) >= 0 &&
			   (lo = cas_hex_digit((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	return o;
}

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER,
       CH_TRAILER_LF, CH_DONE };

/* Extension and trailer lines are skipped; bound them all the same. */
#define CH_MAX_LINE 4096

int cas_http_chunked_feed(struct cas_http_chunked *c, const char *in, size_t n, size_t *used,
			  cas_http_data_fn *emit, void *ctx)
{
	size_t i = 0;
	int ret = 0;
	while (i < n && c->state != CH_DONE) {
		char ch = in[i];
		switch (c->state) {
		case CH_SIZE: {
			int d = cas_hex_digit((unsigned char)ch);
			if (d >= 0) {
				if (++c->digits > 15)
					goto fail;
				c->left = c->left << 4 | (uint64_t)d;
				i++;
				break;
			}
			if (c->digits == 0)
				goto fail;
			if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = CH_EXT;
				c->line = 0;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch == '\n') {
				c->state = c->left ? CH_DATA : CH_TRAILER;
				c->line = 0;
			} else {
				goto fail;
			}
			i++;
			break;
		}
		case CH_EXT:
			if (ch == '\n') {
				c->state = c->left ? CH_DATA : CH_TRAILER;
				c->line = 0;
			} else if (++c->line > CH_MAX_LINE) {
				goto fail;
			}
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				goto fail;
			c->state = c->left ? CH_DATA : CH_TRAILER;
			c->line = 0;
			i++;
			break;
		case CH_DATA: {
			size_t k = n - i;
			if (k > c->left)
				k = (size_t)c->left;
			if (emit(ctx, in + i, k) < 0)
				goto fail;
			i += k;
			c->left -= k;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch == '\r')
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE, c->digits = 0;
			else
				goto fail;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				goto fail;
			c->state = CH_SIZE;
			c->digits = 0;
			i++;
			break;
		case CH_TRAILER:
			/* c->line = bytes of this trailer line so far */
			if (ch == '\n') {
				if (c->line == 0) {
					c->state = CH_DONE;
				} else {
					c->line = 0;
				}
			} else if (ch == '\r') {
				c->state = CH_TRAILER_LF;
			} else if (++c->line > CH_MAX_LINE) {
				goto fail;
			}
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				goto fail;
			c->state = c->line == 0 ? CH_DONE : CH_TRAILER;
			c->line = 0;
			i++;
			break;
		default:
			goto fail;
		}
	}
	*used = i;
	if (c->state == CH_DONE)
		ret = 1;
	return ret;
fail:
	*used = i;
	return -1;
}

const char *cas_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
