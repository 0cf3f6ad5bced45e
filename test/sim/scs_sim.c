/*
 * scs_sim: a SimulCrypt SCS (the scrambler's side of ECMG<=>SCS) that
 * drives ecmgd over TCP and checks every byte it gets back, for the
 * integration tests test/it/ecmgd_*.sh.
 *
 *   scs_sim [options] session      one full session: channel_setup, S
 *                                  streams, N crypto-periods of
 *                                  CW_provisions, channel_test, stream_test,
 *                                  stream closes, channel_close
 *   scs_sim [options] errors       every error path of ecmgd (needs a server
 *                                  with ecmg.max_streams = 3,
 *                                  ecmg.max_total_streams = 5,
 *                                  ecmg.max_channels = 3)
 *   scs_sim [options] concurrent   -c connections open at once, each with
 *                                  channel 1, stream 1 and 2 ECMs
 *   scs_sim [options] hold         one stream, a CW_provision every 50 ms
 *                                  for -d seconds; ECMs may switch once
 *                                  from key -k to key -K (reload test)
 *
 * Options:
 *   -p PORT        ecmgd's port on 127.0.0.1 (required)
 *   -k HEX         ecm_key (64 hex digits) the ECMs must decrypt with
 *   -K HEX         hold: the key after the reload
 *   -v 1|2|3       protocol version (default 2)
 *   -S N           streams (default 2);  -n N  crypto-periods (default 6)
 *   -c N           concurrent connections (default 1000)
 *   -d SECONDS     hold duration (default 3)
 *   -C ID          ECM_channel_id (default 1)
 *   -t 0|1         the section_TSpkt_flag ecmgd must announce (default 0)
 *   -M N           the max_streams ecmgd must announce (default 1000)
 *   -m MODE        how requests go on the wire: normal (one write per
 *                  message), split (one write per byte), coalesce (every
 *                  request of a phase in one write)
 *   -x HEX         session: channel_status must be exactly these bytes
 *   -w FILE        write a pcap of the TCP conversation
 *   -e FILE        append one line per ECM for test/it/ecm_check.py:
 *                  CP DATAGRAM CW(CP) CW(CP+1) AC TMIN TMAX KEY(1|2)
 *   -E             hold: the connection may be closed by ecmgd (SIGTERM)
 *
 * Every CW is derived from (seed, stream, CP); ECMs are decrypted with
 * cas_tvcas3_ecm_parse, a code path of its own checked against the TVCAS 3
 * reference vectors (test_tvcas3), not with ecmgd's builder, and given to
 * the card logic (card.h) of cards issued from BINs: the entitled card must
 * release exactly the CWs, a card without the package and an expired card
 * must refuse them.  Prints "ok:"
 * lines and exits 0, or prints "FAIL:" and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "card.h"
#include "hex.h"
#include "pcap.h"
#include "profile.h"
#include "simulcrypt.h"
#include "tlv.h"
#include "ts.h"
#include "tvcas3.h"

int main(int argc, char **argv);

enum wmode { W_NORMAL, W_SPLIT, W_COALESCE };

struct opts {
	uint16_t port;
	uint8_t key[32], key2[32];
	int has_key, has_key2;
	uint8_t version;
	unsigned streams, cps, conns, hold_s;
	uint16_t channel;
	uint8_t flag;
	uint16_t max_streams;
	enum wmode wmode;
	uint8_t status[256];
	size_t status_len;
	const char *pcap_path, *ecm_path;
	int allow_eof;
	uint64_t seed;
};

struct sc {
	int fd;
	uint8_t version;
	uint16_t ch;
	enum wmode wmode;
	struct cas_pcap *pcap;
	struct cas_pcap_tcp tcp;
	uint8_t rbuf[8192];
	size_t rlen;
	uint8_t msg[8192];		/* the last message received */
	size_t msglen;
	uint8_t out[16384];		/* coalesce: requests waiting */
	size_t outlen;
};

static struct opts O;
static struct tvcas3_keys { struct cas_tvcas3_ecm_key k1, k2; } K;
/* Cards issued from BINs (card.h, the card logic): per key, one entitled
 * to every package, one to package 0x00000002 only (which no ECM here
 * carries), one whose subscription ended yesterday. */
enum { CARD_ALL, CARD_OTHER, CARD_EXPIRED, NCARDS };
static struct cas_card_chip cards[2][NCARDS];
static unsigned card_refusals;
static struct cas_pcap pcap;
static int use_pcap;
static int quiet;		/* no "local" line per connection */
static FILE *ecm_file;
static unsigned fails;

#define I CAS_SC_ECMG
#define E_CH CAS_ECMG_PARAM_ECM_CHANNEL_ID
#define E_ST CAS_ECMG_PARAM_ECM_STREAM_ID

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	fails++;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	exit(1);
}

static void hexprint(const char *label, const uint8_t *p, size_t n)
{
	char *h = malloc(2 * n + 1);
	if (h == NULL)
		return;
	cas_hex_encode(p, n, h);
	printf("  %s %s\n", label, h);
	free(h);
}

/* CLOCK_REALTIME, as ecmgd's clock (time(2) may lag it by a tick at a
 * second boundary). */
static int64_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* ---- CWs: a function of (seed, stream, CP), so any ECM can be checked ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static void cw_for(uint16_t stream, uint16_t cp, uint8_t cw[8])
{
	uint64_t v = mix(O.seed ^ ((uint64_t)stream << 32) ^ cp);
	for (int i = 0; i < 8; i++)
		cw[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the connection ---- */

static void sc_connect(struct sc *s, uint8_t version, uint16_t ch, enum wmode wm, int with_pcap)
{
	memset(s, 0, offsetof(struct sc, rbuf));
	s->version = version;
	s->ch = ch;
	s->wmode = wm;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0)
		die("socket: %s", strerror(errno));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(O.port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s->fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect to 127.0.0.1:%u: %s", O.port, strerror(errno));
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = { 5, 0 };
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	getsockname(s->fd, (struct sockaddr *)&me, &ml);
	if (!quiet)
		printf("local 127.0.0.1:%u\n", ntohs(me.sin_port));
	if (with_pcap && use_pcap) {
		s->pcap = &pcap;
		cas_pcap_tcp_init(&s->tcp, 0x7F000001, ntohs(me.sin_port), 0x7F000001, O.port);
		cas_pcap_tcp_connect(&pcap, &s->tcp);
	}
}

static void sc_close(struct sc *s)
{
	if (s->pcap != NULL)
		cas_pcap_tcp_close(s->pcap, &s->tcp, CAS_PCAP_CLIENT);
	close(s->fd);
	s->fd = -1;
}

static void raw_send(struct sc *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(s->fd, p, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			die("send: %s", strerror(errno));
		}
		if (s->pcap != NULL)
			cas_pcap_tcp_send(s->pcap, &s->tcp, CAS_PCAP_CLIENT, p, (size_t)k);
		p += k;
		n -= (size_t)k;
	}
}

/* Sends the message of w (which it resets) the way the mode says. */
static void sc_send(struct sc *s, struct cas_wbuf *w)
{
	if (cas_wbuf_error(w))
		die("message builder overflow");
	if (s->wmode == W_SPLIT) {
		for (size_t i = 0; i < w->len; i++)
			raw_send(s, w->data + i, 1);
	} else if (s->wmode == W_COALESCE) {
		if (s->outlen + w->len > sizeof s->out)
			die("coalesce buffer full");
		memcpy(s->out + s->outlen, w->data, w->len);
		s->outlen += w->len;
	} else {
		raw_send(s, w->data, w->len);
	}
	w->len = 0;
}

/* Coalesce mode: everything queued in one write. */
static void sc_flush(struct sc *s)
{
	if (s->outlen > 0)
		raw_send(s, s->out, s->outlen);
	s->outlen = 0;
}

/* Receives one message into s->msg.  Returns 1, 0 on EOF, -1 on timeout. */
static int sc_recv(struct sc *s)
{
	sc_flush(s);
	for (;;) {
		if (s->rlen >= CAS_SC_HEADER_LEN) {
			size_t total = CAS_SC_HEADER_LEN + cas_be16(s->rbuf + 3);
			if (total > sizeof s->msg)
				die("a reply of %zu bytes: not from an ECMG", total);
			if (s->rlen >= total) {
				memcpy(s->msg, s->rbuf, total);
				s->msglen = total;
				memmove(s->rbuf, s->rbuf + total, s->rlen - total);
				s->rlen -= total;
				return 1;
			}
		}
		ssize_t k = recv(s->fd, s->rbuf + s->rlen, sizeof s->rbuf - s->rlen, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return 0;
		if (s->pcap != NULL)
			cas_pcap_tcp_send(s->pcap, &s->tcp, CAS_PCAP_SERVER, s->rbuf + s->rlen, (size_t)k);
		s->rlen += (size_t)k;
	}
}

/* Receives one message that must be exactly `want`. */
static int expect_msg(struct sc *s, const uint8_t *want, size_t n, const char *what)
{
	int r = sc_recv(s);
	if (r <= 0) {
		fail("%s: %s", what, r == 0 ? "connection closed" : "no reply in 5 s");
		return -1;
	}
	if (s->msglen != n || memcmp(s->msg, want, n) != 0) {
		fail("%s: unexpected reply", what);
		hexprint("want", want, n);
		hexprint("got ", s->msg, s->msglen);
		return -1;
	}
	return 0;
}

/* Receives one message and decodes it (as an SCS would: its version). */
static int recv_decoded(struct sc *s, struct cas_tlv_msg *m, const char *what)
{
	int r = sc_recv(s);
	if (r <= 0) {
		fail("%s: %s", what, r == 0 ? "connection closed" : "no reply in 5 s");
		return -1;
	}
	struct cas_buf b;
	struct cas_tlv_error e;
	cas_buf_init(&b, s->msg, s->msglen);
	if (cas_tlv_decode(m, &b, I, CAS_TLV_VERSION(s->version), &e) < 0) {
		fail("%s: reply does not decode: 0x%04X %s (info 0x%04X)", what, e.status,
		     cas_simulcrypt_error_name(I, e.status), e.info);
		hexprint("got", s->msg, s->msglen);
		return -1;
	}
	return 0;
}

/* The connection must be closed by ecmgd within 5 s, with nothing more. */
static int expect_eof(struct sc *s, const char *what)
{
	int r = sc_recv(s);
	if (r == 0)
		return 0;
	if (r > 0) {
		fail("%s: a message instead of the close", what);
		hexprint("got", s->msg, s->msglen);
	} else {
		fail("%s: connection still open after 5 s", what);
	}
	return -1;
}

/* ---- requests ---- */

struct req {
	struct cas_wbuf w;
	uint8_t buf[4096];
	size_t at;
};

static struct cas_wbuf *begin(struct req *r, uint8_t version, uint16_t type)
{
	cas_wbuf_init(&r->w, r->buf, sizeof r->buf);
	r->at = cas_tlv_begin(&r->w, version, type);
	return &r->w;
}

static struct cas_wbuf *end(struct req *r)
{
	if (cas_tlv_end(&r->w, r->at) < 0)
		die("request does not fit");
	return &r->w;
}

static void q_channel_setup(struct sc *s, uint16_t ch, uint32_t scid)
{
	struct req r;
	struct cas_wbuf *w = begin(&r, s->version, CAS_ECMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u16(w, E_CH, ch);
	cas_tlv_put_u32(w, CAS_ECMG_PARAM_SUPER_CAS_ID, scid);
	sc_send(s, end(&r));
}

static void q_channel(struct sc *s, uint16_t type, uint16_t ch)
{
	struct req r;
	struct cas_wbuf *w = begin(&r, s->version, type);
	cas_tlv_put_u16(w, E_CH, ch);
	sc_send(s, end(&r));
}

static void q_stream_setup(struct sc *s, uint16_t st, uint16_t ecm_id, uint16_t nominal)
{
	struct req r;
	struct cas_wbuf *w = begin(&r, s->version, CAS_ECMG_MSG_STREAM_SETUP);
	cas_tlv_put_u16(w, E_CH, s->ch);
	cas_tlv_put_u16(w, E_ST, st);
	if (s->version >= 2)
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_ID, ecm_id);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_NOMINAL_CP_DURATION, nominal);
	sc_send(s, end(&r));
}

static void q_stream(struct sc *s, uint16_t type, uint16_t st)
{
	struct req r;
	struct cas_wbuf *w = begin(&r, s->version, type);
	cas_tlv_put_u16(w, E_CH, s->ch);
	cas_tlv_put_u16(w, E_ST, st);
	sc_send(s, end(&r));
}

/* A CW_provision for CP cp with CW(cp) and CW(cp + 1) (the second one
 * first, to check matching by CP value), and AC when ac_len > 0. */
static void q_cw(struct sc *s, uint16_t st, uint16_t cp, const uint8_t *ac, size_t ac_len)
{
	struct req r;
	uint8_t comb[10];
	struct cas_wbuf *w = begin(&r, s->version, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(w, E_CH, s->ch);
	cas_tlv_put_u16(w, E_ST, st);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, cp);
	for (int k = 1; k >= 0; k--) {
		cas_put_be16(comb, (uint16_t)(cp + k));
		cw_for(st, (uint16_t)(cp + k), comb + 2);
		cas_tlv_put_bytes(w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
	}
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_DURATION, 100);
	if (ac_len > 0)
		cas_tlv_put_bytes(w, CAS_ECMG_PARAM_ACCESS_CRITERIA, ac, ac_len);
	sc_send(s, end(&r));
}

/* ---- expected replies ---- */

static size_t x_channel_status(uint8_t *out, size_t cap, uint8_t version, uint16_t ch)
{
	if (O.status_len > 0 && ch == O.channel && version == O.version) {
		memcpy(out, O.status, O.status_len);
		return O.status_len;
	}
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, cap);
	size_t at = cas_tlv_begin(&w, version, CAS_ECMG_MSG_CHANNEL_STATUS);
	cas_tlv_put_u16(&w, E_CH, ch);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, O.flag);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_DELAY_START, 200);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_DELAY_STOP, 200);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_REP_PERIOD, 100);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MAX_STREAMS, O.max_streams);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MIN_CP_DURATION, 10);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_LEAD_CW, 1);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_CW_PER_MSG, 2);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MAX_COMP_TIME, 100);
	cas_tlv_end(&w, at);
	return w.len;
}

static size_t x_stream_status(uint8_t *out, size_t cap, uint8_t version, uint16_t ch,
			      uint16_t st, uint16_t ecm_id)
{
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, cap);
	size_t at = cas_tlv_begin(&w, version, CAS_ECMG_MSG_STREAM_STATUS);
	cas_tlv_put_u16(&w, E_CH, ch);
	cas_tlv_put_u16(&w, E_ST, st);
	if (version >= 2)
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_ID, ecm_id);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, 0);
	cas_tlv_end(&w, at);
	return w.len;
}

static int expect_channel_status(struct sc *s, uint16_t ch, const char *what)
{
	uint8_t x[256];
	return expect_msg(s, x, x_channel_status(x, sizeof x, s->version, ch), what);
}

static int expect_stream_status(struct sc *s, uint16_t st, uint16_t ecm_id, const char *what)
{
	uint8_t x[64];
	return expect_msg(s, x, x_stream_status(x, sizeof x, s->version, s->ch, st, ecm_id), what);
}

static int expect_close_response(struct sc *s, uint16_t st, const char *what)
{
	uint8_t x[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, x, sizeof x);
	size_t at = cas_tlv_begin(&w, s->version, CAS_ECMG_MSG_STREAM_CLOSE_RESPONSE);
	cas_tlv_put_u16(&w, E_CH, s->ch);
	cas_tlv_put_u16(&w, E_ST, st);
	cas_tlv_end(&w, at);
	return expect_msg(s, x, w.len, what);
}

/* channel_error (st < 0) or stream_error with exactly one error_status and
 * its 2-byte error_information, in `version`. */
static int expect_error_v(struct sc *s, uint8_t version, uint16_t ch, int st, uint16_t status,
			  uint16_t info, const char *what)
{
	uint8_t x[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, x, sizeof x);
	size_t at = cas_tlv_begin(&w, version, st < 0 ? CAS_ECMG_MSG_CHANNEL_ERROR : CAS_ECMG_MSG_STREAM_ERROR);
	cas_tlv_put_u16(&w, E_CH, ch);
	if (st >= 0)
		cas_tlv_put_u16(&w, E_ST, (uint16_t)st);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ERROR_STATUS, status);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ERROR_INFORMATION, info);
	cas_tlv_end(&w, at);
	if (expect_msg(s, x, w.len, what) < 0)
		return -1;
	printf("ok: %s -> %s 0x%04X %s\n", what, st < 0 ? "channel_error" : "stream_error", status,
	       cas_simulcrypt_error_name(I, status));
	return 0;
}

static int expect_error(struct sc *s, uint16_t ch, int st, uint16_t status, uint16_t info,
			const char *what)
{
	return expect_error_v(s, s->version, ch, st, status, info, what);
}

/* ---- ECM check ---- */

/* The ECM_datagram of an ECM_response for (stream, cp) with `ac`, built
 * between t0 and t1.  key_used (may be NULL) gets 1 or 2. */
static int check_ecm(const uint8_t *dg, size_t len, uint16_t st, uint16_t cp, uint32_t ac,
		     int64_t t0, int64_t t1, int *key_used, const char *what)
{
	const uint8_t *sec = dg;
	size_t slen = len;
	if (O.flag) {
		/* TS-packet mode: whole packets, pointer_field 0, the section,
		 * then 0xFF stuffing (simulcrypt.md §2.5). */
		if (len == 0 || len % CAS_TS_PACKET_LEN != 0 || dg[0] != CAS_TS_SYNC || !(dg[1] & 0x40) ||
		    dg[4] != 0) {
			fail("%s: ECM_datagram of %zu bytes is not TS packets with a section start", what, len);
			return -1;
		}
		static uint8_t buf[CAS_TS_SECTION_MAX];
		long n = cas_ts_extract(dg, len, buf, sizeof buf, NULL);
		if (n < 0) {
			fail("%s: TS packets do not carry one section", what);
			return -1;
		}
		for (size_t i = 5 + (size_t)n; i < CAS_TS_PACKET_LEN && len == CAS_TS_PACKET_LEN; i++)
			if (dg[i] != 0xFF) {
				fail("%s: TS stuffing byte %zu is not 0xFF", what, i);
				return -1;
			}
		sec = buf;
		slen = (size_t)n;
	} else if (len < 3 || 3 + (size_t)(((dg[1] & 0x0F) << 8) | dg[2]) != len) {
		fail("%s: ECM_datagram is not exactly one section", what);
		return -1;
	}
	if (slen != CAS_TVCAS3_ECM_LEN || sec[0] != (0x80 | (cp & 1))) {
		fail("%s: section of %zu bytes, table 0x%02X for CP %u", what, slen, sec[0], cp);
		return -1;
	}
	struct cas_tvcas3_ecm e;
	int used = 1;
	int r = cas_tvcas3_ecm_parse(&K.k1, sec, slen, &e);
	uint8_t cwa[8], cwb[8];
	cw_for(st, cp, cwa);
	cw_for(st, (uint16_t)(cp + 1), cwb);
	const uint8_t *odd = (cp & 1) ? cwa : cwb, *even = (cp & 1) ? cwb : cwa;
	int good = r == CAS_TVCAS3_OK && memcmp(e.cw_odd, odd, 8) == 0 && memcmp(e.cw_even, even, 8) == 0;
	if (!good && O.has_key2) {
		used = 2;
		r = cas_tvcas3_ecm_parse(&K.k2, sec, slen, &e);
		good = r == CAS_TVCAS3_OK && memcmp(e.cw_odd, odd, 8) == 0 && memcmp(e.cw_even, even, 8) == 0;
	}
	if (!good) {
		fail("%s: ECM for stream %u CP %u does not decrypt to its CWs (status %d)", what, st, cp, r);
		hexprint("section", sec, slen);
		return -1;
	}
	if (e.ac != ac || e.time < (uint32_t)t0 || e.time > (uint32_t)t1) {
		fail("%s: ECM stream %u CP %u: AC %08X (want %08X), time %u (want %lld..%lld)", what, st, cp,
		     e.ac, ac, e.time, (long long)t0, (long long)t1);
		return -1;
	}
	/* The card logic must release exactly these CWs to the entitled card
	 * and refuse the others, for the right reason. */
	uint8_t co[8], ce[8];
	struct cas_card_chip *cs = cards[used - 1];
	enum cas_card_event ev = cas_card_ecm(&cs[CARD_ALL], sec, slen, co, ce);
	if (ac == 0) {
		/* no access_criteria: no package, nobody may watch */
		if (ev != CAS_CARD_EV_ECM_NO_PACKAGE) {
			fail("%s: an ECM without access criteria gets %s", what, cas_card_event_name(ev));
			return -1;
		}
	} else if (ev != CAS_CARD_EV_ECM_OK || memcmp(co, odd, 8) != 0 || memcmp(ce, even, 8) != 0) {
		fail("%s: the card refuses or garbles the ECM for stream %u CP %u: %s", what, st, cp,
		     cas_card_event_name(ev));
		return -1;
	}
	if (used == 1) {
		if (ac != 0 && (ev = cas_card_ecm(&cs[CARD_OTHER], sec, slen, co, ce)) !=
		    CAS_CARD_EV_ECM_NO_PACKAGE) {
			fail("%s: a card without the package gets %s", what, cas_card_event_name(ev));
			return -1;
		}
		if ((ev = cas_card_ecm(&cs[CARD_EXPIRED], sec, slen, co, ce)) != CAS_CARD_EV_ECM_EXPIRED) {
			fail("%s: an expired card gets %s", what, cas_card_event_name(ev));
			return -1;
		}
		card_refusals++;
	}
	if (ecm_file != NULL) {
		/* The datagram as it came (TS packets or a section), for an
		 * independent decoder. */
		char *dh = malloc(2 * len + 1), ha[17], hb[17];
		if (dh == NULL)
			die("out of memory");
		cas_hex_encode(dg, len, dh);
		cas_hex_encode(cwa, 8, ha);
		cas_hex_encode(cwb, 8, hb);
		fprintf(ecm_file, "%u %s %s %s %08X %lld %lld %d\n", cp, dh, ha, hb, ac, (long long)t0,
			(long long)t1, used);
		free(dh);
	}
	if (key_used != NULL)
		*key_used = used;
	return 0;
}

/* Receives the ECM_response for (st, cp) and checks it and its ECM. */
static int expect_ecm(struct sc *s, uint16_t st, uint16_t cp, uint32_t ac, int64_t t0,
		      int *key_used, const char *what)
{
	struct cas_tlv_msg m;
	if (recv_decoded(s, &m, what) < 0)
		return -1;
	uint16_t ch = 0, rst = 0, rcp = 0;
	if (m.version != s->version || m.type != CAS_ECMG_MSG_ECM_RESPONSE) {
		fail("%s: got %s (version %u), want ECM_response", what, cas_simulcrypt_msg_name(I, m.type),
		     m.version);
		hexprint("got", s->msg, s->msglen);
		return -1;
	}
	cas_tlv_get_u16(&m, E_CH, &ch);
	cas_tlv_get_u16(&m, E_ST, &rst);
	cas_tlv_get_u16(&m, CAS_ECMG_PARAM_CP_NUMBER, &rcp);
	if (ch != s->ch || rst != st || rcp != cp || m.nparams != 4) {
		fail("%s: ECM_response for channel %u stream %u CP %u (%u parameters), want %u/%u/%u", what,
		     ch, rst, rcp, m.nparams, s->ch, st, cp);
		return -1;
	}
	const struct cas_tlv_param *dg = cas_tlv_find(&m, CAS_ECMG_PARAM_ECM_DATAGRAM);
	return check_ecm(dg->value, dg->len, st, cp, ac, t0, now_s(), key_used, what);
}

/* ---- session ---- */

static void setup_channel(struct sc *s, const char *what)
{
	q_channel_setup(s, s->ch, 0x0B000000);
	if (expect_channel_status(s, s->ch, what) < 0)
		die("%s: no channel", what);
}

static int session(void)
{
	static struct sc s;
	char what[128];
	const uint8_t ac1[4] = { 0x00, 0x00, 0x00, 0x05 }, ac2[6] = { 0x00, 0x01, 0x00, 0x10, 0xAA, 0xBB };
	uint16_t nominal = 100;

	sc_connect(&s, O.version, O.channel, O.wmode, 1);
	setup_channel(&s, "channel_setup");
	printf("ok: channel_setup v%u -> channel_status as configured\n", O.version);
	for (unsigned i = 1; i <= O.streams; i++)
		q_stream_setup(&s, (uint16_t)i, (uint16_t)(100 + i), nominal);
	for (unsigned i = 1; i <= O.streams; i++) {
		snprintf(what, sizeof what, "stream_setup %u", i);
		expect_stream_status(&s, (uint16_t)i, (uint16_t)(100 + i), what);
	}
	printf("ok: %u streams set up\n", O.streams);

	/* AC in the first CW_provision only, then a change half-way: ecmgd
	 * must use the stream's last value (transfer mode 0). */
	unsigned ecms = 0;
	for (unsigned cp = 0; cp < O.cps; cp++) {
		int64_t t0 = now_s();
		for (unsigned i = 1; i <= O.streams; i++) {
			if (cp == 0)
				q_cw(&s, (uint16_t)i, (uint16_t)cp, ac1, sizeof ac1);
			else if (cp == O.cps / 2)
				q_cw(&s, (uint16_t)i, (uint16_t)cp, ac2, sizeof ac2);
			else
				q_cw(&s, (uint16_t)i, (uint16_t)cp, NULL, 0);
		}
		if (O.wmode == W_COALESCE && cp + 1 < O.cps)
			continue;	/* everything in one write */
		unsigned from = O.wmode == W_COALESCE ? 0 : cp;
		for (unsigned c = from; c <= cp; c++) {
			uint32_t ac = c >= O.cps / 2 && O.cps > 1 ? 0x00010010 : 0x00000005;
			for (unsigned i = 1; i <= O.streams; i++) {
				snprintf(what, sizeof what, "CW_provision stream %u CP %u", i, c);
				if (expect_ecm(&s, (uint16_t)i, (uint16_t)c, ac, t0, NULL, what) == 0)
					ecms++;
			}
		}
	}
	printf("ok: %u ECMs decrypt to their CWs, parity, AC and time\n", ecms);

	q_channel(&s, CAS_ECMG_MSG_CHANNEL_TEST, s.ch);
	q_stream(&s, CAS_ECMG_MSG_STREAM_TEST, 1);
	expect_channel_status(&s, s.ch, "channel_test");
	expect_stream_status(&s, 1, 101, "stream_test");
	printf("ok: channel_test, stream_test\n");
	for (unsigned i = 1; i <= O.streams; i++)
		q_stream(&s, CAS_ECMG_MSG_STREAM_CLOSE_REQUEST, (uint16_t)i);
	for (unsigned i = 1; i <= O.streams; i++) {
		snprintf(what, sizeof what, "stream_close_request %u", i);
		expect_close_response(&s, (uint16_t)i, what);
	}
	printf("ok: stream_close_request -> stream_close_response\n");
	/* channel_close has no reply: the channel_test after it gets
	 * channel_error 0x0006, and nothing comes in between. */
	q_channel(&s, CAS_ECMG_MSG_CHANNEL_CLOSE, s.ch);
	q_channel(&s, CAS_ECMG_MSG_CHANNEL_TEST, s.ch);
	expect_error(&s, s.ch, -1, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, 5, "channel_test after channel_close");
	sc_close(&s);
	return 0;
}

/* ---- errors ---- */

static void put_cw(struct cas_wbuf *w, uint16_t st, uint16_t cp)
{
	uint8_t comb[10];
	cas_put_be16(comb, cp);
	cw_for(st, cp, comb + 2);
	cas_tlv_put_bytes(w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
}

static int errors(void)
{
	static struct sc a, b, c2, d;
	struct req r;
	struct cas_wbuf *w;
	uint8_t v = O.version;

	sc_connect(&a, v, 1, W_NORMAL, 1);
	/* Before channel_setup, a stream message has no channel. */
	q_stream_setup(&a, 1, 1, 100);
	expect_error(&a, 1, -1, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, 5, "stream_setup before channel_setup");
	/* Super_CAS_id not served (TLV at offset 11). */
	q_channel_setup(&a, 1, 0x0B000001);
	expect_error(&a, 1, -1, CAS_ECMG_ERR_UNKNOWN_SUPER_CAS_ID, 11, "channel_setup with Super_CAS_id 0x0B000001");
	setup_channel(&a, "channel_setup after a refusal");
	q_channel_setup(&a, 2, 0x0B000000);
	expect_error(&a, 2, -1, CAS_ECMG_ERR_ECM_CHANNEL_ID_IN_USE, 5, "second channel_setup on a connection");
	q_channel(&a, CAS_ECMG_MSG_CHANNEL_TEST, 7);
	expect_error(&a, 7, -1, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, 5, "channel_test for channel 7");

	/* streams */
	q_stream_setup(&a, 1, 1, 100);
	expect_stream_status(&a, 1, 1, "stream_setup 1");
	q_stream_setup(&a, 1, 9, 100);
	expect_error(&a, 1, 1, CAS_ECMG_ERR_ECM_STREAM_ID_IN_USE, 11, "stream_setup of stream 1 again");
	if (v >= 2) {
		q_stream_setup(&a, 2, 1, 100);
		expect_error(&a, 1, -1, CAS_ECMG_ERR_ECM_ID_IN_USE, 17, "stream_setup 2 with ECM_id 1 in use");
	}
	q_stream_setup(&a, 3, 3, 5);
	expect_error(&a, 1, -1, CAS_ECMG_ERR_INVALID_PARAM_VALUE, v >= 2 ? 23 : 17,
		     "stream_setup with nominal_CP_duration 5 < min_CP_duration 10");
	q_cw(&a, 9, 0, NULL, 0);
	expect_error(&a, 1, -1, CAS_ECMG_ERR_UNKNOWN_ECM_STREAM_ID, 11, "CW_provision for unknown stream 9");
	q_stream(&a, CAS_ECMG_MSG_STREAM_TEST, 9);
	expect_error(&a, 1, -1, CAS_ECMG_ERR_UNKNOWN_ECM_STREAM_ID, 11, "stream_test for unknown stream 9");
	q_stream(&a, CAS_ECMG_MSG_STREAM_CLOSE_REQUEST, 9);
	expect_error(&a, 1, -1, CAS_ECMG_ERR_UNKNOWN_ECM_STREAM_ID, 11, "stream_close_request for unknown stream 9");
	q_stream(&a, CAS_ECMG_MSG_STREAM_TEST, 1);
	expect_stream_status(&a, 1, 1, "stream_test 1");

	/* CW_provision refusals on a known stream: stream_error */
	w = begin(&r, v, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(w, E_CH, 1);
	cas_tlv_put_u16(w, E_ST, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, 4);
	put_cw(w, 1, 4);
	sc_send(&a, end(&r));
	expect_error(&a, 1, 1, CAS_ECMG_ERR_NOT_ENOUGH_CW, CAS_ECMG_PARAM_CP_CW_COMBINATION,
		     "CW_provision with CW(4) only");
	w = begin(&r, v, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(w, E_CH, 1);
	cas_tlv_put_u16(w, E_ST, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, 4);
	put_cw(w, 1, 5);
	put_cw(w, 1, 6);
	sc_send(&a, end(&r));
	expect_error(&a, 1, 1, CAS_ECMG_ERR_NOT_ENOUGH_CW, CAS_ECMG_PARAM_CP_CW_COMBINATION,
		     "CW_provision for CP 4 with CW(5), CW(6)");
	if (v >= 2) {
		uint8_t comb[18] = { 0, 4 };
		w = begin(&r, v, CAS_ECMG_MSG_CW_PROVISION);
		cas_tlv_put_u16(w, E_CH, 1);
		cas_tlv_put_u16(w, E_ST, 1);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, 4);
		cas_tlv_put_bytes(w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
		sc_send(&a, end(&r));
		expect_error(&a, 1, 1, CAS_ECMG_ERR_INVALID_PARAM_VALUE, 23, "CW_provision with a 16-byte CW");
		w = begin(&r, v, CAS_ECMG_MSG_CW_PROVISION);
		cas_tlv_put_u16(w, E_CH, 1);
		cas_tlv_put_u16(w, E_ST, 1);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, 4);
		put_cw(w, 1, 4);
		put_cw(w, 1, 5);
		cas_tlv_put_bytes(w, CAS_ECMG_PARAM_CW_ENCRYPTION, "\x01", 1);
		sc_send(&a, end(&r));
		expect_error(&a, 1, 1, CAS_ECMG_ERR_INVALID_PARAM_VALUE, 51, "CW_provision with CW_encryption");
	}
	/* A parameter of the wrong size, a missing one (stream known). */
	w = begin(&r, v, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(w, E_CH, 1);
	cas_tlv_put_u16(w, E_ST, 1);
	cas_tlv_put_bytes(w, CAS_ECMG_PARAM_CP_NUMBER, "\x04", 1);
	put_cw(w, 1, 4);
	put_cw(w, 1, 5);
	sc_send(&a, end(&r));
	expect_error(&a, 1, 1, CAS_ECMG_ERR_INCONSISTENT_PARAM_LENGTH, 17, "CW_provision with a 1-byte CP_number");
	w = begin(&r, v, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(w, E_CH, 1);
	cas_tlv_put_u16(w, E_ST, 1);
	put_cw(w, 1, 4);
	put_cw(w, 1, 5);
	sc_send(&a, end(&r));
	expect_error(&a, 1, 1, CAS_ECMG_ERR_MISSING_PARAM, CAS_ECMG_PARAM_CP_NUMBER, "CW_provision without CP_number");
	/* Unknown parameter types are ignored: a normal ECM comes back. */
	w = begin(&r, v, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(w, 0x7F7F, 0xBEEF);
	cas_tlv_put_u16(w, E_CH, 1);
	cas_tlv_put_u16(w, E_ST, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, 4);
	put_cw(w, 1, 4);
	put_cw(w, 1, 5);
	cas_tlv_put_bytes(w, 0x0777, "vendor", 6);
	sc_send(&a, end(&r));
	if (expect_ecm(&a, 1, 4, 0, now_s(), NULL, "CW_provision with unknown parameters") == 0)
		printf("ok: unknown parameter types ignored\n");

	/* Version, message type, TLV framing: undecodable, answered in the
	 * channel's version; a good message in between resets the count. */
	w = begin(&r, v == 3 ? 2 : 3, CAS_ECMG_MSG_CHANNEL_TEST);
	cas_tlv_put_u16(w, E_CH, 1);
	sc_send(&a, end(&r));
	expect_error(&a, 1, -1, CAS_ECMG_ERR_UNSUPPORTED_VERSION, 0, "channel_test in another version");
	w = begin(&r, v, 0x0150);
	cas_tlv_put_u16(w, E_CH, 1);
	sc_send(&a, end(&r));
	expect_error(&a, 1, -1, CAS_ECMG_ERR_UNKNOWN_MESSAGE_TYPE, 1, "message type 0x0150");
	q_channel(&a, CAS_ECMG_MSG_CHANNEL_TEST, 1);
	expect_channel_status(&a, 1, "channel_test between invalid messages");
	{
		/* channel_test whose ECM_channel_id TLV claims 4 bytes, 2 there */
		uint8_t bad[] = { v, 0x00, 0x02, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x04, 0x00, 0x01 };
		raw_send(&a, bad, sizeof bad);
		expect_error(&a, 1, -1, CAS_ECMG_ERR_INVALID_MESSAGE, 5, "TLV running past its message");
	}
	/* Errors from the SCS are never answered, even undecodable ones;
	 * the channel_test reply must be the very next message. */
	w = begin(&r, v, CAS_ECMG_MSG_CHANNEL_ERROR);
	cas_tlv_put_u16(w, E_CH, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ERROR_STATUS, CAS_ECMG_ERR_UNKNOWN_ERROR);
	sc_send(&a, end(&r));
	w = begin(&r, v, CAS_ECMG_MSG_STREAM_ERROR);
	cas_tlv_put_u16(w, E_CH, 1);
	cas_tlv_put_u16(w, E_ST, 1);	/* no error_status: invalid */
	sc_send(&a, end(&r));
	{
		/* An unsolicited channel_status (as a TSDuck SCS echoes one to
		 * a channel_test): ignored. */
		uint8_t x[256];
		size_t xl = x_channel_status(x, sizeof x, v, 1);
		raw_send(&a, x, xl);
	}
	q_channel(&a, CAS_ECMG_MSG_CHANNEL_TEST, 1);
	if (expect_channel_status(&a, 1, "channel_test after SCS errors") == 0)
		printf("ok: errors from the SCS are not answered\n");

	/* limits: max_streams 3 per channel, 5 in all, 3 channels */
	q_stream_setup(&a, 2, 2, 100);
	q_stream_setup(&a, 3, 3, 100);
	expect_stream_status(&a, 2, 2, "stream_setup 2");
	expect_stream_status(&a, 3, 3, "stream_setup 3");
	q_stream_setup(&a, 4, 4, 100);
	expect_error(&a, 1, -1, CAS_ECMG_ERR_TOO_MANY_STREAMS_CHANNEL, 11, "a 4th stream (max_streams 3)");
	sc_connect(&b, v, 1, W_NORMAL, 0);
	setup_channel(&b, "second connection, channel 1 again");
	printf("ok: channel 1 on two connections at once\n");
	q_stream_setup(&b, 1, 1, 100);
	q_stream_setup(&b, 2, 2, 100);
	expect_stream_status(&b, 1, 1, "second connection stream 1 (ECM_id 1 again)");
	expect_stream_status(&b, 2, 2, "second connection stream 2");
	q_stream_setup(&b, 3, 3, 100);
	expect_error(&b, 1, -1, CAS_ECMG_ERR_TOO_MANY_STREAMS_ECMG, 11, "a 6th stream (max_total_streams 5)");
	sc_connect(&c2, v, 5, W_NORMAL, 0);
	setup_channel(&c2, "third channel");
	sc_connect(&d, v, 6, W_NORMAL, 0);
	q_channel_setup(&d, 6, 0x0B000000);
	expect_error(&d, 6, -1, CAS_ECMG_ERR_TOO_MANY_CHANNELS, 5, "a 4th channel (max_channels 3)");
	/* Closing a stream makes room again. */
	q_stream(&b, CAS_ECMG_MSG_STREAM_CLOSE_REQUEST, 2);
	expect_close_response(&b, 2, "stream_close_request 2");
	q_stream_setup(&b, 3, 3, 100);
	expect_stream_status(&b, 3, 3, "stream_setup after a close");

	/* After channel_close, the channel's streams are gone. */
	q_channel(&c2, CAS_ECMG_MSG_CHANNEL_CLOSE, 5);
	q_stream_setup(&c2, 1, 1, 100);
	expect_error(&c2, 5, -1, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, 5, "stream_setup after channel_close");
	setup_channel(&d, "a channel once another is closed");
	sc_close(&d);
	sc_close(&c2);
	sc_close(&b);

	/* Three undecodable messages in a row: closed. */
	for (int i = 0; i < 3; i++) {
		w = begin(&r, v == 3 ? 1 : v + 1, CAS_ECMG_MSG_CHANNEL_TEST);
		cas_tlv_put_u16(w, E_CH, 1);
		sc_send(&a, end(&r));
	}
	for (int i = 0; i < 3; i++)
		expect_error(&a, 1, -1, CAS_ECMG_ERR_UNSUPPORTED_VERSION, 0, "another version, again");
	if (expect_eof(&a, "3 invalid messages in a row") == 0)
		printf("ok: closed after 3 invalid messages in a row\n");
	sc_close(&a);

	/* Garbage: answered once (in v2: no version was agreed), closed. */
	sc_connect(&a, v, 1, W_NORMAL, 0);
	raw_send(&a, (const uint8_t *)"GET / HTTP/1.0\r\n", 16);
	expect_error_v(&a, 2, 0, -1, CAS_ECMG_ERR_INVALID_MESSAGE, 0, "HTTP request");
	if (expect_eof(&a, "garbage") == 0)
		printf("ok: closed after garbage\n");
	sc_close(&a);
	/* A header announcing more than ecmgd accepts: refused at once. */
	sc_connect(&a, v, 1, W_NORMAL, 0);
	setup_channel(&a, "channel for the over-long message");
	{
		uint8_t big[] = { v, 0x02, 0x01, 0xFF, 0x00 };
		raw_send(&a, big, sizeof big);
	}
	expect_error(&a, 1, -1, CAS_ECMG_ERR_MESSAGE_TOO_LONG, 3, "message_length 65280");
	if (expect_eof(&a, "over-long message") == 0)
		printf("ok: closed after an over-long message header\n");
	sc_close(&a);
	return 0;
}

/* ---- concurrent connections ---- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Sends every request to every connection, then collects exactly one
 * reply from each with poll(). */
static int phase(struct sc **cs, unsigned n, const char *what)
{
	for (unsigned i = 0; i < n; i++)
		sc_flush(cs[i]);
	struct pollfd *pf = calloc(n, sizeof *pf);
	unsigned *idx = calloc(n, sizeof *idx);
	if (pf == NULL || idx == NULL)
		die("out of memory");
	unsigned waiting = n;
	for (unsigned i = 0; i < n; i++)
		cs[i]->msglen = 0;
	time_t deadline = time(NULL) + 10;
	while (waiting > 0 && time(NULL) < deadline) {
		unsigned k = 0;
		for (unsigned i = 0; i < n; i++)
			if (cs[i]->msglen == 0) {
				pf[k].fd = cs[i]->fd;
				pf[k].events = POLLIN;
				idx[k++] = i;
			}
		int r = poll(pf, k, 1000);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (unsigned j = 0; j < k && r > 0; j++) {
			if (!(pf[j].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct sc *s = cs[idx[j]];
			ssize_t got = recv(s->fd, s->rbuf + s->rlen, sizeof s->rbuf - s->rlen, 0);
			if (got <= 0) {
				fail("%s: connection %u closed", what, idx[j]);
				s->msglen = 1;
				waiting--;
				continue;
			}
			s->rlen += (size_t)got;
			if (s->rlen >= CAS_SC_HEADER_LEN &&
			    s->rlen >= CAS_SC_HEADER_LEN + (size_t)cas_be16(s->rbuf + 3))
				waiting--, s->msglen = 1;	/* complete: read below */
		}
	}
	free(pf);
	free(idx);
	if (waiting > 0) {
		fail("%s: %u of %u connections got no reply in 10 s", what, waiting, n);
		return -1;
	}
	return 0;
}

static int concurrent(void)
{
	unsigned n = O.conns;
	struct sc **cs = calloc(n, sizeof *cs);
	if (cs == NULL)
		die("out of memory");
	for (unsigned i = 0; i < n; i++) {
		/* Big receive buffers are not needed here. */
		cs[i] = malloc(sizeof *cs[i]);
		if (cs[i] == NULL)
			die("out of memory");
		cs[i]->fd = -1;
	}
	int64_t t0 = now_s();
	quiet = 1;
	for (unsigned i = 0; i < n; i++)
		sc_connect(cs[i], O.version, 1, W_COALESCE, 0);
	printf("ok: %u connections open\n", n);
	for (unsigned i = 0; i < n; i++) {
		set_nonblock(cs[i]->fd);
		q_channel_setup(cs[i], 1, 0x0B000000);
	}
	if (phase(cs, n, "channel_setup") < 0)
		return 1;
	unsigned good = 0;
	uint8_t x[256];
	size_t xl = x_channel_status(x, sizeof x, O.version, 1);
	for (unsigned i = 0; i < n; i++) {
		if (cs[i]->rlen == xl && memcmp(cs[i]->rbuf, x, xl) == 0)
			good++;
		cs[i]->rlen = 0;
	}
	if (good != n)
		fail("channel_status: %u of %u as expected", good, n);
	else
		printf("ok: %u channels set up, all with ECM_channel_id 1\n", n);

	for (unsigned i = 0; i < n; i++)
		q_stream_setup(cs[i], 1, 1, 100);
	if (phase(cs, n, "stream_setup") < 0)
		return 1;
	xl = x_stream_status(x, sizeof x, O.version, 1, 1, 1);
	good = 0;
	for (unsigned i = 0; i < n; i++) {
		if (cs[i]->rlen == xl && memcmp(cs[i]->rbuf, x, xl) == 0)
			good++;
		cs[i]->rlen = 0;
	}
	if (good != n)
		fail("stream_status: %u of %u as expected", good, n);
	else
		printf("ok: %u streams set up\n", n);

	const uint8_t ac[4] = { 0, 0, 0, 9 };
	unsigned ecms = 0;
	for (unsigned cp = 7; cp < 9; cp++) {
		for (unsigned i = 0; i < n; i++)
			q_cw(cs[i], 1, (uint16_t)cp, ac, sizeof ac);
		if (phase(cs, n, "CW_provision") < 0)
			return 1;
		for (unsigned i = 0; i < n; i++) {
			struct sc *s = cs[i];
			struct cas_tlv_msg m;
			struct cas_tlv_error e;
			struct cas_buf b;
			cas_buf_init(&b, s->rbuf, s->rlen);
			s->rlen = 0;
			uint16_t rcp = 0;
			if (cas_tlv_decode(&m, &b, I, CAS_TLV_VERSION(O.version), &e) < 0 ||
			    m.type != CAS_ECMG_MSG_ECM_RESPONSE ||
			    cas_tlv_get_u16(&m, CAS_ECMG_PARAM_CP_NUMBER, &rcp) < 0 || rcp != cp) {
				fail("connection %u: no ECM_response for CP %u", i, cp);
				continue;
			}
			const struct cas_tlv_param *dg = cas_tlv_find(&m, CAS_ECMG_PARAM_ECM_DATAGRAM);
			if (check_ecm(dg->value, dg->len, 1, (uint16_t)cp, 9, t0, now_s(), NULL,
				      "concurrent ECM") == 0)
				ecms++;
		}
	}
	if (ecms == 2 * n)
		printf("ok: %u ECMs on %u concurrent connections decrypt correctly\n", ecms, n);
	for (unsigned i = 0; i < n; i++) {
		close(cs[i]->fd);
		free(cs[i]);
	}
	free(cs);
	return 0;
}

/* ---- hold: a running channel across a reload or a stop ---- */

static int hold(void)
{
	static struct sc s;
	const uint8_t ac[4] = { 0, 0, 0, 1 };
	sc_connect(&s, O.version, O.channel, W_NORMAL, 0);
	setup_channel(&s, "channel_setup");
	q_stream_setup(&s, 1, 1, 100);
	expect_stream_status(&s, 1, 1, "stream_setup");
	printf("ready\n");
	fflush(stdout);
	unsigned with[3] = { 0, 0, 0 }, back = 0;
	int last = 0;
	int64_t end_at = now_s() + O.hold_s;
	uint16_t cp = 0;
	while (now_s() < end_at) {
		int64_t t0 = now_s();
		q_cw(&s, 1, cp, cp == 0 ? ac : NULL, cp == 0 ? sizeof ac : 0);
		int used = 0;
		if (O.allow_eof) {
			int r = sc_recv(&s);
			if (r == 0) {
				printf("ok: connection closed by ecmgd after %u ECMs\n", with[1] + with[2]);
				return 0;
			}
			if (r < 0) {
				fail("no reply in 5 s");
				return 1;
			}
			s.rlen = 0;
			with[1]++;
		} else if (expect_ecm(&s, 1, cp, 1, t0, &used, "held stream") == 0) {
			with[used]++;
			if (used < last)
				back++;
			last = used;
		} else {
			return 1;
		}
		cp++;
		usleep(50000);
	}
	if (O.allow_eof) {
		fail("connection not closed by ecmgd in %u s", O.hold_s);
		return 1;
	}
	printf("ok: %u ECMs with the first key, %u with the second, connection kept\n", with[1], with[2]);
	if (back > 0)
		fail("an ECM with the first key after one with the second");
	if (O.has_key2 && (with[1] == 0 || with[2] == 0))
		fail("expected ECMs under both keys");
	q_stream(&s, CAS_ECMG_MSG_STREAM_CLOSE_REQUEST, 1);
	expect_close_response(&s, 1, "stream_close_request");
	q_channel(&s, CAS_ECMG_MSG_CHANNEL_CLOSE, s.ch);
	sc_close(&s);
	return 0;
}

/* ---- cards ---- */

static void issue_cards(int k, const uint8_t key[32])
{
	const struct cas_profile *prof = cas_profile_find("tvcas3");
	int64_t now = now_s();
	const struct { uint32_t ac; int64_t start, finish; } row[NCARDS] = {
		[CARD_ALL] = { 0xFFFFFFFFu, now - 86400, now + 30 * 86400 },
		[CARD_OTHER] = { 0x00000002u, now - 86400, now + 30 * 86400 },
		[CARD_EXPIRED] = { 0xFFFFFFFFu, now - 30 * 86400, now - 86400 },
	};
	for (int i = 0; i < NCARDS; i++) {
		/* type 2: anti-sharing off, so many quick ECMs are fine */
		struct cas_rights r = { .serial = 2100000000u + (uint32_t)(k * 10 + i), .ac = row[i].ac,
					.start = row[i].start, .finish = row[i].finish, .pair = 0, .type = 2 };
		memset(r.key, 0x40 + i, sizeof r.key);
		struct cas_bin_opts bo = { key, 32, 0x0B00, "SCSSIM" };
		uint8_t bin[CAS_TVCAS3_BIN_LEN];
		if (prof == NULL || prof->bin_build(&r, &bo, bin, sizeof bin) != CAS_TVCAS3_BIN_LEN ||
		    cas_card_init_bin(&cards[k][i], bin) < 0)
			die("unable to issue test card %d", i);
	}
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: scs_sim -p PORT [-k HEX] [-K HEX] [-v 1|2|3] [-S N] [-n N] [-c N] [-d S]\n"
		"               [-C ID] [-t 0|1] [-M N] [-m normal|split|coalesce] [-x HEX] [-w PCAP]\n"
		"               [-e FILE] [-E] session|errors|concurrent|hold\n");
	exit(100);
}

static void hexarg(const char *s, uint8_t *out, size_t n, int *flag)
{
	if (cas_hex_decode(s, strlen(s), out, n) < 0)
		usage();
	if (flag != NULL)
		*flag = 1;
}

int main(int argc, char **argv)
{
	O.version = 2;
	O.streams = 2;
	O.cps = 6;
	O.conns = 1000;
	O.hold_s = 3;
	O.channel = 1;
	O.max_streams = 1000;
	O.seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	int opt;
	while ((opt = getopt(argc, argv, "p:k:K:v:S:n:c:d:C:t:M:m:x:w:e:E")) != -1) {
		switch (opt) {
		case 'p': O.port = (uint16_t)atoi(optarg); break;
		case 'k': hexarg(optarg, O.key, 32, &O.has_key); break;
		case 'K': hexarg(optarg, O.key2, 32, &O.has_key2); break;
		case 'v': O.version = (uint8_t)atoi(optarg); break;
		case 'S': O.streams = (unsigned)atoi(optarg); break;
		case 'n': O.cps = (unsigned)atoi(optarg); break;
		case 'c': O.conns = (unsigned)atoi(optarg); break;
		case 'd': O.hold_s = (unsigned)atoi(optarg); break;
		case 'C': O.channel = (uint16_t)atoi(optarg); break;
		case 't': O.flag = (uint8_t)atoi(optarg); break;
		case 'M': O.max_streams = (uint16_t)atoi(optarg); break;
		case 'm':
			if (strcmp(optarg, "split") == 0)
				O.wmode = W_SPLIT;
			else if (strcmp(optarg, "coalesce") == 0)
				O.wmode = W_COALESCE;
			else if (strcmp(optarg, "normal") == 0)
				O.wmode = W_NORMAL;
			else
				usage();
			break;
		case 'x':
			O.status_len = strlen(optarg) / 2;
			if (O.status_len > sizeof O.status ||
			    cas_hex_decode(optarg, strlen(optarg), O.status, O.status_len) < 0)
				usage();
			break;
		case 'w': O.pcap_path = optarg; break;
		case 'e': O.ecm_path = optarg; break;
		case 'E': O.allow_eof = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || O.port == 0 || !O.has_key || O.version < 1 || O.version > 3)
		usage();
	cas_tvcas3_ecm_key_init(&K.k1, O.key);
	issue_cards(0, O.key);
	if (O.has_key2) {
		cas_tvcas3_ecm_key_init(&K.k2, O.key2);
		issue_cards(1, O.key2);
	}
	if (O.pcap_path != NULL) {
		if (cas_pcap_open(&pcap, O.pcap_path) < 0)
			die("%s: %s", O.pcap_path, strerror(errno));
		use_pcap = 1;
	}
	if (O.ecm_path != NULL && (ecm_file = fopen(O.ecm_path, "a")) == NULL)
		die("%s: %s", O.ecm_path, strerror(errno));
	/* The concurrent mode needs a descriptor per connection. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			printf("note: unable to raise the open files limit: %s\n", strerror(errno));
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	const char *mode = argv[optind];
	int rc;
	if (strcmp(mode, "session") == 0)
		rc = session();
	else if (strcmp(mode, "errors") == 0)
		rc = errors();
	else if (strcmp(mode, "concurrent") == 0)
		rc = concurrent();
	else if (strcmp(mode, "hold") == 0)
		rc = hold();
	else
		usage();
	if (use_pcap && cas_pcap_close(&pcap) < 0)
		fail("writing %s", O.pcap_path);
	if (ecm_file != NULL)
		fclose(ecm_file);
	if (rc != 0 || fails > 0) {
		printf("scs_sim %s: %u failure(s)\n", mode, fails + (rc != 0 && fails == 0));
		return 1;
	}
	if (card_refusals > 0)
		printf("ok: the card logic released the CWs of %u ECMs to the entitled card and refused "
		       "them to a card without the package and to an expired card\n", card_refusals);
	printf("scs_sim %s: all checks passed\n", mode);
	return 0;
}
