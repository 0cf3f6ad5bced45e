/*
 * One EMMG<=>MUX session (ETSI TS 103 197; reference/simulcrypt.md §3,
 * §5.3, §7): emmgd is the TCP client.
 *
 *   connect -> channel_setup -> channel_status -> stream_setup ->
 *   stream_status -> stream_BW_request -> stream_BW_allocation -> running:
 *   data_provision paced at min(requested, allocated) bandwidth (an
 *   allocation without a bandwidth means unlimited: the requested rate).
 *
 * While running it answers channel_test/stream_test, sends its own
 * channel_test every emmg.channel_test_interval seconds, and on a
 * channel_error/stream_error, a silent MUX or a lost connection it logs why
 * and sets the session up again after a back-off of 1, 2, 4 ... 30 s (back
 * to 1 s when a running session is lost without an error: a MUX restart).  SIGTERM:
 * stream_close_request, stream_close_response (bounded by emmg.timeout),
 * channel_close, close.
 *
 * Data: at most emmg.max_bytes datagram bytes per data_provision (1316 =
 * 7 TS packets, simulcrypt.md §7.12), messages at least 10 ms apart unless
 * full, on TCP or on UDP (v2+) to emmg.udp.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "buf.h"
#include "emmgd.h"
#include "log.h"
#include "simulcrypt.h"
#include "tlv.h"
#include "ts.h"

enum mstate {
	M_WAIT,		/* back-off before the next attempt */
	M_CONNECTING,
	M_CHANNEL,	/* channel_setup sent */
	M_STREAM,	/* stream_setup sent */
	M_BW,		/* stream_BW_request sent */
	M_RUNNING,
	M_CLOSING,	/* stream_close_request sent (shutdown) */
	M_DONE,		/* shut down */
};

static const char *const state_names[] = {
	"waiting", "connecting", "channel setup", "stream setup", "bandwidth request",
	"running", "closing", "closed",
};

#define MAX_BACKOFF_S 30
#define IDLE_POLL_MS 100	/* nothing due: look again this often */
#define UDP_END_WAIT_MS 100	/* last UDP data before stream_close_request (§5.3) */
#define OUT_HIGH_WATER 65536	/* MUX not reading: hold the data */

struct emmgd_mux {
	struct emmgd *d;
	unsigned index;
	char addr[EMMGD_ADDR_SIZE];
	char host[256];
	uint16_t port;
	char udp_host[256];
	uint16_t udp_port;
	int use_udp;

	enum mstate st;
	struct bufferevent *bev;
	int udp_fd;
	int udp_refused_logged;
	struct cas_tlv_framer *framer;
	struct event *ev_reply;		/* reply timeout / back-off */
	struct event *ev_pace;
	struct event *ev_keepalive;
	int backoff_s;
	int64_t running_since_ms;
	int restart_now;		/* reconnect without back-off */
	int test_pending;		/* our channel_test waits for channel_status */
	int shutting_down;
	int error_end;			/* the session ends on an error: keep backing off */

	uint32_t alloc_kbit;		/* 0 with alloc_unlimited */
	int alloc_unlimited;
	struct cas_pacer pacer;
	int pacing;			/* pacer initialised for this session */
	uint8_t cc;			/* continuity_counter of TS mode */
	int congested_logged;

	int64_t started, last_seen;
	int64_t emms, bytes, errors, messages;
};

static void connect_now(struct emmgd_mux *m);
static void session_end(struct emmgd_mux *m, const char *why);
static void schedule_pace(struct emmgd_mux *m, int64_t delay_ns);

static void arm(struct event *ev, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
	event_add(ev, &tv);
}

/* ---- sending ---- */

static int send_msg(struct emmgd_mux *m, const uint8_t *msg, size_t len)
{
	if (m->bev == NULL)
		return -1;
	if (bufferevent_write(m->bev, msg, len) < 0) {
		cas_log(CAS_LOG_ERROR, "MUX %s: unable to queue %zu bytes", m->addr, len);
		return -1;
	}
	return 0;
}

static size_t begin(struct cas_wbuf *w, struct emmgd_mux *m, uint16_t type)
{
	size_t at = cas_tlv_begin(w, (uint8_t)m->d->set.version, type);
	cas_tlv_put_u32(w, CAS_EMMG_PARAM_CLIENT_ID, m->d->set.client_id);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, m->d->set.channel_id);
	return at;
}

static int finish(struct cas_wbuf *w, size_t at, struct emmgd_mux *m)
{
	if (cas_tlv_end(w, at) < 0) {
		cas_log(CAS_LOG_ERROR, "MUX %s: message does not fit", m->addr);
		return -1;
	}
	return send_msg(m, w->data + at, w->len - at);
}

static int send_channel_setup(struct emmgd_mux *m)
{
	uint8_t b[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = begin(&w, m, CAS_EMMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u8(&w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, (uint8_t)m->d->set.ts_mode);
	return finish(&w, at, m);
}

static int send_channel_status(struct emmgd_mux *m)
{
	uint8_t b[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = begin(&w, m, CAS_EMMG_MSG_CHANNEL_STATUS);
	cas_tlv_put_u8(&w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, (uint8_t)m->d->set.ts_mode);
	return finish(&w, at, m);
}

static int send_channel_simple(struct emmgd_mux *m, uint16_t type)
{
	uint8_t b[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = begin(&w, m, type);
	return finish(&w, at, m);
}

static void put_stream_ids(struct cas_wbuf *w, struct emmgd_mux *m, int with_data)
{
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_STREAM_ID, m->d->set.stream_id);
	if (with_data) {
		if (m->d->set.version >= 2)
			cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_ID, m->d->set.data_id);
		cas_tlv_put_u8(w, CAS_EMMG_PARAM_DATA_TYPE, CAS_EMMG_DATA_TYPE_EMM);
	}
}

static int send_stream_msg(struct emmgd_mux *m, uint16_t type, int with_data)
{
	uint8_t b[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = begin(&w, m, type);
	put_stream_ids(&w, m, with_data);
	return finish(&w, at, m);
}

static int send_bw_request(struct emmgd_mux *m)
{
	uint8_t b[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = begin(&w, m, CAS_EMMG_MSG_STREAM_BW_REQUEST);
	put_stream_ids(&w, m, 0);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_BANDWIDTH, (uint16_t)m->d->set.bandwidth);
	return finish(&w, at, m);
}

static void send_channel_error(struct emmgd_mux *m, uint16_t status, uint16_t info)
{
	uint8_t b[64];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = begin(&w, m, CAS_EMMG_MSG_CHANNEL_ERROR);
	cas_tlv_put_error(&w, status, info);
	(void)finish(&w, at, m);
}

/* Writes what is queued for the MUX now, just before the connection is
 * closed: a socket bufferevent only writes from the loop, and its output
 * buffer cannot be drained from outside (libevent freezes its start), so
 * the bytes are copied to the socket directly; the caller frees the
 * bufferevent right after.  Bounded to about a second. */
static void drain_now(struct emmgd_mux *m)
{
	if (m->bev == NULL)
		return;
	evutil_socket_t fd = bufferevent_getfd(m->bev);
	struct evbuffer *out = bufferevent_get_output(m->bev);
	size_t len = evbuffer_get_length(out);
	const unsigned char *p = len > 0 ? evbuffer_pullup(out, -1) : NULL;
	size_t off = 0;
	for (int i = 0; i < 20 && fd >= 0 && p != NULL && off < len; i++) {
		ssize_t w = send(fd, p + off, len - off, MSG_NOSIGNAL);
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return;
		struct pollfd pf = { fd, POLLOUT, 0 };
		(void)poll(&pf, 1, 50);
	}
}

/* ---- session life ---- */

static void set_state(struct emmgd_mux *m, enum mstate st)
{
	m->st = st;
}

static void close_transport(struct emmgd_mux *m)
{
	if (m->bev != NULL) {
		bufferevent_free(m->bev);
		m->bev = NULL;
	}
	if (m->udp_fd >= 0) {
		close(m->udp_fd);
		m->udp_fd = -1;
	}
	event_del(m->ev_reply);
	event_del(m->ev_pace);
	event_del(m->ev_keepalive);
	m->test_pending = 0;
	m->pacing = 0;
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_now(arg);
}

/* The session is over (error, loss, silence): log and try again later. */
static void session_end(struct emmgd_mux *m, const char *why)
{
	int64_t now = emmgd_real_ms();
	int was_running = m->st == M_RUNNING;
	close_transport(m);
	if (m->shutting_down) {
		set_state(m, M_DONE);
		emmgd_mux_done(m->d);
		return;
	}
	/* A session that ran and was then lost (a MUX restart) comes back
	 * after 1 s; errors and refusals keep doubling the back-off. */
	if (was_running && !m->error_end)
		m->backoff_s = 1;
	m->error_end = 0;
	(void)now;
	int now_again = m->restart_now;
	int delay = now_again ? 0 : m->backoff_s;
	m->restart_now = 0;
	cas_log(now_again ? CAS_LOG_INFO : CAS_LOG_WARN, "MUX %s: %s; connecting again in %d s",
		m->addr, why, delay);
	if (!now_again)
		m->backoff_s = m->backoff_s * 2 > MAX_BACKOFF_S ? MAX_BACKOFF_S : m->backoff_s * 2;
	set_state(m, M_WAIT);
	event_del(m->ev_reply);
	event_assign(m->ev_reply, m->d->base, -1, 0, backoff_cb, m);
	arm(m->ev_reply, (int64_t)delay * 1000);
}

static void reply_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct emmgd_mux *m = arg;
	char why[128];
	const char *wanted = "a reply";
	switch (m->st) {
	case M_CONNECTING: wanted = "the connection"; break;
	case M_CHANNEL: wanted = "channel_status"; break;
	case M_STREAM: wanted = "stream_status"; break;
	case M_BW: wanted = "stream_BW_allocation"; break;
	case M_RUNNING: wanted = "channel_status (keepalive)"; break;
	case M_CLOSING: wanted = "stream_close_response"; break;
	default: break;
	}
	if (m->st == M_CLOSING) {
		cas_log(CAS_LOG_WARN, "MUX %s: no stream_close_response within %d s; closing the channel",
			m->addr, m->d->set.timeout_s);
		(void)send_channel_simple(m, CAS_EMMG_MSG_CHANNEL_CLOSE);
		drain_now(m);
		close_transport(m);
		set_state(m, M_DONE);
		emmgd_mux_done(m->d);
		return;
	}
	m->errors++;
	m->error_end = 1;
	snprintf(why, sizeof why, "no %s within %d s", wanted, m->d->set.timeout_s);
	session_end(m, why);
}

static void wait_reply(struct emmgd_mux *m)
{
	/* event_assign on a pending event breaks libevent's lists. */
	event_del(m->ev_reply);
	event_assign(m->ev_reply, m->d->base, -1, 0, reply_timeout_cb, m);
	arm(m->ev_reply, (int64_t)m->d->set.timeout_s * 1000);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct emmgd_mux *m = arg;
	if (m->st != M_RUNNING)
		return;
	if (send_channel_simple(m, CAS_EMMG_MSG_CHANNEL_TEST) == 0 && !m->test_pending) {
		m->test_pending = 1;
		wait_reply(m);
	}
	arm(m->ev_keepalive, (int64_t)m->d->set.channel_test_s * 1000);
}

/* ---- data ---- */

/* One data_provision: as many EMMs as the pacer allows, at most max_bytes
 * of datagrams.  Returns 1 if the message was full and more may be due. */
static int pace_once(struct emmgd_mux *m, int64_t now_ns, int *idle)
{
	struct emmgd *d = m->d;
	const struct emmgd_settings *set = &d->set;
	uint8_t dg[1316 + 188];
	size_t dglen = 0;
	size_t sec_off[64], sec_len[64];
	unsigned nsec = 0;
	uint8_t sec[4096];
	size_t per = set->ts_mode ? cas_ts_packets_for(d->emm_max_len) * CAS_TS_PACKET_LEN
				  : d->emm_max_len;
	int64_t now_ms = emmgd_real_ms();
	int full = 0;
	*idle = 0;
	if (!cas_pacer_begin(&m->pacer, now_ns))
		return 0;
	while (cas_pacer_may_send(&m->pacer, now_ns)) {
		if (dglen + per > set->max_bytes || nsec == 64) {
			full = 1;
			break;
		}
		struct cas_carousel_pick pick;
		long n = cas_carousel_next(d->car, m->index, now_ms, sec, sizeof sec, &pick);
		if (n <= 0) {
			if (n < 0)
				cas_log(CAS_LOG_ERROR, "MUX %s: EMM of card %u could not be built",
					m->addr, pick.serial);
			*idle = 1;
			break;
		}
		size_t len;
		if (set->ts_mode) {
			long w = cas_ts_packetize(sec, (size_t)n, CAS_TS_PID_PLACEHOLDER, &m->cc,
						  dg + dglen, sizeof dg - dglen);
			if (w < 0) {
				cas_log(CAS_LOG_ERROR, "MUX %s: EMM of card %u does not packetize",
					m->addr, pick.serial);
				continue;
			}
			len = (size_t)w;
		} else {
			if ((size_t)n > sizeof dg - dglen)
				break;
			memcpy(dg + dglen, sec, (size_t)n);
			len = (size_t)n;
		}
		sec_off[nsec] = dglen;
		sec_len[nsec] = len;
		nsec++;
		dglen += len;
		cas_pacer_charge(&m->pacer, cas_pacer_cost(m->pacer.mode, len));
		if (pick.kind != CAS_CAROUSEL_FILLER)
			m->emms++;
	}
	if (nsec == 0)
		return 0;

	uint8_t b[1316 + 188 + 256];
	struct cas_wbuf w;
	cas_wbuf_init(&w, b, sizeof b);
	size_t at = cas_tlv_begin(&w, (uint8_t)set->version, CAS_EMMG_MSG_DATA_PROVISION);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, set->client_id);
	/* v1 needs channel/stream; v2+ on TCP carries them too; on UDP as
	 * configured (tsemmg always includes them, simulcrypt.md §3.4). */
	if (set->version == 1 || !m->use_udp || set->udp_ids) {
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, set->channel_id);
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, set->stream_id);
	}
	if (set->version >= 2)
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_ID, set->data_id);
	if (set->ts_mode) {
		cas_tlv_put_bytes(&w, CAS_EMMG_PARAM_DATAGRAM, dg, dglen);
	} else {
		for (unsigned i = 0; i < nsec; i++)
			cas_tlv_put_bytes(&w, CAS_EMMG_PARAM_DATAGRAM, dg + sec_off[i], sec_len[i]);
	}
	if (cas_tlv_end(&w, at) < 0) {
		cas_log(CAS_LOG_ERROR, "MUX %s: data_provision does not fit", m->addr);
		return 0;
	}
	m->messages++;
	m->bytes += (int64_t)dglen;
	if (m->use_udp) {
		if (send(m->udp_fd, b + at, w.len - at, 0) < 0) {
			m->errors++;
			if (!m->udp_refused_logged) {
				cas_log(CAS_LOG_WARN, "MUX %s: UDP data to %s:%u: %s", m->addr,
					m->udp_host, m->udp_port, strerror(errno));
				m->udp_refused_logged = 1;
			}
		}
	} else {
		(void)send_msg(m, b + at, w.len - at);
	}
	return full;
}

static void pace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct emmgd_mux *m = arg;
	if (m->st != M_RUNNING || m->shutting_down)
		return;
	if (m->bev != NULL && evbuffer_get_length(bufferevent_get_output(m->bev)) > OUT_HIGH_WATER) {
		/* The MUX does not read: wait, rather than pile up data. */
		if (!m->congested_logged) {
			cas_log(CAS_LOG_WARN, "MUX %s: not reading its socket; holding EMMs", m->addr);
			m->congested_logged = 1;
		}
		schedule_pace(m, CAS_PACER_MIN_INTERVAL_NS);
		return;
	}
	m->congested_logged = 0;
	int64_t now = emmgd_mono_ns();
	int idle = 0;
	int full = pace_once(m, now, &idle);
	if (m->pacer.kbit == 0) {
		return;		/* no bandwidth: wait for a new allocation */
	} else if (idle) {
		schedule_pace(m, (int64_t)IDLE_POLL_MS * 1000000);
	} else if (full && cas_pacer_may_send(&m->pacer, now)) {
		schedule_pace(m, 0);
	} else {
		int64_t next = cas_pacer_next_ns(&m->pacer) - now;
		if (next < CAS_PACER_MIN_INTERVAL_NS)
			next = CAS_PACER_MIN_INTERVAL_NS;
		schedule_pace(m, next);
	}
}

static void schedule_pace(struct emmgd_mux *m, int64_t delay_ns)
{
	if (delay_ns < 0)
		delay_ns = 0;
	struct timeval tv = { (time_t)(delay_ns / 1000000000), (suseconds_t)((delay_ns % 1000000000) / 1000) };
	event_add(m->ev_pace, &tv);
}

static uint32_t effective_kbit(const struct emmgd_mux *m)
{
	if (m->alloc_unlimited || m->alloc_kbit > m->d->set.bandwidth)
		return m->d->set.bandwidth;
	return m->alloc_kbit;
}

static int open_udp(struct emmgd_mux *m)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%u", m->udp_port);
	int rc = getaddrinfo(m->udp_host, port, &hints, &res);
	if (rc != 0) {
		cas_log(CAS_LOG_ERROR, "MUX %s: unable to resolve UDP address %s: %s", m->addr,
			m->udp_host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		cas_log(CAS_LOG_ERROR, "MUX %s: unable to open UDP to %s:%u: %s", m->addr,
			m->udp_host, m->udp_port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	m->udp_fd = fd;
	m->udp_refused_logged = 0;
	return 0;
}

static void start_running(struct emmgd_mux *m)
{
	uint32_t kbit = effective_kbit(m);
	if (m->pacing) {
		cas_pacer_set_rate(&m->pacer, kbit, emmgd_mono_ns());
	} else {
		cas_pacer_init(&m->pacer, m->d->set.ts_mode ? CAS_PACER_TS : m->d->set.pacer_mode,
			       kbit, emmgd_mono_ns());
		m->pacing = 1;
	}
	if (kbit == 0)
		cas_log(CAS_LOG_WARN, "MUX %s: allocated no bandwidth; sending nothing", m->addr);
	schedule_pace(m, 0);
}

/* ---- receiving ---- */

static const char *iface_msg(uint16_t type)
{
	return cas_simulcrypt_msg_name(CAS_SC_EMMG, type);
}

static void log_errors(struct emmgd_mux *m, const struct cas_tlv_msg *msg)
{
	const struct cas_tlv_param *p = NULL, *info = NULL;
	unsigned n = 0;
	while ((p = cas_tlv_next(msg, CAS_EMMG_PARAM_ERROR_STATUS, p)) != NULL) {
		info = cas_tlv_next(msg, CAS_EMMG_PARAM_ERROR_INFORMATION, info);
		uint16_t code = p->len == 2 ? cas_be16(p->value) : 0;
		char infotext[32] = "";
		if (info != NULL && info->len == 2)
			snprintf(infotext, sizeof infotext, " (information 0x%04X)", cas_be16(info->value));
		cas_log(CAS_LOG_ERROR, "MUX %s: %s 0x%04X %s%s", m->addr, iface_msg(msg->type), code,
			cas_simulcrypt_error_name(CAS_SC_EMMG, code), infotext);
		n++;
	}
	if (n == 0)
		cas_log(CAS_LOG_ERROR, "MUX %s: %s without error_status", m->addr, iface_msg(msg->type));
}

/* Checks the ids a reply echoes; logs and returns -1 on a mismatch. */
static int check_ids(struct emmgd_mux *m, const struct cas_tlv_msg *msg, int stream)
{
	uint32_t client = 0;
	uint16_t ch = 0, st = 0;
	if (cas_tlv_get_u32(msg, CAS_EMMG_PARAM_CLIENT_ID, &client) == 0 &&
	    client != m->d->set.client_id) {
		cas_log(CAS_LOG_ERROR, "MUX %s: %s for client_id 0x%08X, ours is 0x%08X", m->addr,
			iface_msg(msg->type), client, m->d->set.client_id);
		send_channel_error(m, CAS_EMMG_ERR_UNKNOWN_CLIENT_ID, CAS_EMMG_PARAM_CLIENT_ID);
		return -1;
	}
	if (cas_tlv_get_u16(msg, CAS_EMMG_PARAM_DATA_CHANNEL_ID, &ch) == 0 &&
	    ch != m->d->set.channel_id) {
		cas_log(CAS_LOG_ERROR, "MUX %s: %s for data_channel_id %u, ours is %u", m->addr,
			iface_msg(msg->type), ch, m->d->set.channel_id);
		send_channel_error(m, CAS_EMMG_ERR_UNKNOWN_DATA_CHANNEL_ID, CAS_EMMG_PARAM_DATA_CHANNEL_ID);
		return -1;
	}
	if (stream && cas_tlv_get_u16(msg, CAS_EMMG_PARAM_DATA_STREAM_ID, &st) == 0 &&
	    st != m->d->set.stream_id) {
		cas_log(CAS_LOG_ERROR, "MUX %s: %s for data_stream_id %u, ours is %u", m->addr,
			iface_msg(msg->type), st, m->d->set.stream_id);
		send_channel_error(m, CAS_EMMG_ERR_UNKNOWN_DATA_STREAM_ID, CAS_EMMG_PARAM_DATA_STREAM_ID);
		return -1;
	}
	return 0;
}

/* Handles one whole message.  Returns -1 when the session ended. */
static int handle(struct emmgd_mux *m, const uint8_t *data, size_t len)
{
	struct emmgd *d = m->d;
	struct cas_tlv_msg msg;
	struct cas_tlv_error err;
	struct cas_buf in;
	char why[256];
	cas_buf_init(&in, data, len);
	m->last_seen = emmgd_real_ms() / 1000;
	if (cas_tlv_parse(&msg, &in, &err) < 0) {
		m->errors++;
		m->error_end = 1;
		send_channel_error(m, err.status, err.info);
		snprintf(why, sizeof why, "invalid message from the MUX (0x%04X %s at byte %u)",
			 err.status, cas_simulcrypt_error_name(CAS_SC_EMMG, err.status), err.info);
		session_end(m, why);
		return -1;
	}
	if (cas_tlv_validate(&msg, CAS_SC_EMMG, CAS_TLV_VERSION(d->set.version), &err) < 0) {
		m->errors++;
		m->error_end = 1;
		/* Never answer an error with an error (simulcrypt.md §5.1.8). */
		int is_error = msg.type == CAS_EMMG_MSG_CHANNEL_ERROR ||
			       msg.type == CAS_EMMG_MSG_STREAM_ERROR;
		if (!is_error)
			send_channel_error(m, err.status, err.info);
		if (err.status == CAS_EMMG_ERR_UNSUPPORTED_VERSION)
			snprintf(why, sizeof why, "the MUX speaks protocol version %u, "
				 "emmg.protocol_version is %d", msg.version, d->set.version);
		else
			snprintf(why, sizeof why, "%s from the MUX refused: 0x%04X %s (information 0x%04X)",
				 iface_msg(msg.type), err.status,
				 cas_simulcrypt_error_name(CAS_SC_EMMG, err.status), err.info);
		if (err.status == CAS_EMMG_ERR_UNKNOWN_MESSAGE_TYPE) {
			/* The framing is intact: go on. */
			cas_log(CAS_LOG_WARN, "MUX %s: %s", m->addr, why);
			return 0;
		}
		session_end(m, why);
		return -1;
	}

	switch (msg.type) {
	case CAS_EMMG_MSG_CHANNEL_STATUS:
		if (check_ids(m, &msg, 0) < 0) {
			m->errors++;
			session_end(m, "channel_status for another channel");
			return -1;
		}
		if (m->st == M_CHANNEL) {
			uint8_t flag = 0;
			(void)cas_tlv_get_u8(&msg, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, &flag);
			if (flag != d->set.ts_mode) {
				m->errors++;
				send_channel_error(m, CAS_EMMG_ERR_INVALID_PARAM_VALUE,
						   CAS_EMMG_PARAM_SECTION_TSPKT_FLAG);
				snprintf(why, sizeof why, "the MUX wants section_TSpkt_flag %u, "
					 "emmg.section_tspkt_flag is %d", flag, d->set.ts_mode);
				session_end(m, why);
				return -1;
			}
			cas_log(CAS_LOG_INFO, "MUX %s: channel %u set up (protocol version %d, %s)",
				m->addr, d->set.channel_id, d->set.version,
				d->set.ts_mode ? "TS packets" : "sections");
			set_state(m, M_STREAM);
			(void)send_stream_msg(m, CAS_EMMG_MSG_STREAM_SETUP, 1);
			wait_reply(m);
		} else if (m->test_pending) {
			m->test_pending = 0;
			event_del(m->ev_reply);
		}
		return 0;
	case CAS_EMMG_MSG_STREAM_STATUS:
		if (check_ids(m, &msg, 1) < 0) {
			m->errors++;
			session_end(m, "stream_status for another stream");
			return -1;
		}
		if (m->st == M_STREAM) {
			uint16_t data_id = d->set.data_id;
			uint8_t type = 0;
			(void)cas_tlv_get_u16(&msg, CAS_EMMG_PARAM_DATA_ID, &data_id);
			(void)cas_tlv_get_u8(&msg, CAS_EMMG_PARAM_DATA_TYPE, &type);
			if ((d->set.version >= 2 && data_id != d->set.data_id) ||
			    type != CAS_EMMG_DATA_TYPE_EMM) {
				m->errors++;
				snprintf(why, sizeof why, "stream_status with data_id %u and data_type %u, "
					 "expected %u and 0 (EMM)", data_id, type, d->set.data_id);
				send_channel_error(m, CAS_EMMG_ERR_INVALID_PARAM_VALUE,
						   data_id != d->set.data_id ? CAS_EMMG_PARAM_DATA_ID
									     : CAS_EMMG_PARAM_DATA_TYPE);
				session_end(m, why);
				return -1;
			}
			cas_log(CAS_LOG_INFO, "MUX %s: stream %u set up (data_id %u, EMM)", m->addr,
				d->set.stream_id, d->set.data_id);
			set_state(m, M_BW);
			(void)send_bw_request(m);
			wait_reply(m);
		}
		return 0;
	case CAS_EMMG_MSG_STREAM_BW_ALLOCATION: {
		if (check_ids(m, &msg, 1) < 0) {
			m->errors++;
			session_end(m, "stream_BW_allocation for another stream");
			return -1;
		}
		uint16_t bw = 0;
		m->alloc_unlimited = cas_tlv_get_u16(&msg, CAS_EMMG_PARAM_BANDWIDTH, &bw) < 0;
		m->alloc_kbit = bw;
		uint32_t eff = effective_kbit(m);
		if (m->alloc_unlimited)
			cas_log(CAS_LOG_INFO, "MUX %s: bandwidth %u kbit/s requested, no limit allocated: "
				"sending at %u kbit/s", m->addr, d->set.bandwidth, eff);
		else
			cas_log(CAS_LOG_INFO, "MUX %s: bandwidth %u kbit/s requested, %u kbit/s allocated: "
				"sending at %u kbit/s", m->addr, d->set.bandwidth, bw, eff);
		if (m->st == M_BW) {
			event_del(m->ev_reply);
			if (m->use_udp && open_udp(m) < 0) {
				m->errors++;
				session_end(m, "no UDP socket");
				return -1;
			}
			set_state(m, M_RUNNING);
			m->running_since_ms = emmgd_real_ms();
			if (d->set.channel_test_s > 0)
				arm(m->ev_keepalive, (int64_t)d->set.channel_test_s * 1000);
			start_running(m);
			emmgd_mux_running(d);
		} else if (m->st == M_RUNNING) {
			start_running(m);
		}
		return 0;
	}
	case CAS_EMMG_MSG_CHANNEL_TEST:
		if (check_ids(m, &msg, 0) < 0) {
			m->errors++;
			return 0;
		}
		(void)send_channel_status(m);
		return 0;
	case CAS_EMMG_MSG_STREAM_TEST:
		if (check_ids(m, &msg, 1) < 0) {
			m->errors++;
			return 0;
		}
		if (m->st >= M_BW && m->st <= M_CLOSING)
			(void)send_stream_msg(m, CAS_EMMG_MSG_STREAM_STATUS, 1);
		else
			send_channel_error(m, CAS_EMMG_ERR_UNKNOWN_DATA_STREAM_ID, CAS_EMMG_PARAM_DATA_STREAM_ID);
		return 0;
	case CAS_EMMG_MSG_STREAM_CLOSE_RESPONSE:
		if (m->st == M_CLOSING) {
			cas_log(CAS_LOG_INFO, "MUX %s: stream %u closed", m->addr, d->set.stream_id);
			(void)send_channel_simple(m, CAS_EMMG_MSG_CHANNEL_CLOSE);
			drain_now(m);
			close_transport(m);
			set_state(m, M_DONE);
			cas_log(CAS_LOG_INFO, "MUX %s: channel %u closed", m->addr, d->set.channel_id);
			emmgd_mux_done(d);
			return -1;
		}
		return 0;
	case CAS_EMMG_MSG_CHANNEL_ERROR:
	case CAS_EMMG_MSG_STREAM_ERROR:
		m->errors++;
		m->error_end = 1;
		log_errors(m, &msg);
		if (m->st == M_CLOSING) {
			/* The MUX refuses the close: close the channel anyway. */
			(void)send_channel_simple(m, CAS_EMMG_MSG_CHANNEL_CLOSE);
			drain_now(m);
			close_transport(m);
			set_state(m, M_DONE);
			emmgd_mux_done(d);
			return -1;
		}
		session_end(m, "setting the session up again after the error");
		return -1;
	case CAS_EMMG_MSG_CHANNEL_CLOSE:
		session_end(m, "the MUX closed the channel");
		return -1;
	default:
		/* Messages the MUX should not send (setup, data): ignore. */
		cas_log(CAS_LOG_DEBUG, "MUX %s: ignored %s", m->addr, iface_msg(msg.type));
		return 0;
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct emmgd_mux *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t chunk[16384];
	for (;;) {
		int n = evbuffer_remove(in, chunk, sizeof chunk);
		if (n <= 0)
			return;
		if (cas_tlv_framer_feed(m->framer, chunk, (size_t)n) < 0) {
			m->errors++;
			session_end(m, "message stream out of step");
			return;
		}
		const uint8_t *msg;
		size_t len;
		int r;
		while ((r = cas_tlv_framer_next(m->framer, &msg, &len)) > 0)
			if (handle(m, msg, len) < 0)
				return;
		if (r < 0) {
			m->errors++;
			send_channel_error(m, CAS_SC_ERR_MESSAGE_TOO_LONG, 3);
			session_end(m, "message from the MUX too long");
			return;
		}
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct emmgd_mux *m = arg;
	char why[300];
	if (what & BEV_EVENT_CONNECTED) {
		event_del(m->ev_reply);
		/* Each paced message leaves at once: Nagle would hold small
		 * messages back (up to a delayed ACK) and send them in bursts. */
		int one = 1;
		evutil_socket_t fd = bufferevent_getfd(bev);
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
			cas_log(CAS_LOG_WARN, "MUX %s: unable to set TCP_NODELAY: %s", m->addr, strerror(errno));
		cas_log(CAS_LOG_INFO, "MUX %s: connected", m->addr);
		m->started = emmgd_real_ms() / 1000;
		set_state(m, M_CHANNEL);
		(void)send_channel_setup(m);
		wait_reply(m);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		session_end(m, m->st == M_CONNECTING ? "connection refused" : "connection closed by the MUX");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int dns = bufferevent_socket_get_dns_error(bev);
		if (dns != 0)
			snprintf(why, sizeof why, "unable to resolve %s: %s", m->host, evutil_gai_strerror(dns));
		else
			snprintf(why, sizeof why, "%s %s", m->st == M_CONNECTING ? "unable to connect:" :
				 "connection lost:", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		if (m->st != M_CONNECTING)
			m->errors++;
		session_end(m, why);
	}
}

static void connect_now(struct emmgd_mux *m)
{
	close_transport(m);
	cas_tlv_framer_init(m->framer);
	m->bev = bufferevent_socket_new(m->d->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (m->bev == NULL) {
		session_end(m, "out of memory");
		return;
	}
	bufferevent_setcb(m->bev, read_cb, NULL, event_cb, m);
	bufferevent_enable(m->bev, EV_READ | EV_WRITE);
	set_state(m, M_CONNECTING);
	/* A connect that hangs (a dropped SYN) counts as a silent MUX. */
	wait_reply(m);
	if (bufferevent_socket_connect_hostname(m->bev, m->d->dns, AF_UNSPEC, m->host, m->port) < 0) {
		/* The error callback may already have ended the session. */
		if (m->st == M_CONNECTING)
			session_end(m, "unable to connect");
	}
}

/* ---- public ---- */

static int split_hostport(const char *s, char *host, size_t hostsize, uint16_t *port)
{
	return cas_hostport_parse(s, host, hostsize, port);
}

struct emmgd_mux *emmgd_mux_new(struct emmgd *d, unsigned index)
{
	struct emmgd_mux *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	m->d = d;
	m->index = index;
	m->udp_fd = -1;
	m->backoff_s = 1;
	snprintf(m->addr, sizeof m->addr, "%s", d->set.mux[index]);
	if (split_hostport(m->addr, m->host, sizeof m->host, &m->port) < 0) {
		free(m);
		return NULL;
	}
	if (d->set.udp[index][0] != '\0') {
		m->use_udp = 1;
		if (split_hostport(d->set.udp[index], m->udp_host, sizeof m->udp_host, &m->udp_port) < 0) {
			free(m);
			return NULL;
		}
		/* ":port" = the MUX's own host (cas_hostport_parse gives 0.0.0.0). */
		if (d->set.udp[index][0] == ':')
			snprintf(m->udp_host, sizeof m->udp_host, "%s", m->host);
	}
	m->framer = malloc(sizeof *m->framer);
	m->ev_reply = event_new(d->base, -1, 0, reply_timeout_cb, m);
	m->ev_pace = event_new(d->base, -1, 0, pace_cb, m);
	m->ev_keepalive = event_new(d->base, -1, 0, keepalive_cb, m);
	if (m->framer == NULL || m->ev_reply == NULL || m->ev_pace == NULL || m->ev_keepalive == NULL) {
		emmgd_mux_free(m);
		return NULL;
	}
	cas_tlv_framer_init(m->framer);
	set_state(m, M_WAIT);
	return m;
}

void emmgd_mux_free(struct emmgd_mux *m)
{
	if (m == NULL)
		return;
	if (m->bev != NULL && m->st >= M_CHANNEL && m->st <= M_CLOSING) {
		(void)send_channel_simple(m, CAS_EMMG_MSG_CHANNEL_CLOSE);
		drain_now(m);
	}
	close_transport(m);
	if (m->ev_reply)
		event_free(m->ev_reply);
	if (m->ev_pace)
		event_free(m->ev_pace);
	if (m->ev_keepalive)
		event_free(m->ev_keepalive);
	free(m->framer);
	free(m);
}

void emmgd_mux_start(struct emmgd_mux *m)
{
	connect_now(m);
}

void emmgd_mux_kick(struct emmgd_mux *m)
{
	if (m->st != M_RUNNING || m->shutting_down || m->pacer.kbit == 0)
		return;
	int64_t now = emmgd_mono_ns();
	int64_t next = cas_pacer_next_ns(&m->pacer);
	/* A pending pace event earlier than the pacer allows is not needed:
	 * re-arm for when the pacer allows (at once if it does now). */
	schedule_pace(m, next > now ? next - now : 0);
}

void emmgd_mux_restart(struct emmgd_mux *m)
{
	if (m->shutting_down)
		return;
	m->restart_now = 1;
	m->backoff_s = 1;
	if (m->st == M_WAIT) {
		event_del(m->ev_reply);
		connect_now(m);
		return;
	}
	if (m->st >= M_CHANNEL && m->st <= M_RUNNING)
		(void)send_channel_simple(m, CAS_EMMG_MSG_CHANNEL_CLOSE);
	drain_now(m);
	session_end(m, "settings changed");
}

void emmgd_mux_bandwidth(struct emmgd_mux *m)
{
	if (m->st == M_RUNNING)
		(void)send_bw_request(m);
}

static void udp_end_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct emmgd_mux *m = arg;
	set_state(m, M_CLOSING);
	(void)send_stream_msg(m, CAS_EMMG_MSG_STREAM_CLOSE_REQUEST, 0);
	wait_reply(m);
}

void emmgd_mux_shutdown(struct emmgd_mux *m)
{
	if (m->shutting_down)
		return;
	m->shutting_down = 1;
	event_del(m->ev_pace);
	event_del(m->ev_keepalive);
	switch (m->st) {
	case M_RUNNING:
	case M_BW:
		if (m->use_udp && m->st == M_RUNNING) {
			/* Let the MUX take the last UDP data first (§5.3). */
			event_del(m->ev_reply);
			event_assign(m->ev_reply, m->d->base, -1, 0, udp_end_wait_cb, m);
			arm(m->ev_reply, UDP_END_WAIT_MS);
			return;
		}
		udp_end_wait_cb(-1, 0, m);
		return;
	case M_STREAM:
	case M_CHANNEL:
		(void)send_channel_simple(m, CAS_EMMG_MSG_CHANNEL_CLOSE);
		drain_now(m);
		/* fall through */
	default:
		close_transport(m);
		set_state(m, M_DONE);
		emmgd_mux_done(m->d);
		return;
	}
}

void emmgd_mux_stats(const struct emmgd_mux *m, struct emmgd_stats *st)
{
	const struct emmgd *d = m->d;
	const struct emmgd_settings *s = &d->set;
	memset(st, 0, sizeof *st);
	size_t an = strnlen(m->addr, sizeof st->name - 1);
	memcpy(st->name, m->addr, an);
	st->name[an] = '\0';
	snprintf(st->peer, sizeof st->peer, "%s", m->addr);
	snprintf(st->state, sizeof st->state, "%s", state_names[m->st]);
	snprintf(st->settings, sizeof st->settings,
		 "profile=%s version=%d client_id=0x%08X data_channel_id=%u data_stream_id=%u "
		 "data_id=%u mode=%s transport=%s bandwidth=%u max_bytes=%zu",
		 s->profile, s->version, s->client_id, s->channel_id, s->stream_id, s->data_id,
		 s->ts_mode ? "ts" : (s->pacer_mode == CAS_PACER_SECTION_BYTES ? "section-bytes"
									     : "section-packets"),
		 m->use_udp ? s->udp[m->index] : "tcp", s->bandwidth, s->max_bytes);
	st->started = m->started;
	st->last_seen = m->last_seen;
	st->channels = m->st >= M_STREAM && m->st <= M_CLOSING;
	st->streams = m->st >= M_BW && m->st <= M_CLOSING;
	st->emms = m->emms;
	st->bytes = m->bytes;
	st->errors = m->errors;
	st->queue_len = (int64_t)cas_carousel_queue_len(d->car, m->index);
	st->cycle_ms = cas_carousel_cycle_ms(d->car, m->index);
	st->bandwidth = m->st == M_RUNNING ? m->pacer.kbit : 0;
}
