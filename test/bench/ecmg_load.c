/*
 * ecmg_load: an SCS load generator for ecmgd (run by test/bench/ecmgd.sh).
 *
 *   ecmg_load -p PORT -k KEY [-c CONNS] [-s STREAMS] [-d SECONDS] [-P MS] [-w N] MODE
 *
 *   max     every stream keeps -w CW_provisions in flight (default 1) and
 *           sends the next one as soon as an answer comes back
 *   paced   every stream sends one CW_provision every -P ms (a crypto-period,
 *           default 10000), the streams spread evenly over the period
 *   idle    one channel that stays silent: prints when ecmgd probes it with
 *           channel_test and when it closes the connection (no answer)
 *
 * C connections x S streams, all set up before the clock starts.  Every
 * reply must be the ECM_response for the request's stream and CP_number;
 * one ECM in 256 is decrypted with the key (cas_tvcas3_ecm_parse) and its
 * CWs compared.  Prints ECM/s, latency p50/p99/max and the error count;
 * exits 1 on any error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "hex.h"
#include "simulcrypt.h"
#include "tlv.h"
#include "tvcas3.h"

int main(int argc, char **argv);

#define I CAS_SC_ECMG

struct stream {
	uint16_t id;
	uint16_t next_cp;		/* CP of the next request */
	uint16_t oldest_cp;		/* CP of the oldest request in flight */
	unsigned inflight;
	double sent_at[64];		/* by CP % 64 */
};

struct conn {
	int fd;
	struct stream *streams;
	unsigned nstreams;
	uint8_t rbuf[16384];
	size_t rlen;
	uint8_t *wbuf;
	size_t wlen, wcap;
	int want_write;
};

struct load {
	uint16_t port;
	struct cas_tvcas3_ecm_key key;
	unsigned conns, streams, seconds, period_ms, window;
	struct conn *c;
	int ep;
	double *lat;
	size_t nlat, caplat;
	uint64_t ecms, errors, checked;
	int measuring;
};

static double now_d(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "ecmg_load: %s: %s\n", what, strerror(errno));
	exit(111);
}

static void cw_for(uint16_t stream, uint16_t cp, uint8_t cw[8])
{
	for (int i = 0; i < 8; i++)
		cw[i] = (uint8_t)(stream * 31 + cp * 7 + i * 13);
}

static int dial(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Blocking exchange during set-up: one request, one reply of `type`. */
static void exchange(int fd, const uint8_t *req, size_t n, uint16_t type)
{
	if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n)
		die("send");
	uint8_t h[5], body[4096];
	size_t got = 0;
	while (got < 5) {
		ssize_t k = recv(fd, h + got, 5 - got, 0);
		if (k <= 0)
			die("recv during set-up");
		got += (size_t)k;
	}
	size_t len = cas_be16(h + 3);
	if (len > sizeof body)
		die("reply too long");
	for (got = 0; got < len;) {
		ssize_t k = recv(fd, body + got, len - got, 0);
		if (k <= 0)
			die("recv during set-up");
		got += (size_t)k;
	}
	if (cas_be16(h + 1) != type) {
		fprintf(stderr, "ecmg_load: set-up refused: %s\n", cas_simulcrypt_msg_name(I, cas_be16(h + 1)));
		exit(1);
	}
}

static void setup(struct load *L, struct conn *c, unsigned ci)
{
	uint8_t b[256];
	struct cas_wbuf w;
	c->fd = dial(L->port);
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u32(&w, CAS_ECMG_PARAM_SUPER_CAS_ID, 0x0B000000);
	cas_tlv_end(&w, at);
	exchange(c->fd, b, w.len, CAS_ECMG_MSG_CHANNEL_STATUS);
	c->nstreams = L->streams;
	c->streams = calloc(L->streams + 1, sizeof *c->streams);
	c->wcap = (size_t)(L->streams + 1) * L->window * 128 + 1024;
	c->wbuf = malloc(c->wcap);
	if (c->streams == NULL || c->wbuf == NULL)
		die("calloc");
	for (unsigned s = 0; s < L->streams; s++) {
		struct stream *st = &c->streams[s];
		st->id = (uint16_t)(s + 1);
		st->next_cp = st->oldest_cp = (uint16_t)(ci * 7 + s);
		cas_wbuf_init(&w, b, sizeof b);
		at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_STREAM_SETUP);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, st->id);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_ID, st->id);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_NOMINAL_CP_DURATION, 100);
		cas_tlv_end(&w, at);
		exchange(c->fd, b, w.len, CAS_ECMG_MSG_STREAM_STATUS);
	}
	int fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
}

static void queue_cw(struct load *L, struct conn *c, struct stream *st, double t)
{
	(void)L;
	struct cas_wbuf w;
	uint8_t comb[10];
	if (c->wlen + 128 > c->wcap) {
		fprintf(stderr, "ecmg_load: output buffer full\n");
		exit(111);
	}
	cas_wbuf_init(&w, c->wbuf + c->wlen, c->wcap - c->wlen);
	size_t at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, st->id);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_NUMBER, st->next_cp);
	for (int k = 0; k < 2; k++) {
		cas_put_be16(comb, (uint16_t)(st->next_cp + k));
		cw_for(st->id, (uint16_t)(st->next_cp + k), comb + 2);
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
	}
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_DURATION, 100);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA, "\x00\x00\x00\x01", 4);
	cas_tlv_end(&w, at);
	c->wlen += w.len;
	st->sent_at[st->next_cp % 64] = t;
	st->next_cp++;
	st->inflight++;
}

static void flush(struct load *L, struct conn *c)
{
	while (c->wlen > 0) {
		ssize_t k = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			die("send");
		}
		memmove(c->wbuf, c->wbuf + k, c->wlen - (size_t)k);
		c->wlen -= (size_t)k;
	}
	int want = c->wlen > 0;
	if (want != c->want_write) {
		struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
		epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_write = want;
	}
}

static void record(struct load *L, double lat)
{
	if (!L->measuring)
		return;
	if (L->nlat == L->caplat) {
		L->caplat = L->caplat == 0 ? 1 << 16 : L->caplat * 2;
		L->lat = realloc(L->lat, L->caplat * sizeof *L->lat);
		if (L->lat == NULL)
			die("realloc");
	}
	L->lat[L->nlat++] = lat;
}

static void on_reply(struct load *L, struct conn *c, const uint8_t *m, size_t n, double t, int max_mode)
{
	struct cas_tlv_msg msg;
	struct cas_tlv_error e;
	struct cas_buf b;
	cas_buf_init(&b, m, n);
	uint16_t st_id = 0, cp = 0;
	if (cas_tlv_decode(&msg, &b, I, CAS_TLV_VERSION(2), &e) < 0 || msg.type != CAS_ECMG_MSG_ECM_RESPONSE ||
	    cas_tlv_get_u16(&msg, CAS_ECMG_PARAM_ECM_STREAM_ID, &st_id) < 0 ||
	    cas_tlv_get_u16(&msg, CAS_ECMG_PARAM_CP_NUMBER, &cp) < 0 || st_id == 0 || st_id > c->nstreams) {
		if (L->errors++ < 5)
			fprintf(stderr, "ecmg_load: unexpected reply %s\n", cas_simulcrypt_msg_name(I, msg.type));
		return;
	}
	struct stream *st = &c->streams[st_id - 1];
	if (cp != st->oldest_cp || st->inflight == 0) {
		if (L->errors++ < 5)
			fprintf(stderr, "ecmg_load: stream %u: CP %u, expected %u\n", st_id, cp, st->oldest_cp);
		return;
	}
	if ((L->ecms & 255) == 0) {
		const struct cas_tlv_param *dg = cas_tlv_find(&msg, CAS_ECMG_PARAM_ECM_DATAGRAM);
		struct cas_tvcas3_ecm ecm;
		uint8_t a[8], z[8];
		cw_for(st_id, cp, a);
		cw_for(st_id, (uint16_t)(cp + 1), z);
		const uint8_t *sec = dg->value[0] == 0x47 ? dg->value + 5 : dg->value;
		if (cas_tvcas3_ecm_parse(&L->key, sec, CAS_TVCAS3_ECM_LEN, &ecm) != CAS_TVCAS3_OK ||
		    memcmp((cp & 1) ? ecm.cw_odd : ecm.cw_even, a, 8) != 0 ||
		    memcmp((cp & 1) ? ecm.cw_even : ecm.cw_odd, z, 8) != 0 || ecm.ac != 1) {
			if (L->errors++ < 5)
				fprintf(stderr, "ecmg_load: ECM for CP %u does not decrypt to its CWs\n", cp);
			return;
		}
		L->checked++;
	}
	record(L, t - st->sent_at[cp % 64]);
	st->oldest_cp++;
	st->inflight--;
	if (L->measuring)
		L->ecms++;
	if (max_mode)
		queue_cw(L, c, st, t);
}

static void on_read(struct load *L, struct conn *c, int max_mode)
{
	for (;;) {
		ssize_t k = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			die("recv");
		}
		if (k == 0) {
			fprintf(stderr, "ecmg_load: connection closed by ecmgd\n");
			exit(1);
		}
		c->rlen += (size_t)k;
		double t = now_d();
		size_t off = 0;
		while (c->rlen - off >= 5) {
			size_t total = 5 + (size_t)cas_be16(c->rbuf + off + 3);
			if (c->rlen - off < total)
				break;
			on_reply(L, c, c->rbuf + off, total, t, max_mode);
			off += total;
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	flush(L, c);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(struct load *L, const char *mode, double secs)
{
	qsort(L->lat, L->nlat, sizeof *L->lat, cmp_d);
	double p50 = L->nlat ? L->lat[L->nlat / 2] : 0;
	double p99 = L->nlat ? L->lat[(size_t)((double)L->nlat * 0.99)] : 0;
	double mx = L->nlat ? L->lat[L->nlat - 1] : 0;
	printf("%s: %u connections x %u streams, %.1f s: %llu ECMs, %.0f ECM/s, latency p50 %.3f ms, "
	       "p99 %.3f ms, max %.3f ms, %llu ECMs decrypted, %llu errors\n",
	       mode, L->conns, L->streams, secs, (unsigned long long)L->ecms, (double)L->ecms / secs,
	       p50 * 1e3, p99 * 1e3, mx * 1e3, (unsigned long long)L->checked,
	       (unsigned long long)L->errors);
}

static int run(struct load *L, int max_mode)
{
	L->ep = epoll_create1(0);
	if (L->ep < 0)
		die("epoll_create1");
	L->c = calloc(L->conns, sizeof *L->c);
	if (L->c == NULL)
		die("calloc");
	for (unsigned i = 0; i < L->conns; i++) {
		setup(L, &L->c[i], i);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &L->c[i] };
		if (epoll_ctl(L->ep, EPOLL_CTL_ADD, L->c[i].fd, &ev) < 0)
			die("epoll_ctl");
	}
	fprintf(stderr, "ecmg_load: %u connections x %u streams set up\n", L->conns, L->streams);
	double start = now_d(), warm = start + (max_mode ? 1.0 : 0.0), end = warm + L->seconds;
	double period = L->period_ms / 1000.0;
	unsigned total = L->conns * L->streams;
	uint64_t sent = 0;
	for (unsigned i = 0; max_mode && i < L->conns; i++) {
		for (unsigned s = 0; s < L->streams; s++)
			for (unsigned w = 0; w < L->window; w++)
				queue_cw(L, &L->c[i], &L->c[i].streams[s], start);
		flush(L, &L->c[i]);
	}
	L->measuring = !max_mode;
	struct epoll_event evs[256];
	double t = start;
	while (t < end) {
		int n = epoll_wait(L->ep, evs, 256, max_mode ? 100 : 1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_read(L, c, max_mode);
			else if (evs[i].events & EPOLLOUT)
				flush(L, c);
		}
		t = now_d();
		if (max_mode && !L->measuring && t >= warm) {
			L->measuring = 1;	/* after a second of warm-up */
			L->nlat = 0;
		}
		if (!max_mode) {
			/* Stream k (of all) sends at start + period * k / total,
			 * then every period: a cursor over the streams. */
			uint64_t due = (uint64_t)((t - start) / period * total) + 1;
			while (sent < due && t < end) {
				unsigned k = (unsigned)(sent % total);
				struct conn *c = &L->c[k / L->streams];
				queue_cw(L, c, &c->streams[k % L->streams], t);
				flush(L, c);
				sent++;
			}
		}
	}
	/* paced: let the last answers come in */
	double drain = now_d() + 2;
	while (!max_mode && now_d() < drain) {
		unsigned left = 0;
		for (unsigned i = 0; i < L->conns; i++)
			for (unsigned s = 0; s < L->c[i].nstreams; s++)
				left += L->c[i].streams[s].inflight;
		if (left == 0)
			break;
		int n = epoll_wait(L->ep, evs, 256, 10);
		for (int i = 0; i < n; i++)
			on_read(L, evs[i].data.ptr, 0);
	}
	report(L, max_mode ? "max" : "paced", L->seconds);
	for (unsigned i = 0; i < L->conns; i++) {
		close(L->c[i].fd);
		free(L->c[i].streams);
		free(L->c[i].wbuf);
	}
	free(L->c);
	free(L->lat);
	return L->errors ? 1 : 0;
}

/* One silent channel: when does ecmgd probe it, when does it give up? */
static int idle(struct load *L)
{
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		die("calloc");
	L->streams = 0;
	setup(L, c, 0);
	int fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
	double start = now_d(), probe = 0;
	uint8_t b[4096];
	for (;;) {
		ssize_t k = recv(c->fd, b, sizeof b, 0);
		double t = now_d() - start;
		if (k <= 0) {
			printf("idle: channel_test after %.1f s, connection closed after %.1f s\n", probe, t);
			return probe > 0 ? 0 : 1;
		}
		if (k >= 3 && cas_be16(b + 1) == CAS_ECMG_MSG_CHANNEL_TEST && probe == 0)
			probe = t;	/* not answered, on purpose */
	}
}

int main(int argc, char **argv)
{
	static struct load L;
	L.conns = 10;
	L.streams = 10;
	L.seconds = 5;
	L.period_ms = 10000;
	L.window = 1;
	int opt, has_key = 0;
	while ((opt = getopt(argc, argv, "p:k:c:s:d:P:w:")) != -1) {
		switch (opt) {
		case 'p': L.port = (uint16_t)atoi(optarg); break;
		case 'k': {
			uint8_t k[32];
			if (cas_hex_decode(optarg, strlen(optarg), k, sizeof k) < 0)
				goto usage;
			cas_tvcas3_ecm_key_init(&L.key, k);
			has_key = 1;
			break;
		}
		case 'c': L.conns = (unsigned)atoi(optarg); break;
		case 's': L.streams = (unsigned)atoi(optarg); break;
		case 'd': L.seconds = (unsigned)atoi(optarg); break;
		case 'P': L.period_ms = (unsigned)atoi(optarg); break;
		case 'w': L.window = (unsigned)atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || L.port == 0 || !has_key || L.conns == 0 || L.window == 0 || L.window > 32)
		goto usage;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			fprintf(stderr, "ecmg_load: unable to raise the open files limit: %s\n", strerror(errno));
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[optind], "max") == 0)
		return run(&L, 1);
	if (strcmp(argv[optind], "paced") == 0)
		return run(&L, 0);
	if (strcmp(argv[optind], "idle") == 0)
		return idle(&L);
usage:
	fprintf(stderr, "usage: ecmg_load -p PORT -k KEY [-c CONNS] [-s STREAMS] [-d SECONDS] [-P MS] [-w N] "
		"max|paced|idle\n");
	return 100;
}
