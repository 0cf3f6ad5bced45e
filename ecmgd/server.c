/* ecmgd: the TCP side: listening, connections, reads, writes, timeouts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "ecmgd.h"
#include "log.h"

/* Output a connection may have waiting before ecmgd stops reading its
 * requests (a scrambler that does not read its ECMs must not make ecmgd
 * buffer without end), and the level at which reading resumes. */
#define OUT_HIGH (1u << 20)
#define OUT_LOW (256u << 10)
/* How long a connection being closed may take to flush its last replies. */
#define CLOSE_FLUSH_SECONDS 5
/* How long an idle SCS has to answer our channel_test. */
#define PROBE_WAIT_SECONDS 30

static void conn_destroy(struct conn *c, const char *why);

/* The wall clock (the ECM time cards compare with their subscription).
 * Not libevent's cached time: it derives from the monotonic clock and may
 * trail the real one by a little at a second boundary. */
static int64_t now_s(struct ecmgd *d)
{
	struct timespec ts;
	(void)d;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* Seconds for the idle and close timers: a clock that no one sets. */
static int64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- output ---- */

/* Sends len bytes: straight to the socket when nothing is waiting, the
 * rest into the pending buffer (then the write event drains it). */
static void conn_send(struct conn *c, const uint8_t *p, size_t len)
{
	if (c->dead || len == 0)
		return;
	if (c->pending == NULL || evbuffer_get_length(c->pending) == 0) {
		ssize_t n;
		do
			n = send(c->fd, p, len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			cas_log(CAS_LOG_INFO, "%s: unable to send: %s", c->ec.peer, strerror(errno));
			c->dead = 1;
			return;
		}
		if (n < 0)
			n = 0;
		p += n;
		len -= (size_t)n;
		if (len == 0)
			return;
	}
	if (c->pending == NULL && (c->pending = evbuffer_new()) == NULL) {
		cas_log(CAS_LOG_ERROR, "%s: out of memory for replies", c->ec.peer);
		c->dead = 1;
		return;
	}
	if (evbuffer_add(c->pending, p, len) < 0) {
		cas_log(CAS_LOG_ERROR, "%s: out of memory for replies", c->ec.peer);
		c->dead = 1;
		return;
	}
	event_add(c->wev, NULL);
	if (!c->read_paused && evbuffer_get_length(c->pending) > OUT_HIGH) {
		c->read_paused = 1;
		event_del(c->rev);
	}
}

static void flush_out(struct conn *c, struct cas_wbuf *w)
{
	if (cas_wbuf_error(w)) {
		/* cas_ecmg_max_reply sizes the room: this is a bug, and a
		 * half-built message must not reach the SCS. */
		cas_log(CAS_LOG_ERROR, "%s: internal error: reply did not fit", c->ec.peer);
		c->dead = 1;
	} else {
		conn_send(c, w->data, w->len);
	}
	cas_wbuf_init(w, c->d->obuf, c->d->ocap);
}

static void start_closing(struct conn *c)
{
	c->closing = 1;
	c->close_by = mono_s() + CLOSE_FLUSH_SECONDS;
	event_del(c->rev);
	if (c->pending == NULL || evbuffer_get_length(c->pending) == 0)
		c->dead = 1;
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	int n = evbuffer_write(c->pending, c->fd);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		conn_destroy(c, strerror(errno));
		return;
	}
	size_t left = evbuffer_get_length(c->pending);
	if (left == 0) {
		event_del(c->wev);
		if (c->closing) {
			conn_destroy(c, NULL);
			return;
		}
	}
	if (c->read_paused && left < OUT_LOW && !c->closing) {
		c->read_paused = 0;
		event_add(c->rev, NULL);
	}
}

/* ---- input ---- */

/* The first bytes of a message that is not complete yet: where they are
 * depends on which framer holds them. */
static int check_partial(struct conn *c, struct cas_tlv_framer *f, const uint8_t *chunk_end,
			 struct cas_wbuf *w)
{
	size_t pending = cas_tlv_framer_pending(f);
	if (pending == 0)
		return CAS_ECMG_GO_ON;
	if (f == c->d->framer) {
		/* The shared framer took the chunk's tail into its buffer: give
		 * that tail to a framer of this connection's own, and keep the
		 * shared one clean for the next connection.  Whole messages, the
		 * usual case, never need one (64 KiB each is too much to keep
		 * for thousands of idle connections). */
		const uint8_t *tail = chunk_end - pending;
		cas_tlv_framer_init(f);
		c->framer = malloc(sizeof *c->framer);
		if (c->framer == NULL) {
			cas_log(CAS_LOG_ERROR, "%s: out of memory", c->ec.peer);
			c->dead = 1;
			return CAS_ECMG_CLOSE;
		}
		cas_tlv_framer_init(c->framer);
		const uint8_t *msg;
		size_t len;
		cas_tlv_framer_feed(c->framer, tail, pending);
		cas_tlv_framer_next(c->framer, &msg, &len);	/* 0: buffers the tail */
	}
	return cas_ecmg_check_head(&c->ec, c->framer->buf, c->framer->have, w);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct ecmgd *d = c->d;
	(void)what;
	ssize_t n;
	do
		n = recv(fd, d->rbuf, d->rcap, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		/* Replies the socket has not taken yet still go out (the SCS
		 * may have shut down only its sending side). */
		if (c->pending != NULL && evbuffer_get_length(c->pending) > 0) {
			cas_log(CAS_LOG_DEBUG, "%s: end of requests, sending the last replies", c->ec.peer);
			start_closing(c);
			return;
		}
		conn_destroy(c, "closed by the SCS");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_destroy(c, strerror(errno));
		return;
	}
	int64_t now = now_s(d);
	c->last_input = mono_s();
	c->probe_sent = 0;

	struct cas_tlv_framer *f = c->framer != NULL ? c->framer : d->framer;
	struct cas_wbuf w;
	cas_wbuf_init(&w, d->obuf, d->ocap);
	size_t room = cas_ecmg_max_reply(&d->eng);
	int rc = CAS_ECMG_GO_ON;
	const uint8_t *msg;
	size_t len;
	int r;
	c->in_cb = 1;
	cas_tlv_framer_feed(f, d->rbuf, (size_t)n);
	while (rc == CAS_ECMG_GO_ON && !c->dead && (r = cas_tlv_framer_next(f, &msg, &len)) != 0) {
		if (r < 0) {	/* cannot happen below the 64 KiB limit */
			rc = CAS_ECMG_CLOSE;
			break;
		}
		if (w.cap - w.len < room)
			flush_out(c, &w);
		rc = cas_ecmg_handle(&c->ec, msg, len, now, &w);
	}
	if (rc == CAS_ECMG_GO_ON && !c->dead) {
		if (w.cap - w.len < room)
			flush_out(c, &w);
		rc = check_partial(c, f, d->rbuf + n, &w);
	}
	if (rc == CAS_ECMG_CLOSE || c->dead) {
		/* The rest of the chunk is dropped with the connection. */
		if (f == d->framer)
			cas_tlv_framer_init(f);
	} else if (c->framer != NULL && cas_tlv_framer_pending(c->framer) == 0) {
		free(c->framer);
		c->framer = NULL;
	}
	flush_out(c, &w);
	c->in_cb = 0;
	if (rc == CAS_ECMG_CLOSE && !c->dead)
		start_closing(c);
	if (c->dead)
		conn_destroy(c, c->closing ? NULL : "send failed");
}

/* ---- connections ---- */

static void row_of(struct conn *c, struct ecmgd_row *r, const char *state)
{
	memset(r, 0, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", c->row);
	snprintf(r->peer, sizeof r->peer, "%s", c->ec.peer);
	snprintf(r->state, sizeof r->state, "%s", state);
	if (c->ec.has_channel)
		snprintf(r->settings, sizeof r->settings,
			 "channel=%u version=%u super_cas_id=0x%08X", c->ec.channel_id,
			 c->ec.version, c->ec.super_cas_id);
	r->full = !c->row_written || (c->ec.changed & CAS_ECMG_CHANGED_SETUP) != 0;
	r->started = c->connected;
	r->last_seen = c->ec.last_seen;
	r->channels = c->ec.has_channel;
	r->streams = (int64_t)c->ec.nstreams;
	r->cw_provisions = (int64_t)c->ec.cw_provisions;
	r->ecms = (int64_t)c->ec.ecms;
	r->errors = (int64_t)c->ec.errors;
}

static void conn_destroy(struct conn *c, const char *why)
{
	if (c->in_cb) {		/* read_cb finishes first, then destroys */
		c->dead = 1;
		return;
	}
	struct ecmgd *d = c->d;
	cas_log(CAS_LOG_INFO, "%s: disconnected%s%s (%llu CW_provisions, %llu ECMs, %llu errors)",
		c->ec.peer, why != NULL ? ": " : "", why != NULL ? why : "",
		(unsigned long long)c->ec.cw_provisions, (unsigned long long)c->ec.ecms,
		(unsigned long long)c->ec.errors);
	/* The last state of its row goes out with the next batch. */
	if (d->nclosed == d->capclosed) {
		size_t cap = d->capclosed == 0 ? 16 : d->capclosed * 2;
		struct ecmgd_row *n = realloc(d->closed_rows, cap * sizeof *n);
		if (n != NULL) {
			d->closed_rows = n;
			d->capclosed = cap;
		}
	}
	if (d->nclosed < d->capclosed) {
		row_of(c, &d->closed_rows[d->nclosed], "closed");
		d->closed_rows[d->nclosed].channels = 0;
		d->closed_rows[d->nclosed].streams = 0;
		d->nclosed++;
	}
	d->total_cw += c->ec.cw_provisions;
	d->total_ecm += c->ec.ecms;
	d->total_err += c->ec.errors;
	cas_ecmg_conn_free(&c->ec);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->nconns--;
	event_free(c->rev);
	event_free(c->wev);
	if (c->pending != NULL)
		evbuffer_free(c->pending);
	free(c->framer);
	close(c->fd);
	free(c);
}

static void peer_name(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
		snprintf(out, size, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
		snprintf(out, size, "[%s]:%u", host, port);
	} else {
		snprintf(out, size, "?");
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct ecmgd *d = arg;
	(void)l;
	(void)salen;
	char peer[64];
	peer_name(sa, peer, sizeof peer);
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		goto fail;
	c->d = d;
	c->fd = fd;
	c->rev = event_new(d->base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->wev = event_new(d->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) < 0)
		goto fail;
	/* ECMs are small and waited for: no Nagle delay. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	cas_ecmg_conn_init(&c->ec, &d->eng, peer);
	snprintf(c->row, sizeof c->row, "%s/%s", d->listen, peer);
	c->connected = c->ec.last_seen = now_s(d);
	c->last_input = mono_s();
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
	cas_log(CAS_LOG_INFO, "%s: connected", peer);
	return;
fail:
	cas_log(CAS_LOG_ERROR, "%s: out of memory: connection refused", peer);
	if (c != NULL) {
		if (c->rev != NULL)
			event_free(c->rev);
		if (c->wev != NULL)
			event_free(c->wev);
		free(c);
	}
	close(fd);
}

static void accept_again_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ecmgd *d = arg;
	(void)fd;
	(void)what;
	if (!d->stopping)
		evconnlistener_enable(d->lst);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct ecmgd *d = arg;
	int err = EVUTIL_SOCKET_ERROR();
	/* Out of descriptors: pause accepting for a second instead of
	 * spinning on a listening socket that stays readable. */
	cas_log(CAS_LOG_ERROR, "unable to accept a connection on %s: %s (%zu connections open)",
		d->listen, evutil_socket_error_to_string(err), d->nconns);
	evconnlistener_disable(l);
	struct timeval one = { 1, 0 };
	event_add(d->ev_accept_again, &one);
}

int ecmgd_listen(struct ecmgd *d)
{
	char host[256];
	uint16_t port;
	char portstr[8];
	if (cas_conf_hostport(&d->conf, "ecmg.listen", host, sizeof host, &port) < 0) {
		cas_log(CAS_LOG_FATAL, "ecmg.listen: not a host:port");
		return -1;
	}
	snprintf(portstr, sizeof portstr, "%u", port);
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gai = getaddrinfo(host[0] != '\0' ? host : NULL, portstr, &hints, &ai);
	if (gai != 0) {
		cas_log(CAS_LOG_FATAL, "unable to bind %s: %s", d->listen, gai_strerror(gai));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to bind %s: %s", d->listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	d->lst = evconnlistener_new(d->base, accept_cb, d, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    0, fd);
	d->ev_accept_again = evtimer_new(d->base, accept_again_cb, d);
	if (d->lst == NULL || d->ev_accept_again == NULL) {
		cas_log(CAS_LOG_FATAL, "unable to listen on %s: out of memory", d->listen);
		if (d->lst == NULL)
			close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(d->lst, accept_error_cb);
	return 0;
}

/* ---- once a second ---- */

void ecmgd_tick(struct ecmgd *d)
{
	int64_t now = mono_s();
	struct cas_wbuf w;
	struct conn *next;
	for (struct conn *c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->closing) {
			if (now >= c->close_by)
				conn_destroy(c, "replies not taken in time");
			continue;
		}
		if (c->probe_sent != 0) {
			if (now - c->probe_sent >= PROBE_WAIT_SECONDS)
				conn_destroy(c, "idle, no answer to channel_test");
			continue;
		}
		if (now - c->last_input < d->idle_timeout)
			continue;
		/* No message for idle_timeout: ask the SCS whether it is still
		 * there (TSDuck answers channel_test by itself). */
		cas_wbuf_init(&w, d->obuf, d->ocap);
		if (cas_ecmg_probe(&c->ec, &w) < 0) {
			conn_destroy(c, "idle, no channel set up");
			continue;
		}
		c->probe_sent = now > 0 ? now : 1;
		flush_out(c, &w);
		if (c->dead)
			conn_destroy(c, "send failed");
	}
}

void ecmgd_close_all(struct ecmgd *d)
{
	while (d->conns != NULL)
		conn_destroy(d->conns, "ecmgd stops");
}

/* ---- rows for the generators table ---- */

struct ecmgd_row *ecmgd_rows(struct ecmgd *d, size_t *n, int final)
{
	size_t want = d->nclosed + 1;
	for (struct conn *c = d->conns; c != NULL; c = c->next)
		if (final || c->ec.changed != 0 || !c->row_written)
			want++;
	*n = 0;
	if (!final && want == 1 && d->server_row_written)
		return NULL;	/* nothing changed: no write at all */
	struct ecmgd_row *rows = malloc(want * sizeof *rows);
	if (rows == NULL)
		return NULL;
	size_t k = 0;
	uint64_t cw = d->total_cw, ecm = d->total_ecm, err = d->total_err;
	int64_t last = 0;
	for (struct conn *c = d->conns; c != NULL; c = c->next) {
		cw += c->ec.cw_provisions;
		ecm += c->ec.ecms;
		err += c->ec.errors;
		if (c->ec.last_seen > last)
			last = c->ec.last_seen;
		if (final || c->ec.changed != 0 || !c->row_written)
			row_of(c, &rows[k++], final ? "closed" : c->ec.has_channel ? "running" : "connected");
	}
	if (d->nclosed > 0)
		memcpy(rows + k, d->closed_rows, d->nclosed * sizeof *rows);
	k += d->nclosed;

	struct ecmgd_row *s = &rows[k++];
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", d->listen);
	snprintf(s->state, sizeof s->state, "%s", final ? "stopped" : "running");
	const struct cas_ecmg_params *p = &d->eng.p;
	int sl = snprintf(s->settings, sizeof s->settings,
		 "listen=%s profile=%s super_cas_id=0x%08X section_tspkt_flag=%u delay_start=%d "
		 "delay_stop=%d rep_period=%u max_streams=%u min_cp_duration=%u max_comp_time=%u "
		 "ac_transfer_mode=%u", d->listen, d->eng.profile->name, p->super_cas_id,
		 p->section_tspkt_flag, p->delay_start, p->delay_stop, p->ecm_rep_period,
		 p->max_streams, p->min_cp_duration, p->max_comp_time, p->ac_transfer_mode);
	if (sl < 0 || (size_t)sl >= sizeof s->settings)
		cas_log(CAS_LOG_DEBUG, "server settings text truncated for the generators table");
	s->full = !d->server_row_written || final;
	s->started = d->started;
	s->last_seen = last;
	s->channels = d->eng.channels;
	s->streams = d->eng.streams;
	s->cw_provisions = (int64_t)cw;
	s->ecms = (int64_t)ecm;
	s->errors = (int64_t)err;
	*n = k;
	return rows;
}

void ecmgd_rows_done(struct ecmgd *d, int accepted)
{
	if (!accepted)
		return;
	for (struct conn *c = d->conns; c != NULL; c = c->next) {
		c->ec.changed = 0;
		c->row_written = 1;
	}
	d->nclosed = 0;
	d->server_row_written = 1;
}
