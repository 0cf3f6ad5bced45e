/*
 * mux_sim: a SimulCrypt multiplexer (EMMG<=>MUX server, ETSI TS 103 197) for
 * the emmgd tests and benchmarks.  It accepts one EMMG at a time (as TSDuck
 * datainject does), checks every message it gets, and reports what it saw:
 *
 *   - message order (channel_setup, stream_setup, stream_BW_request, data
 *     only after the allocation), the version byte, the parameters
 *     (cas_tlv_validate), client_id / data_channel_id / data_stream_id /
 *     data_id / data_type / section_TSpkt_flag against what it expects;
 *   - data_provision on TCP or UDP: at most -m datagram bytes per message,
 *     TS packets (188-byte, sync 0x47, one section each) or sections;
 *   - the rate, counted as emmgd counts it (TS bytes, or sections in whole
 *     packets / packed bytes), over the whole run and over every 1 s window;
 *   - every EMM (tvcas3.md §3): the header, the address, decrypted here with
 *     two-key 3DES (libcas tdes only; not the profile code under test) with
 *     the card key read from the database, both checksums, the plaintext
 *     serial, and the rights against the card's row and the effective-rights
 *     rule (AC 0 for a disabled, expired, blocked or deleted card);
 *   - it answers channel_test/stream_test and sends its own once, answers
 *     stream_close_request, and can restart itself or send an error.
 *
 * Usage: mux_sim [options]
 *   -c CONF     cas.conf whose db/master_key give the card keys (else no decryption)
 *   -p PORT     TCP port on 127.0.0.1 (0 = any; the port is printed "listening PORT")
 *   -P FILE     also write the port there
 *   -u          also take data_provision over UDP on the same port
 *   -V N        protocol version expected (2)
 *   -b KBIT     bandwidth to allocate (default: what is requested)
 *   -B          allocate without a bandwidth (unlimited)
 *   -T          expect TS packets (section_TSpkt_flag 1)
 *   -S MODE     section cost for the rate: packet (default) or bytes
 *   -m BYTES    datagram bytes allowed per data_provision (1316)
 *   -C ID       client_id expected (0x0B000000)
 *   -d SECONDS  run this long, then print the summary and exit (10)
 *   -o FILE     one line per EMM: ms serial AC start finish+1 pair protect result hex
 *   -w FILE     pcap of what was exchanged (TCP and UDP)
 *   -R N:MS     after N data_provisions, close everything for MS ms, listen again (once)
 *   -E K:N:CODE after N data_provisions send channel_error (K=channel) or stream_error
 *               (K=stream) with error_status CODE (once)
 *   -x          exit once the EMMG closed its session cleanly
 *   -y          measure the carousel cycle (time between an EMM and its serial's next)
 *   -s          do not send the channel_test/stream_test probe
 *   -L          read every card's key at start (no database reads while running)
 * Exit status: 0 if no check failed, 1 otherwise; "FAIL: ..." lines say why.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "buf.h"
#include "conf.h"
#include "db.h"
#include "hex.h"
#include "mkey.h"
#include "pcap.h"
#include "simulcrypt.h"
#include "tdes.h"
#include "tlv.h"
#include "ts.h"

#define DUMMY_SERIAL 2199999999u

/* tvcas3.md §3.4: the dummy EMM's card key. */
static const uint8_t dummy_key[16] = {
	0x12, 0x34, 0x56, 0x78, 0x90, 0xA0, 0xB1, 0xC2, 0x12, 0x34, 0x56, 0x78, 0x90, 0xA0, 0xB1, 0xC2
};

enum sstate { S_NONE, S_CHANNEL, S_STREAM, S_RUNNING, S_CLOSED };

struct keyent {
	uint32_t serial;	/* 0 = empty */
	uint8_t key[16];
	uint32_t ac, start, finish;
	int64_t blocked_until;
	int status, pair, type;
	int deleted;
};

struct cyc {
	uint32_t serial;	/* 0 = empty */
	int64_t first_ms, second_ms;
};

struct sim {
	/* options */
	const char *conf_path, *port_file, *emm_log, *pcap_path;
	int port, udp, version, alloc_kbit, alloc_none, ts_mode, cost_bytes;
	int max_bytes;
	uint32_t client_id;
	double duration;
	int restart_after, restart_ms, err_after, err_code, err_stream;
	int exit_on_close, cycle, no_probe, preload;

	/* sockets */
	int lfd, cfd, ufd;
	struct cas_tlv_framer framer;
	struct cas_pcap pcap;
	int pcap_open;
	struct cas_pcap_tcp conv;
	uint16_t peer_port;
	FILE *log;

	/* session */
	enum sstate st;
	uint16_t channel, stream, data_id;
	int have_data_id;
	int probe_sent;
	int64_t running_ms;
	int restarted, err_sent;
	long data_in_session;

	/* counters */
	long sessions, clean_closes, messages, tcp_data, udp_data, datagrams, emms;
	long ok, filler, stale, badsum, nokey, badhdr, test_replies, bw_requests;
	long fails, errors_in;
	long max_msg_bytes;
	double min_gap_ms;
	int64_t last_data_ns;
	uint64_t cost_units_total;

	/* rate: per message (time, cost) */
	int64_t *rt;
	uint64_t *rc;
	size_t rn, rcap;

	/* keys */
	struct cas_db *db;
	struct keyent *keys;
	size_t kcap, kcount;

	/* cycle */
	struct cyc *cy;
	size_t cycap, cycount;

	int64_t start_ns;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	s->fails++;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

/* ---- keys ---- */

static size_t hslot(uint32_t serial, size_t cap)
{
	return (size_t)((serial * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static struct keyent *key_find(struct sim *s, uint32_t serial, int add)
{
	if (s->kcap == 0 || (add && (s->kcount + 1) * 2 > s->kcap)) {
		size_t cap = s->kcap ? s->kcap * 2 : 4096;
		struct keyent *n = calloc(cap, sizeof *n);
		if (n == NULL)
			return NULL;
		for (size_t i = 0; i < s->kcap; i++)
			if (s->keys[i].serial != 0) {
				size_t j = hslot(s->keys[i].serial, cap);
				while (n[j].serial != 0)
					j = (j + 1) & (cap - 1);
				n[j] = s->keys[i];
			}
		free(s->keys);
		s->keys = n;
		s->kcap = cap;
	}
	size_t i = hslot(serial, s->kcap);
	while (s->keys[i].serial != 0) {
		if (s->keys[i].serial == serial)
			return &s->keys[i];
		i = (i + 1) & (s->kcap - 1);
	}
	if (!add)
		return NULL;
	s->keys[i].serial = serial;
	s->kcount++;
	return &s->keys[i];
}

/* Reads the card's row now.  1 found, 0 not in the database, -1 error. */
static int key_refresh(struct sim *s, uint32_t serial)
{
	struct cas_card c;
	int rc = cas_db_card_get(s->db, serial, &c);
	if (rc == CAS_DB_NOTFOUND) {
		struct keyent *k = key_find(s, serial, 0);
		if (k != NULL)
			k->deleted = 1;
		return 0;
	}
	if (rc != 0)
		return -1;
	struct keyent *k = key_find(s, serial, 1);
	if (k == NULL)
		return -1;
	memcpy(k->key, c.key, 16);
	k->ac = c.access_criteria;
	k->start = (uint32_t)c.start;
	k->finish = (uint32_t)c.finish;
	k->blocked_until = c.blocked_until;
	k->status = c.status;
	k->pair = c.pair;
	k->type = c.type;
	k->deleted = 0;
	cas_card_wipe(&c);
	return 1;
}

static int preload_card(void *ctx, const struct cas_card *c)
{
	struct sim *s = ctx;
	struct keyent *k = key_find(s, c->serial_no, 1);
	if (k == NULL)
		return -1;
	memcpy(k->key, c->key, 16);
	k->ac = c->access_criteria;
	k->start = (uint32_t)c->start;
	k->finish = (uint32_t)c->finish;
	k->blocked_until = c->blocked_until;
	k->status = c->status;
	k->pair = c->pair;
	k->type = c->type;
	k->deleted = 0;
	return 0;
}

/* ---- EMM check (tvcas3.md §3) ---- */

static uint8_t sum8(const uint8_t *p, size_t n)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++)
		v += p[i];
	return (uint8_t)v;
}

/* The rights the card's row gives at time now (rights.h, written out
 * again here on purpose). */
static void expected(const struct keyent *k, int64_t now_s, uint8_t out[22])
{
	uint32_t ac = k->ac;
	if (k->deleted || k->status != 1 || k->blocked_until > now_s)
		ac = 0;
	cas_put_be32(out, 0);
	cas_put_be32(out + 4, ac);
	cas_put_be32(out + 8, k->start);
	cas_put_be32(out + 12, k->finish + 1);
	out[20] = k->pair > 0;
	out[21] = k->type == 1;
}

static void check_emm(struct sim *s, const uint8_t *sec, size_t len)
{
	static const uint8_t h1[6] = { 0x82, 0x70, 0x3B, 0x00, 0x00, 0x00 };
	static const uint8_t h2[4] = { 0x70, 0x32, 0x64, 0x10 };
	int64_t now_ms = real_ms();
	s->emms++;
	if (len != 62 || memcmp(sec, h1, 6) != 0 || memcmp(sec + 10, h2, 4) != 0) {
		s->badhdr++;
		fail(s, "EMM of %zu bytes with a wrong header", len);
		return;
	}
	uint32_t serial = cas_be32(sec + 6);
	if (s->cycle) {
		if (s->cycount * 2 + 2 > s->cycap) {
			size_t cap = s->cycap ? s->cycap * 2 : 1 << 16;
			struct cyc *n = calloc(cap, sizeof *n);
			if (n != NULL) {
				for (size_t i = 0; i < s->cycap; i++)
					if (s->cy[i].serial != 0) {
						size_t j = hslot(s->cy[i].serial, cap);
						while (n[j].serial != 0)
							j = (j + 1) & (cap - 1);
						n[j] = s->cy[i];
					}
				free(s->cy);
				s->cy = n;
				s->cycap = cap;
			}
		}
		size_t i = hslot(serial, s->cycap);
		while (s->cy[i].serial != 0 && s->cy[i].serial != serial)
			i = (i + 1) & (s->cycap - 1);
		if (s->cy[i].serial == 0) {
			s->cy[i].serial = serial;
			s->cy[i].first_ms = now_ms;
			s->cycount++;
		} else if (s->cy[i].second_ms == 0) {
			s->cy[i].second_ms = now_ms;
		}
	}
	if (s->db == NULL && serial != DUMMY_SERIAL)
		return;

	uint8_t key[16];
	struct keyent dummy;
	struct keyent *k;
	if (serial == DUMMY_SERIAL) {
		memset(&dummy, 0, sizeof dummy);
		memcpy(dummy.key, dummy_key, 16);
		k = &dummy;
	} else {
		k = key_find(s, serial, 0);
		if (k == NULL && key_refresh(s, serial) > 0)
			k = key_find(s, serial, 0);
	}
	const char *result;
	uint8_t pt[48], exp[22];
	uint32_t ac = 0, start = 0, fin1 = 0;
	int pair = 0, prot = 0;
	if (k == NULL) {
		s->nokey++;
		result = "nokey";
		fail(s, "EMM for card %u, which the database does not hold", serial);
	} else {
		memcpy(key, k->key, 16);
		struct cas_tdes_key ks;
		cas_tdes_set_key2(&ks, key);
		cas_tdes_ecb_decrypt(&ks, sec + 14, pt, 48);
		cas_tdes_wipe(&ks);
		ac = cas_be32(pt + 4);
		start = cas_be32(pt + 8);
		fin1 = cas_be32(pt + 12);
		pair = pt[20];
		prot = pt[21];
		if (sum8(pt, 23) != pt[23] || sum8(pt, 47) != pt[47] || cas_be32(pt) != serial) {
			s->badsum++;
			result = "badsum";
			fail(s, "EMM for card %u does not decrypt with its key (checksum or serial)", serial);
		} else if (serial == DUMMY_SERIAL) {
			s->filler++;
			result = "filler";
			if (ac != 0xFFFFFFFFu)
				fail(s, "dummy EMM with AC %08X", ac);
		} else {
			expected(k, now_ms / 1000, exp);
			int same = memcmp(pt + 4, exp + 4, 12) == 0 && pt[20] == exp[20] && pt[21] == exp[21];
			if (!same && key_refresh(s, serial) >= 0) {
				k = key_find(s, serial, 0);
				if (k != NULL) {
					expected(k, now_ms / 1000, exp);
					same = memcmp(pt + 4, exp + 4, 12) == 0 && pt[20] == exp[20] &&
					       pt[21] == exp[21];
				}
			}
			if (same) {
				s->ok++;
				result = "ok";
			} else {
				s->stale++;
				result = "stale";
			}
		}
	}
	if (s->log != NULL) {
		char hex[62 * 2 + 1];
		cas_hex_encode(sec, 62, hex);
		fprintf(s->log, "%lld %u %08X %u %u %d %d %s %s\n", (long long)now_ms, serial, ac, start,
			fin1, pair, prot, result, hex);
	}
}

/* ---- sending ---- */

static void sendmsg_(struct sim *s, const uint8_t *p, size_t n)
{
	if (s->cfd < 0)
		return;
	if (s->pcap_open)
		cas_pcap_tcp_send(&s->pcap, &s->conv, CAS_PCAP_SERVER, p, n);
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(s->cfd, p + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		off += (size_t)w;
	}
}

static size_t begin(struct sim *s, struct cas_wbuf *w, uint16_t type)
{
	size_t at = cas_tlv_begin(w, (uint8_t)s->version, type);
	cas_tlv_put_u32(w, CAS_EMMG_PARAM_CLIENT_ID, s->client_id);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, s->channel);
	return at;
}

static void end(struct sim *s, struct cas_wbuf *w, size_t at)
{
	if (cas_tlv_end(w, at) == 0)
		sendmsg_(s, w->data + at, w->len - at);
}

static void send_stream(struct sim *s, uint16_t type, int with_data)
{
	uint8_t b[128];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = begin(s, &w, type);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, s->stream);
	if (with_data) {
		if (s->version >= 2)
			cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_ID, s->data_id);
		cas_tlv_put_u8(&w, CAS_EMMG_PARAM_DATA_TYPE, 0);
	}
	end(s, &w, at);
}

/* ---- sessions ---- */

static int listen_tcp(struct sim *s)
{
	struct sockaddr_in a;
	int one = 1;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)s->port);
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->lfd, 1) < 0) {
		fprintf(stderr, "mux_sim: unable to listen on 127.0.0.1:%d: %s\n", s->port, strerror(errno));
		return -1;
	}
	socklen_t al = sizeof a;
	getsockname(s->lfd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	if (s->udp && s->ufd < 0) {
		s->ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (bind(s->ufd, (struct sockaddr *)&a, sizeof a) < 0) {
			fprintf(stderr, "mux_sim: unable to bind UDP 127.0.0.1:%d: %s\n", s->port, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void close_session(struct sim *s, const char *why)
{
	if (s->cfd < 0)
		return;
	note("session %ld closed: %s", s->sessions, why);
	if (s->pcap_open)
		cas_pcap_tcp_close(&s->pcap, &s->conv, CAS_PCAP_CLIENT);
	close(s->cfd);
	s->cfd = -1;
	s->st = S_NONE;
}

static void record_rate(struct sim *s, uint64_t units)
{
	if (s->rn == s->rcap) {
		size_t cap = s->rcap ? s->rcap * 2 : 4096;
		int64_t *t = realloc(s->rt, cap * sizeof *t);
		if (t == NULL)
			return;
		s->rt = t;
		uint64_t *c = realloc(s->rc, cap * sizeof *c);
		if (c == NULL)
			return;
		s->rc = c;
		s->rcap = cap;
	}
	s->rt[s->rn] = mono_ns();
	s->rc[s->rn] = units;
	s->rn++;
	s->cost_units_total += units;
}

static uint64_t cost(const struct sim *s, size_t len)
{
	if (s->ts_mode)
		return (uint64_t)len * 184;
	if (s->cost_bytes)
		return (uint64_t)len * 188;
	return (uint64_t)((len + 1 + 183) / 184) * 188 * 184;
}

static void data_provision(struct sim *s, const struct cas_tlv_msg *m, int via_udp)
{
	if (s->st != S_RUNNING) {
		fail(s, "data_provision before stream_BW_allocation (%s)", via_udp ? "UDP" : "TCP");
		return;
	}
	uint32_t client = 0;
	uint16_t id = 0;
	if (cas_tlv_get_u32(m, CAS_EMMG_PARAM_CLIENT_ID, &client) < 0 || client != s->client_id)
		fail(s, "data_provision client_id 0x%08X", client);
	if (s->version >= 2 && (cas_tlv_get_u16(m, CAS_EMMG_PARAM_DATA_ID, &id) < 0 || id != s->data_id))
		fail(s, "data_provision data_id %u, stream has %u", id, s->data_id);
	if (cas_tlv_get_u16(m, CAS_EMMG_PARAM_DATA_CHANNEL_ID, &id) == 0 && id != s->channel)
		fail(s, "data_provision data_channel_id %u", id);
	if (cas_tlv_get_u16(m, CAS_EMMG_PARAM_DATA_STREAM_ID, &id) == 0 && id != s->stream)
		fail(s, "data_provision data_stream_id %u", id);
	if (!via_udp && cas_tlv_find(m, CAS_EMMG_PARAM_DATA_CHANNEL_ID) == NULL)
		fail(s, "data_provision on TCP without data_channel_id");
	s->messages++;
	if (via_udp)
		s->udp_data++;
	else
		s->tcp_data++;
	s->data_in_session++;
	long total = 0;
	uint64_t units = 0;
	const struct cas_tlv_param *p = NULL;
	while ((p = cas_tlv_next(m, CAS_EMMG_PARAM_DATAGRAM, p)) != NULL) {
		s->datagrams++;
		total += p->len;
		units += cost(s, p->len);
		if (s->ts_mode) {
			if (p->len == 0 || p->len % 188 != 0) {
				fail(s, "TS datagram of %u bytes", p->len);
				continue;
			}
			for (size_t off = 0; off < p->len; off += 188) {
				uint8_t sec[4096];
				long n = cas_ts_extract(p->value + off, 188, sec, sizeof sec, NULL);
				if (n < 0) {
					fail(s, "malformed TS packet in a datagram");
					continue;
				}
				check_emm(s, sec, (size_t)n);
			}
		} else {
			if (p->len < 3 || (size_t)(3 + (((p->value[1] & 0x0F) << 8) | p->value[2])) != p->len) {
				fail(s, "datagram of %u bytes is not one section", p->len);
				continue;
			}
			check_emm(s, p->value, p->len);
		}
	}
	if (total > s->max_bytes)
		fail(s, "data_provision with %ld datagram bytes (at most %d)", total, s->max_bytes);
	if (total > s->max_msg_bytes)
		s->max_msg_bytes = total;
	int64_t now = mono_ns();
	if (s->last_data_ns != 0) {
		double gap = (double)(now - s->last_data_ns) / 1e6;
		if (s->min_gap_ms < 0 || gap < s->min_gap_ms)
			s->min_gap_ms = gap;
	}
	s->last_data_ns = now;
	record_rate(s, units);

	if (s->err_after > 0 && !s->err_sent && s->data_in_session >= s->err_after && s->cfd >= 0) {
		uint8_t b[128];
		struct cas_wbuf w;
		s->err_sent = 1;
		cas_wbuf_init(&w, b, sizeof b);
		size_t at = begin(s, &w, s->err_stream ? CAS_EMMG_MSG_STREAM_ERROR : CAS_EMMG_MSG_CHANNEL_ERROR);
		if (s->err_stream)
			cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, s->stream);
		cas_tlv_put_error(&w, (uint16_t)s->err_code, 0);
		end(s, &w, at);
		note("sent %s 0x%04X", s->err_stream ? "stream_error" : "channel_error", s->err_code);
	}
}

static void handle(struct sim *s, const uint8_t *data, size_t len, int via_udp)
{
	struct cas_tlv_msg m;
	struct cas_tlv_error e;
	struct cas_buf b;
	cas_buf_init(&b, data, len);
	if (cas_tlv_decode(&m, &b, CAS_SC_EMMG, CAS_TLV_VERSION(s->version), &e) < 0) {
		fail(s, "invalid message 0x%04X (version %u): 0x%04X %s, information 0x%04X", m.type,
		     len > 0 ? data[0] : 0, e.status, cas_simulcrypt_error_name(CAS_SC_EMMG, e.status), e.info);
		return;
	}
	if (via_udp) {
		if (m.type != CAS_EMMG_MSG_DATA_PROVISION)
			fail(s, "%s over UDP", cas_simulcrypt_msg_name(CAS_SC_EMMG, m.type));
		else
			data_provision(s, &m, 1);
		return;
	}
	uint32_t client = 0;
	uint16_t ch = 0, st = 0;
	uint8_t u8 = 0;
	if (m.type != CAS_EMMG_MSG_DATA_PROVISION &&
	    (cas_tlv_get_u32(&m, CAS_EMMG_PARAM_CLIENT_ID, &client) < 0 || client != s->client_id))
		fail(s, "%s with client_id 0x%08X, expected 0x%08X",
		     cas_simulcrypt_msg_name(CAS_SC_EMMG, m.type), client, s->client_id);
	switch (m.type) {
	case CAS_EMMG_MSG_CHANNEL_SETUP: {
		if (s->st != S_NONE)
			fail(s, "second channel_setup");
		(void)cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_CHANNEL_ID, &ch);
		(void)cas_tlv_get_u8(&m, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, &u8);
		if (u8 != s->ts_mode)
			fail(s, "channel_setup section_TSpkt_flag %u, expected %d", u8, s->ts_mode);
		s->channel = ch;
		s->st = S_CHANNEL;
		note("channel_setup v%u client_id=0x%08X channel=%u flag=%u", m.version, client, ch, u8);
		uint8_t bb[128];
		struct cas_wbuf w;
		cas_wbuf_init(&w, bb, sizeof bb);
		size_t at = begin(s, &w, CAS_EMMG_MSG_CHANNEL_STATUS);
		cas_tlv_put_u8(&w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, u8);
		end(s, &w, at);
		return;
	}
	case CAS_EMMG_MSG_STREAM_SETUP: {
		if (s->st != S_CHANNEL)
			fail(s, "stream_setup in the wrong state");
		(void)cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_CHANNEL_ID, &ch);
		(void)cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_STREAM_ID, &st);
		(void)cas_tlv_get_u8(&m, CAS_EMMG_PARAM_DATA_TYPE, &u8);
		s->have_data_id = cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_ID, &s->data_id) == 0;
		if (ch != s->channel)
			fail(s, "stream_setup on channel %u, set up %u", ch, s->channel);
		if (u8 != 0)
			fail(s, "stream_setup data_type %u, expected 0 (EMM)", u8);
		s->stream = st;
		s->st = S_STREAM;
		note("stream_setup channel=%u stream=%u data_id=%u data_type=%u", ch, st, s->data_id, u8);
		send_stream(s, CAS_EMMG_MSG_STREAM_STATUS, 1);
		return;
	}
	case CAS_EMMG_MSG_STREAM_BW_REQUEST: {
		uint16_t bw = 0;
		if (s->st != S_STREAM && s->st != S_RUNNING)
			fail(s, "stream_BW_request in the wrong state");
		int has = cas_tlv_get_u16(&m, CAS_EMMG_PARAM_BANDWIDTH, &bw) == 0;
		s->bw_requests++;
		note("stream_BW_request bandwidth=%s%u", has ? "" : "none ", bw);
		uint8_t bb[128];
		struct cas_wbuf w;
		cas_wbuf_init(&w, bb, sizeof bb);
		size_t at = begin(s, &w, CAS_EMMG_MSG_STREAM_BW_ALLOCATION);
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, s->stream);
		if (!s->alloc_none)
			cas_tlv_put_u16(&w, CAS_EMMG_PARAM_BANDWIDTH,
					(uint16_t)(s->alloc_kbit >= 0 ? s->alloc_kbit : bw));
		end(s, &w, at);
		if (s->st == S_STREAM) {
			s->st = S_RUNNING;
			s->running_ms = real_ms();
		}
		return;
	}
	case CAS_EMMG_MSG_DATA_PROVISION:
		data_provision(s, &m, 0);
		return;
	case CAS_EMMG_MSG_CHANNEL_TEST: {
		uint8_t bb[128];
		struct cas_wbuf w;
		cas_wbuf_init(&w, bb, sizeof bb);
		size_t at = begin(s, &w, CAS_EMMG_MSG_CHANNEL_STATUS);
		cas_tlv_put_u8(&w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, (uint8_t)s->ts_mode);
		end(s, &w, at);
		note("channel_test answered");
		return;
	}
	case CAS_EMMG_MSG_CHANNEL_STATUS:
	case CAS_EMMG_MSG_STREAM_STATUS:
		s->test_replies++;
		note("%s received", cas_simulcrypt_msg_name(CAS_SC_EMMG, m.type));
		return;
	case CAS_EMMG_MSG_STREAM_CLOSE_REQUEST:
		if (s->st != S_RUNNING && s->st != S_STREAM)
			fail(s, "stream_close_request in the wrong state");
		note("stream_close_request");
		send_stream(s, CAS_EMMG_MSG_STREAM_CLOSE_RESPONSE, 0);
		s->st = S_CHANNEL;
		return;
	case CAS_EMMG_MSG_CHANNEL_CLOSE:
		note("channel_close%s", s->st == S_CHANNEL ? " after stream close" : "");
		if (s->st == S_CHANNEL)
			s->clean_closes++;
		s->st = S_CLOSED;
		return;
	case CAS_EMMG_MSG_CHANNEL_ERROR:
	case CAS_EMMG_MSG_STREAM_ERROR:
		s->errors_in++;
		note("%s from the EMMG", cas_simulcrypt_msg_name(CAS_SC_EMMG, m.type));
		return;
	default:
		fail(s, "unexpected %s", cas_simulcrypt_msg_name(CAS_SC_EMMG, m.type));
		return;
	}
}

static void probe(struct sim *s)
{
	uint8_t bb[128];
	struct cas_wbuf w;
	cas_wbuf_init(&w, bb, sizeof bb);
	size_t at = begin(s, &w, CAS_EMMG_MSG_CHANNEL_TEST);
	end(s, &w, at);
	send_stream(s, CAS_EMMG_MSG_STREAM_TEST, 0);
	s->probe_sent = 1;
	note("sent channel_test and stream_test");
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void summary(struct sim *s)
{
	double secs = 0, rate = 0, max1 = 0;
	if (s->rn >= 2) {
		secs = (double)(s->rt[s->rn - 1] - s->rt[0]) / 1e9;
		/* every message but the last, over the time to the last */
		uint64_t u = 0;
		for (size_t i = 0; i + 1 < s->rn; i++)
			u += s->rc[i];
		if (secs > 0)
			rate = (double)u / 184.0 * 8.0 / secs;
		/* the most received in any 1 s after a message: (t_i, t_i + 1 s] */
		size_t j = 0;
		uint64_t win = 0;
		for (size_t i = 0; i < s->rn; i++) {
			if (j <= i) {
				j = i + 1;
				win = 0;
			}
			while (j < s->rn && s->rt[j] - s->rt[i] <= 1000000000) {
				win += s->rc[j];
				j++;
			}
			if (s->rt[s->rn - 1] - s->rt[i] >= 1000000000) {
				double r = (double)win / 184.0 * 8.0;
				if (r > max1)
					max1 = r;
			}
			if (i + 1 < j)
				win -= s->rc[i + 1];
		}
	}
	long cycle_n = 0;
	double cycle_med = 0;
	if (s->cycle && s->cycap > 0) {
		int64_t *d = malloc(s->cycount * sizeof *d);
		if (d != NULL) {
			for (size_t i = 0; i < s->cycap; i++)
				if (s->cy[i].serial != 0 && s->cy[i].second_ms != 0)
					d[cycle_n++] = s->cy[i].second_ms - s->cy[i].first_ms;
			qsort(d, (size_t)cycle_n, sizeof *d, cmp_i64);
			if (cycle_n > 0)
				cycle_med = (double)d[cycle_n / 2];
			free(d);
		}
	}
	printf("summary: sessions=%ld clean_closes=%ld messages=%ld tcp_data=%ld udp_data=%ld "
	       "datagrams=%ld emms=%ld ok=%ld filler=%ld stale=%ld badsum=%ld nokey=%ld badhdr=%ld "
	       "bw_requests=%ld test_replies=%ld errors_in=%ld max_msg_bytes=%ld min_gap_ms=%.2f "
	       "seconds=%.3f rate_bps=%.0f max_1s_bps=%.0f distinct=%zu cycled=%ld cycle_median_ms=%.0f "
	       "fails=%ld\n",
	       s->sessions, s->clean_closes, s->messages, s->tcp_data, s->udp_data, s->datagrams,
	       s->emms, s->ok, s->filler, s->stale, s->badsum, s->nokey, s->badhdr, s->bw_requests,
	       s->test_replies, s->errors_in, s->max_msg_bytes, s->min_gap_ms < 0 ? 0 : s->min_gap_ms,
	       secs, rate, max1, s->cycount, cycle_n, cycle_med, s->fails);
	fflush(stdout);
}

static int open_db(struct sim *s)
{
	struct cas_conf conf;
	struct cas_mkey mk;
	if (cas_conf_load(&conf, s->conf_path) < 0) {
		fprintf(stderr, "mux_sim: %s\n", conf.err);
		cas_conf_free(&conf);
		return -1;
	}
	if (cas_mkey_load(&mk, cas_conf_str(&conf, "master_key"), 0) < 0) {
		fprintf(stderr, "mux_sim: %s\n", mk.err);
		cas_conf_free(&conf);
		return -1;
	}
	struct cas_db_options opt = { 5000, 0 };
	if (cas_db_open(&s->db, cas_conf_str(&conf, "db"), &mk, &opt) < 0) {
		fprintf(stderr, "mux_sim: %s\n", cas_db_errmsg(s->db));
		cas_db_close(s->db);
		s->db = NULL;
		cas_mkey_clear(&mk);
		cas_conf_free(&conf);
		return -1;
	}
	cas_mkey_clear(&mk);
	cas_conf_free(&conf);
	return 0;
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	static struct sim sim;
	struct sim *s = &sim;
	int opt;
	s->port = 0;
	s->version = 2;
	s->alloc_kbit = -1;
	s->max_bytes = 1316;
	s->client_id = 0x0B000000u;
	s->duration = 10;
	s->lfd = s->cfd = s->ufd = -1;
	s->min_gap_ms = -1;
	while ((opt = getopt(argc, argv, "c:p:P:uV:b:BTS:m:C:d:o:w:R:E:xysL")) != -1) {
		switch (opt) {
		case 'c': s->conf_path = optarg; break;
		case 'p': s->port = atoi(optarg); break;
		case 'P': s->port_file = optarg; break;
		case 'u': s->udp = 1; break;
		case 'V': s->version = atoi(optarg); break;
		case 'b': s->alloc_kbit = atoi(optarg); break;
		case 'B': s->alloc_none = 1; break;
		case 'T': s->ts_mode = 1; break;
		case 'S': s->cost_bytes = strcmp(optarg, "bytes") == 0; break;
		case 'm': s->max_bytes = atoi(optarg); break;
		case 'C': s->client_id = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'd': s->duration = atof(optarg); break;
		case 'o': s->emm_log = optarg; break;
		case 'w': s->pcap_path = optarg; break;
		case 'R': if (sscanf(optarg, "%d:%d", &s->restart_after, &s->restart_ms) != 2) return 100; break;
		case 'E': {
			char kind[16];
			if (sscanf(optarg, "%15[a-z]:%d:%i", kind, &s->err_after, &s->err_code) != 3)
				return 100;
			s->err_stream = strcmp(kind, "stream") == 0;
			break;
		}
		case 'x': s->exit_on_close = 1; break;
		case 'y': s->cycle = 1; break;
		case 's': s->no_probe = 1; break;
		case 'L': s->preload = 1; break;
		default:
			fprintf(stderr, "usage: see the comment at the top of test/sim/mux_sim.c\n");
			return 100;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (s->conf_path != NULL && open_db(s) < 0)
		return 111;
	if (s->db != NULL && s->preload && cas_db_cards_each(s->db, preload_card, s) < 0) {
		fprintf(stderr, "mux_sim: %s\n", cas_db_errmsg(s->db));
		return 111;
	}
	if (s->emm_log != NULL && (s->log = fopen(s->emm_log, "w")) == NULL) {
		fprintf(stderr, "mux_sim: %s: %s\n", s->emm_log, strerror(errno));
		return 111;
	}
	if (s->pcap_path != NULL) {
		if (cas_pcap_open(&s->pcap, s->pcap_path) < 0) {
			fprintf(stderr, "mux_sim: %s: %s\n", s->pcap_path, strerror(errno));
			return 111;
		}
		s->pcap_open = 1;
	}
	if (listen_tcp(s) < 0)
		return 111;
	note("listening %d", s->port);
	if (s->port_file != NULL) {
		FILE *f = fopen(s->port_file, "w");
		if (f != NULL) {
			fprintf(f, "%d\n", s->port);
			fclose(f);
		}
	}
	cas_tlv_framer_init(&s->framer);
	s->start_ns = mono_ns();
	int64_t down_until = 0;
	uint8_t buf[65536];
	for (;;) {
		int64_t now = mono_ns();
		if ((double)(now - s->start_ns) / 1e9 >= s->duration)
			break;
		if (s->lfd < 0 && now >= down_until) {
			if (listen_tcp(s) < 0)
				return 111;
			note("listening again %d", s->port);
		}
		if (s->st == S_RUNNING && !s->probe_sent && !s->no_probe && real_ms() - s->running_ms > 500)
			probe(s);
		struct pollfd p[3];
		int np = 0, il = -1, ic = -1, iu = -1;
		if (s->cfd >= 0) {
			p[np] = (struct pollfd){ s->cfd, POLLIN, 0 };
			ic = np++;
		} else if (s->lfd >= 0) {
			p[np] = (struct pollfd){ s->lfd, POLLIN, 0 };
			il = np++;
		}
		if (s->ufd >= 0) {
			p[np] = (struct pollfd){ s->ufd, POLLIN, 0 };
			iu = np++;
		}
		if (poll(p, (nfds_t)np, 20) < 0 && errno != EINTR)
			break;
		if (il >= 0 && (p[il].revents & POLLIN)) {
			struct sockaddr_in a;
			socklen_t al = sizeof a;
			s->cfd = accept(s->lfd, (struct sockaddr *)&a, &al);
			if (s->cfd >= 0) {
				s->sessions++;
				s->st = S_NONE;
				s->probe_sent = 0;
				s->data_in_session = 0;
				s->peer_port = ntohs(a.sin_port);
				cas_tlv_framer_init(&s->framer);
				note("session %ld from port %u", s->sessions, s->peer_port);
				if (s->pcap_open) {
					cas_pcap_tcp_init(&s->conv, 0x7F000001, s->peer_port, 0x7F000001,
							  (uint16_t)s->port);
					cas_pcap_tcp_connect(&s->pcap, &s->conv);
				}
			}
		}
		if (ic >= 0 && (p[ic].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = recv(s->cfd, buf, sizeof buf, 0);
			if (n <= 0) {
				int clean = s->st == S_CLOSED;
				close_session(s, n == 0 ? "EOF" : strerror(errno));
				if (clean && s->exit_on_close)
					break;
			} else {
				if (s->pcap_open)
					cas_pcap_tcp_send(&s->pcap, &s->conv, CAS_PCAP_CLIENT, buf, (size_t)n);
				if (cas_tlv_framer_feed(&s->framer, buf, (size_t)n) < 0) {
					fail(s, "framer refused the stream");
					close_session(s, "framer");
				} else {
					const uint8_t *msg;
					size_t len;
					int r;
					while (s->cfd >= 0 && (r = cas_tlv_framer_next(&s->framer, &msg, &len)) > 0)
						handle(s, msg, len, 0);
				}
			}
		}
		if (iu >= 0 && (p[iu].revents & POLLIN)) {
			struct sockaddr_in a;
			socklen_t al = sizeof a;
			ssize_t n = recvfrom(s->ufd, buf, sizeof buf, 0, (struct sockaddr *)&a, &al);
			if (n > 0) {
				if (s->pcap_open)
					cas_pcap_udp(&s->pcap, 0x7F000001, ntohs(a.sin_port), 0x7F000001,
						     (uint16_t)s->port, buf, (size_t)n);
				handle(s, buf, (size_t)n, 1);
			}
		}
		if (s->restart_after > 0 && !s->restarted && s->data_in_session >= s->restart_after) {
			s->restarted = 1;
			close_session(s, "restart");
			close(s->lfd);
			s->lfd = -1;
			down_until = mono_ns() + (int64_t)s->restart_ms * 1000000;
			note("restarting: down for %d ms", s->restart_ms);
		}
	}
	close_session(s, "end of run");
	summary(s);
	if (s->log)
		fclose(s->log);
	if (s->pcap_open && cas_pcap_close(&s->pcap) < 0) {
		fprintf(stderr, "mux_sim: writing %s failed\n", s->pcap_path);
		return 111;
	}
	if (s->keys) {
		for (size_t i = 0; i < s->kcap; i++)
			memset(s->keys[i].key, 0, 16);
		free(s->keys);
	}
	free(s->cy);
	free(s->rt);
	free(s->rc);
	cas_db_close(s->db);
	return s->fails > 0 ? 1 : 0;
}
