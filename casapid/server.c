/* casapid's HTTP/1.1 connections (see casapid.h).
 *
 * libevent 2.1's evhttp (Debian 12) has no connection cap, only an
 * inactivity timeout (a client sending one byte every few seconds holds a
 * connection for ever) and no way to learn that a connection closed before
 * its first request; so casapid reads requests itself on bufferevents and
 * parses them with libcas/http.c (fuzzed).  Each connection is a small
 * state machine: head -> body -> busy (answer being made) -> writing ->
 * head again (keep-alive) or closed.  Deadlines: the head must be complete
 * within api.timeout seconds of the connection opening or of the previous
 * answer (so an idle keep-alive connection closes after api.timeout too),
 * and the body within api.timeout seconds of the head. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "casapid.h"
#include "log.h"

static void conn_process(struct conn *c);

int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void conn_free(struct conn *c)
{
	struct app *a = c->app;
	if (c->job != NULL)
		c->job->conn = NULL;	/* the worker's answer will be dropped */
	api_held_release(c);	/* a held-back answer is not sent */
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->nconn--;
	if (c->timer)
		event_free(c->timer);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->body)
		evbuffer_free(c->body);
	free(c->head);
	free(c);
	if (a->stopping && a->nconn == 0)
		event_base_loopexit(a->base, NULL);
}

static void timer_arm(struct conn *c, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
}

/* Back to waiting for a request head (new connection, or after an answer). */
static void conn_reset(struct conn *c)
{
	free(c->head);
	c->head = NULL;
	c->head_len = 0;
	memset(&c->h, 0, sizeof c->h);
	if (c->body) {
		evbuffer_free(c->body);
		c->body = NULL;
	}
	memset(&c->chunk, 0, sizeof c->chunk);
	c->body_left = 0;
	c->too_big = 0;
	c->logx[0] = '\0';
	c->ep = EP_OTHER;
	c->state = C_HEAD;
	timer_arm(c, (long)c->app->set.timeout_s * 1000);
}

static const char *date_header(struct app *a)
{
	time_t now = time(NULL);
	if (now != a->date_at) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(a->date, sizeof a->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		a->date_at = now;
	}
	return a->date;
}

/* The status line and header fields of an answer into h; returns the length. */
static size_t format_head(struct conn *c, char *h, size_t size, int status, const char *ctype,
			  size_t len, const char *extra_headers)
{
	struct app *a = c->app;
	int keep = c->keep_alive && !c->close_after && !a->stopping;
	c->close_after = !keep;
	int n = snprintf(h, size, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
			 status, cas_http_reason(status), date_header(a), ctype, len,
			 extra_headers ? extra_headers : "",
			 !keep ? "Connection: close\r\n"
			       : c->h.minor == 0 ? "Connection: keep-alive\r\n" : "");
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static void respond_done(struct conn *c, int status, const char *result, size_t len)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - c->t0.tv_sec) + (double)(t1.tv_nsec - c->t0.tv_nsec) / 1e9;
	api_note_response(c, status, result, len, secs);
	c->state = C_WRITING;
	evtimer_del(c->timer);
}

/* The answer is out: the next request, or the end of the connection (from
 * a timer, so that no caller is left holding a freed connection). */
static void after_write(struct conn *c)
{
	if (c->close_after) {
		c->state = C_BUSY;
		c->drop = 1;
		timer_arm(c, 0);
		return;
	}
	conn_reset(c);
}

void conn_respond(struct conn *c, int status, const char *result, const char *ctype,
		  const char *body, size_t len, const char *extra_headers)
{
	char head[1024];
	size_t hn = format_head(c, head, sizeof head, status, ctype, len, extra_headers);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	respond_done(c, status, result, len);
	/* Most answers are small and the socket has room: send at once,
	 * without arming a write event (two epoll_ctl calls per answer). */
	size_t sent = 0;
	if (evbuffer_get_length(out) == 0) {
		struct iovec iov[2] = { { head, hn }, { (void *)(uintptr_t)body, len } };
		struct msghdr msg;
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = iov;
		msg.msg_iovlen = len ? 2 : 1;
		ssize_t w = sendmsg(bufferevent_getfd(c->bev), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			c->close_after = 1;	/* the client has gone */
			after_write(c);
			return;
		}
		sent = w > 0 ? (size_t)w : 0;
		if (sent == hn + len) {
			after_write(c);
			return;
		}
	}
	if (sent < hn)
		evbuffer_add(out, head + sent, hn - sent);
	size_t bs = sent > hn ? sent - hn : 0;
	evbuffer_add(out, body + bs, len - bs);
}

static void free_body(const void *data, size_t len, void *extra)
{
	(void)extra;
	sodium_memzero((void *)(uintptr_t)data, len);
	free((void *)(uintptr_t)data);
}

/* The same with a malloc'd body that the connection takes over (a CSV
 * export can be large: it is sent without a copy, then wiped). */
void conn_respond_buffer(struct conn *c, int status, const char *result, const char *ctype,
			 char *body, size_t len, const char *extra_headers)
{
	char head[1024];
	size_t hn = format_head(c, head, sizeof head, status, ctype, len, extra_headers);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add(out, head, hn);
	if (len == 0 || evbuffer_add_reference(out, body, len, free_body, NULL) < 0)
		free(body);
	respond_done(c, status, result, len);
}

/* A protocol error: answer and close. */
static void conn_fail(struct conn *c, int status, const char *code)
{
	char b[64];
	int n = snprintf(b, sizeof b, "%s", code);
	c->close_after = 1;
	if (c->t0.tv_sec == 0)
		clock_gettime(CLOCK_MONOTONIC, &c->t0);
	conn_respond(c, status, code, "text/plain; charset=utf-8", b, (size_t)n, NULL);
}

void conn_hold(struct conn *c, long ms)
{
	c->state = C_BUSY;
	c->badkey_wait = 1;
	timer_arm(c, ms);
}

static void dispatch(struct conn *c)
{
	c->state = C_BUSY;
	evtimer_del(c->timer);
	c->keep_alive = c->h.keep_alive;
	api_request(c);
}

static int body_emit(void *ctx, const char *data, size_t len)
{
	struct conn *c = ctx;
	if (evbuffer_get_length(c->body) + len > c->app->set.max_body) {
		c->too_big = 1;
		return -1;
	}
	return evbuffer_add(c->body, data, len);
}

static void read_head(struct conn *c)
{
	struct app *a = c->app;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < a->set.max_head ? avail : a->set.max_head;
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	if (p == NULL)
		return;
	size_t end = cas_http_head_end(p, n);
	size_t line = cas_http_line_len(p, end ? end : n);
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	if (line > a->set.max_url) {
		conn_fail(c, 414, "URI_TOO_LONG");
		return;
	}
	if (end == 0) {
		if (n >= a->set.max_head)
			conn_fail(c, 431, "HEADERS_TOO_LARGE");
		return;	/* wait for more */
	}
	c->head = malloc(end);
	if (c->head == NULL) {
		conn_fail(c, 500, "INTERNAL_ERROR");
		return;
	}
	evbuffer_remove(in, c->head, end);
	c->head_len = end;
	const char *why;
	int st = cas_http_parse_head(c->head, end, &c->h, &why);
	if (st != 0) {
		snprintf(c->logx, sizeof c->logx, " reason=\"%s\"", why);
		memset(&c->h, 0, sizeof c->h);
		conn_fail(c, st, st == 505 ? "HTTP_VERSION_NOT_SUPPORTED" : st == 501 ? "NOT_IMPLEMENTED"
			  : st == 417 ? "EXPECTATION_FAILED" : "BAD_REQUEST");
		return;
	}
	if (c->h.content_length > 0 || c->h.chunked) {
		if (c->h.content_length > (int64_t)a->set.max_body) {
			conn_fail(c, 413, "BODY_TOO_LARGE");
			return;
		}
		c->body = evbuffer_new();
		if (c->body == NULL) {
			conn_fail(c, 500, "INTERNAL_ERROR");
			return;
		}
		c->body_left = c->h.chunked ? 0 : c->h.content_length;
		c->state = C_BODY;
		timer_arm(c, (long)a->set.timeout_s * 1000);
		if (c->h.expect_continue)
			evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
		return;
	}
	dispatch(c);
}

static void read_body(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t avail = evbuffer_get_length(in);
	if (avail == 0)
		return;
	if (!c->h.chunked) {
		size_t k = avail < (size_t)c->body_left ? avail : (size_t)c->body_left;
		evbuffer_remove_buffer(in, c->body, k);
		c->body_left -= (int64_t)k;
		if (c->body_left == 0)
			dispatch(c);
		return;
	}
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)avail);
	size_t used = 0;
	int rc = cas_http_chunked_feed(&c->chunk, p, avail, &used, body_emit, c);
	evbuffer_drain(in, used);
	if (rc < 0) {
		if (c->too_big)
			conn_fail(c, 413, "BODY_TOO_LARGE");
		else
			conn_fail(c, 400, "BAD_REQUEST");
	} else if (rc == 1) {
		dispatch(c);
	}
}

/* Reads requests while there is input and progress: an answer sent at
 * once puts the connection back in C_HEAD, and a pipelined request may
 * already be waiting. */
static void conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	for (;;) {
		enum conn_state before = c->state;
		size_t len = evbuffer_get_length(in);
		if (c->state == C_HEAD)
			read_head(c);
		else if (c->state == C_BODY)
			read_body(c);
		else
			break;
		if (c->state == before && evbuffer_get_length(in) == len)
			break;
		if (evbuffer_get_length(in) == 0 && c->state == C_HEAD)
			break;
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->state != C_WRITING || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->close_after) {
		conn_free(c);
		return;
	}
	conn_reset(c);
	/* a pipelined request may already be waiting */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		conn_process(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		/* A client that half-closes after its request still gets the
		 * answer; one that leaves with nothing pending is gone. */
		if ((what & BEV_EVENT_EOF) && (c->state == C_BUSY || c->state == C_WRITING) &&
		    !(what & BEV_EVENT_WRITING) && !c->drop) {
			c->close_after = 1;
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		conn_free(c);
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->drop) {
		conn_free(c);
		return;
	}
	if (c->state == C_BUSY && c->badkey_wait) {
		api_held_answer(c);
		return;
	}
	if (c->state == C_HEAD && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		conn_free(c);	/* idle: close quietly */
		return;
	}
	if (c->state == C_HEAD || c->state == C_BODY) {
		evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
		conn_fail(c, 408, "REQUEST_TIMEOUT");
	}
}

static void addr_text(const struct sockaddr *sa, char *out, size_t size)
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)size);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)size);
		else
			inet_ntop(AF_INET6, a6, out, (socklen_t)size);
	} else {
		snprintf(out, size, "unknown");
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct app *a = arg;
	(void)l;
	(void)salen;
	char addr[64];
	addr_text(sa, addr, sizeof addr);
	if (a->stopping || a->nconn >= a->set.max_connections) {
		/* Over the cap: a short answer, not a queue that grows. */
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; "
					   "charset=utf-8\r\nContent-Length: 19\r\nConnection: close\r\n"
					   "\r\nSERVICE_UNAVAILABLE";
		ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
		close(fd);
		a->m.connections_refused++;
		time_t now = time(NULL);
		if (now != a->refused_log_at) {
			a->refused_log_at = now;
			cas_log(CAS_LOG_WARN, "connection limit %u reached: refused %s",
				a->set.max_connections, addr);
		}
		return;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		return;
	}
	c->app = a;
	c->badkey_slot = -1;
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	c->bev = bufferevent_socket_new(a->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(a->base, timer_cb, c);
	c->next = a->conns;
	if (a->conns)
		a->conns->prev = c;
	a->conns = c;
	a->nconn++;
	if (c->bev == NULL || c->timer == NULL) {
		if (c->bev == NULL)
			close(fd);
		conn_free(c);
		return;
	}
	struct timeval wt = { a->set.timeout_s, 0 };
	bufferevent_set_timeouts(c->bev, NULL, &wt);	/* a client that does not read */
	/* Reading stays on (no epoll_ctl per request); what a client sends
	 * ahead while its answer is being made waits, up to this much. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, a->set.max_head + 65536);
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	conn_reset(c);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	cas_log(CAS_LOG_WARN, "accept: %s", strerror(errno));
}

int server_listen(struct app *a)
{
	char host[256], port_s[8];
	uint16_t port;
	if (cas_conf_hostport(&a->conf, "api.listen", host, sizeof host, &port) < 0) {
		cas_log(CAS_LOG_FATAL, "api.listen: invalid address");
		return -1;
	}
	snprintf(port_s, sizeof port_s, "%u", port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int e = getaddrinfo(host, port_s, &hints, &res);
	if (e != 0) {
		cas_log(CAS_LOG_FATAL, "unable to resolve %s: %s", host, gai_strerror(e));
		return -1;
	}
	a->listener = evconnlistener_new_bind(a->base, accept_cb, a,
					      LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
					      LEV_OPT_CLOSE_ON_EXEC, 1024, res->ai_addr,
					      (int)res->ai_addrlen);
	int err = errno;
	freeaddrinfo(res);
	if (a->listener == NULL) {
		cas_log(CAS_LOG_FATAL, "unable to bind %s: %s", cas_conf_str(&a->conf, "api.listen"),
			strerror(err));
		return -1;
	}
	evconnlistener_set_error_cb(a->listener, accept_error_cb);
	return 0;
}

/* SIGTERM: no new connections; idle ones close now, the others after their
 * answer; the loop ends when the last one has gone (or after api.timeout). */
void server_stop(struct app *a)
{
	if (a->listener) {
		evconnlistener_free(a->listener);
		a->listener = NULL;
	}
	struct conn *c = a->conns;
	while (c != NULL) {
		struct conn *next = c->next;
		c->close_after = 1;
		if (c->state == C_HEAD && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
			conn_free(c);
		else if (c->state == C_BUSY && c->badkey_wait)
			api_held_answer(c);
		c = next;
	}
	if (a->nconn == 0)
		event_base_loopexit(a->base, NULL);
}
