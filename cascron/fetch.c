/* The billing CSV from a path, standard input, or a URL (libcurl): TLS
 * verification on, redirects bounded and never to file://, one time limit
 * for the whole transfer, a size limit, and a conditional request
 * (If-None-Match / If-Modified-Since) so that an unchanged file is not
 * downloaded again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cascron.h"
#include "cli.h"
#include "hex.h"

#define MAX_REDIRECTS 5L

int fetch_kind(const char *src, enum fetch_kind *kind, char *err, size_t errsize)
{
	static const char *const schemes[] = { "http://", "https://", "file://" };
	if (strcmp(src, "-") == 0) {
		*kind = FETCH_STDIN;
		return 0;
	}
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		if (strncasecmp(src, schemes[i], strlen(schemes[i])) == 0) {
			*kind = FETCH_URL;
			return 0;
		}
	}
	/* "ftp://x", "scp://x": a scheme (letters, digits, + - .) then "://" */
	const char *p = src;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '+' || *p == '-' || *p == '.')
		p++;
	if (p > src && strncmp(p, "://", 3) == 0) {
		snprintf(err, errsize, "unsupported URL scheme '%.*s' (use a path, file://, http:// or https://)",
			 (int)(p - src), src);
		return -1;
	}
	*kind = FETCH_PATH;
	return 0;
}

void fetch_redact(const char *src, char *out, size_t size)
{
	const char *p = strstr(src, "://");
	if (p == NULL || size == 0) {
		snprintf(out, size, "%s", src);
		return;
	}
	const char *auth = p + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (const char *q = auth; q < auth + alen; q++)
		if (*q == '@')
			at = q;
	const char *host = at ? at + 1 : auth;
	const char *rest = auth + alen;
	size_t plen = strcspn(rest, "?#");
	char user[256] = "";
	if (at) {
		size_t ulen = strcspn(auth, ":@");
		if (ulen > sizeof user - 1)
			ulen = sizeof user - 1;
		/* keep the user name, never the password */
		snprintf(user, sizeof user, "%.*s%s@", (int)ulen, auth,
			 auth[strcspn(auth, ":@")] == ':' ? ":***" : "");
	}
	snprintf(out, size, "%.*s%s%.*s%.*s%s", (int)(auth - src), src, user,
		 (int)(auth + alen - host), host, (int)plen, rest, rest[plen] == '?' ? "?***" : "");
}

void fetch_state_key(const char *src, char *out, size_t size)
{
	uint8_t h[16];
	char hex[33];
	crypto_generichash(h, sizeof h, (const unsigned char *)src, strlen(src), NULL, 0);
	cas_hex_encode_lower(h, sizeof h, hex);
	snprintf(out, size, "cascron.source.%s", hex);
}

void fetch_state_format(const struct fetch_state *st, const char *redacted, char *out, size_t size)
{
	snprintf(out, size, "source %s\nimported %lld\netag %s\nlast-modified %s\nblake2b %s\n",
		 redacted, (long long)st->imported, st->etag, st->last_modified, st->hash);
}

int fetch_state_parse(const char *text, struct fetch_state *st)
{
	memset(st, 0, sizeof *st);
	while (*text) {
		size_t n = strcspn(text, "\n");
		const char *sp = memchr(text, ' ', n);
		if (sp) {
			size_t k = (size_t)(sp - text), vlen = n - k - 1;
			const char *v = sp + 1;
			if (k == 4 && memcmp(text, "etag", 4) == 0 && vlen < sizeof st->etag)
				snprintf(st->etag, sizeof st->etag, "%.*s", (int)vlen, v);
			else if (k == 13 && memcmp(text, "last-modified", 13) == 0 && vlen < sizeof st->last_modified)
				snprintf(st->last_modified, sizeof st->last_modified, "%.*s", (int)vlen, v);
			else if (k == 7 && memcmp(text, "blake2b", 7) == 0 && vlen == FETCH_HASH_SIZE - 1)
				snprintf(st->hash, sizeof st->hash, "%.*s", (int)vlen, v);
			else if (k == 8 && memcmp(text, "imported", 8) == 0)
				st->imported = strtoll(v, NULL, 10);
		}
		text += n;
		if (*text == '\n')
			text++;
	}
	return 0;
}

/* ---- the body ---- */

struct body {
	char *p;
	size_t len, cap;
	long long max;
	int too_big, oom;
};

static int body_add(struct body *b, const char *data, size_t n)
{
	if ((long long)(b->len + n) > b->max) {
		b->too_big = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int body_error(const struct body *b, char *err, size_t errsize)
{
	if (b->too_big)
		snprintf(err, errsize, "larger than billing.max_bytes (%lld bytes)", b->max);
	else
		snprintf(err, errsize, "out of memory");
	return -1;
}

static int read_fd(int fd, struct body *b, char *err, size_t errsize)
{
	char buf[65536];
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "%s", strerror(EISDIR));
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errsize, "%s", strerror(errno));
			return -1;
		}
		if (body_add(b, buf, (size_t)n) < 0)
			return body_error(b, err, errsize);
	}
	if (b->p == NULL && body_add(b, "", 0) < 0)
		return body_error(b, err, errsize);
	return 0;
}

/* ---- URLs ---- */

struct hdr {
	struct fetch_state *st;
	char status[160];	/* the last status line, e.g. "HTTP/1.1 404 Not Found" */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct body *b = ctx;
	size_t n = size * nmemb;
	return body_add(b, data, n) < 0 ? 0 : n;
}

/* Copies a header value without the white space around it; a value that
 * does not fit is dropped (a cut ETag would never match). */
static void header_value(char *out, size_t size, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= size)
		n = 0;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct hdr *h = ctx;
	size_t n = size * nmemb;
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* a new response (after a redirect): forget the previous one's */
		h->st->etag[0] = '\0';
		h->st->last_modified[0] = '\0';
		header_value(h->status, sizeof h->status, data, n);
		return n;
	}
	const char *colon = memchr(data, ':', n);
	if (colon == NULL)
		return n;
	size_t k = (size_t)(colon - data);
	if (k == 4 && strncasecmp(data, "etag", 4) == 0)
		header_value(h->st->etag, sizeof h->st->etag, colon + 1, n - k - 1);
	else if (k == 13 && strncasecmp(data, "last-modified", 13) == 0)
		header_value(h->st->last_modified, sizeof h->st->last_modified, colon + 1, n - k - 1);
	return n;
}

static int fetch_url(const char *url, const struct fetch_opts *o, struct fetch_result *res,
		     struct body *b, char *err, size_t errsize)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	char line[FETCH_ETAG_SIZE + 32];
	struct curl_slist *headers = NULL, *l;
	struct hdr h = { &res->st, "" };
	int ret = -1;
	CURL *c = curl_easy_init();
	if (c == NULL) {
		snprintf(err, errsize, "unable to start libcurl");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cascron/" CAS_VERSION " (FreeCAS)");
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	if (o->prev && o->prev->etag[0]) {
		snprintf(line, sizeof line, "If-None-Match: %s", o->prev->etag);
		if ((l = curl_slist_append(headers, line)) == NULL)
			goto oom;
		headers = l;
	}
	if (o->prev && o->prev->last_modified[0]) {
		snprintf(line, sizeof line, "If-Modified-Since: %s", o->prev->last_modified);
		if ((l = curl_slist_append(headers, line)) == NULL)
			goto oom;
		headers = l;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->http_code);
	if (rc == CURLE_WRITE_ERROR && (b->too_big || b->oom)) {
		body_error(b, err, errsize);
		goto out;
	}
	if (rc == CURLE_FILESIZE_EXCEEDED) {
		b->too_big = 1;
		body_error(b, err, errsize);
		goto out;
	}
	if (rc != CURLE_OK) {
		snprintf(err, errsize, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	if (res->http_code == 304) {
		res->outcome = FETCH_NOT_MODIFIED;
		/* a 304 may omit the validators: keep the ones we sent */
		if (o->prev && res->st.etag[0] == '\0')
			memcpy(res->st.etag, o->prev->etag, sizeof res->st.etag);
		if (o->prev && res->st.last_modified[0] == '\0')
			memcpy(res->st.last_modified, o->prev->last_modified, sizeof res->st.last_modified);
		ret = 0;
		goto out;
	}
	/* file:// has no status code */
	if (res->http_code != 200 && res->http_code != 0) {
		const char *reason = h.status;
		/* "HTTP/1.1 404 Not Found" -> "404 Not Found" */
		const char *sp = strchr(reason, ' ');
		snprintf(err, errsize, "HTTP %s (expected 200)", sp ? sp + 1 : reason);
		goto out;
	}
	if (b->p == NULL && body_add(b, "", 0) < 0) {
		body_error(b, err, errsize);
		goto out;
	}
	ret = 0;
	goto out;
oom:
	snprintf(err, errsize, "out of memory");
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return ret;
}

int fetch_source(const char *src, const struct fetch_opts *o, struct fetch_result *res,
		 char *err, size_t errsize)
{
	struct body b = { NULL, 0, 0, o->max_bytes, 0, 0 };
	enum fetch_kind kind;
	int r;
	memset(res, 0, sizeof *res);
	if (fetch_kind(src, &kind, err, errsize) < 0)
		return -1;
	if (kind == FETCH_URL) {
		r = fetch_url(src, o, res, &b, err, errsize);
	} else if (kind == FETCH_STDIN) {
		r = read_fd(0, &b, err, errsize);
	} else {
		int fd = open(src, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errsize, "%s", strerror(errno));
			return -1;
		}
		r = read_fd(fd, &b, err, errsize);
		close(fd);
	}
	if (r < 0 || res->outcome == FETCH_NOT_MODIFIED) {
		free(b.p);
		return r;
	}
	uint8_t h[32];
	crypto_generichash(h, sizeof h, (const unsigned char *)b.p, b.len, NULL, 0);
	cas_hex_encode_lower(h, sizeof h, res->st.hash);
	res->body = b.p;
	res->len = b.len;
	res->outcome = FETCH_BODY;
	return 0;
}

void fetch_result_free(struct fetch_result *res)
{
	if (res->body) {
		free(res->body);
		res->body = NULL;
	}
	res->len = 0;
}
