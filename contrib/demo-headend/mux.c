/*
 * The multiplexer's side of EMMG<=>MUX (ETSI TS 103 197 §6; reference
 * simulcrypt.md §3, §5.3): the MUX listens, the EMMG connects and drives:
 * channel_setup -> channel_status, stream_setup -> stream_status,
 * stream_BW_request -> stream_BW_allocation, then data_provision whose
 * datagrams (sections, or TS packets) go into the EMM PID in place of null
 * packets.  Each connection answers in the protocol version its
 * channel_setup used.  Out-of-order messages get a channel_error or
 * stream_error (datainject would drop the connection instead).
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "headend.h"
#include "log.h"
#include "simulcrypt.h"

#define MSG_MAX 1024

int mux_listen(struct headend *h, const char *addr)
{
	struct mux *m = &h->mux;
	struct sockaddr_in sa;
	if (parse_addr(addr, &sa) < 0) {
		cas_log(CAS_LOG_FATAL, "bad MUX address '%s' (want host:port)", addr);
		return -1;
	}
	m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (m->lfd < 0 || setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(m->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(m->lfd, 4) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to listen on %s: %s", addr, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < MUX_CLIENTS; i++)
		m->c[i].l.fd = -1;
	cas_log(CAS_LOG_INFO, "MUX listening on %s for EMMGs", addr);
	return 0;
}

unsigned mux_clients(const struct mux *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MUX_CLIENTS; i++)
		n += m->c[i].used && m->c[i].stream_ok;
	return n;
}

void mux_accept(struct headend *h)
{
	struct mux *m = &h->mux;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = accept(m->lfd, (struct sockaddr *)&sa, &sl);
	if (fd < 0)
		return;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	for (unsigned i = 0; i < MUX_CLIENTS; i++) {
		struct mux_client *c = &m->c[i];
		if (c->used)
			continue;
		memset(c, 0, sizeof *c);
		if (link_init(&c->l, fd) < 0)
			break;
		c->used = 1;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
		snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(sa.sin_port));
		m->connections++;
		cas_log(CAS_LOG_INFO, "EMMG connected from %s", c->peer);
		return;
	}
	cas_log(CAS_LOG_WARN, "EMMG connection refused: %d connections already", MUX_CLIENTS);
	close(fd);
}

static void drop(struct headend *h, struct mux_client *c, const char *why)
{
	(void)h;
	cas_log(CAS_LOG_INFO, "EMMG %s: %s", c->peer, why);
	link_close(&c->l);
	c->used = 0;
}

void mux_close_all(struct headend *h)
{
	for (unsigned i = 0; i < MUX_CLIENTS; i++)
		if (h->mux.c[i].used)
			drop(h, &h->mux.c[i], "closed by the MUX");
	if (h->mux.lfd >= 0)
		close(h->mux.lfd);
	h->mux.lfd = -1;
}

static int send_msg(struct mux_client *c, struct cas_wbuf *w, size_t at)
{
	if (cas_tlv_end(w, at) < 0)
		return -1;
	return link_send(&c->l, w->data + at, w->len - at);
}

static int channel_status(struct mux_client *c)
{
	uint8_t out[MSG_MAX];
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, sizeof out);
	size_t at = cas_tlv_begin(&w, c->version, CAS_EMMG_MSG_CHANNEL_STATUS);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, c->client_id);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, c->channel_id);
	cas_tlv_put_u8(&w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, c->tspkt_flag);
	return send_msg(c, &w, at);
}

static int stream_reply(struct mux_client *c, uint16_t type)
{
	uint8_t out[MSG_MAX];
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, sizeof out);
	size_t at = cas_tlv_begin(&w, c->version, type);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, c->client_id);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, c->channel_id);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, c->stream_id);
	if (type == CAS_EMMG_MSG_STREAM_STATUS) {
		if (c->version >= 2)
			cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_ID, c->data_id);
		cas_tlv_put_u8(&w, CAS_EMMG_PARAM_DATA_TYPE, c->data_type);
	} else if (type == CAS_EMMG_MSG_STREAM_BW_ALLOCATION) {
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_BANDWIDTH, c->bandwidth);
	}
	return send_msg(c, &w, at);
}

/* channel_error (stream_id absent) or stream_error with one status. */
static int error_reply(struct mux_client *c, int stream, uint16_t status, uint16_t info)
{
	uint8_t out[MSG_MAX];
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, sizeof out);
	size_t at = cas_tlv_begin(&w, c->version ? c->version : 2,
				  stream ? CAS_EMMG_MSG_STREAM_ERROR : CAS_EMMG_MSG_CHANNEL_ERROR);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, c->client_id);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, c->channel_id);
	if (stream)
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, c->stream_id);
	cas_tlv_put_error(&w, status, info);
	return send_msg(c, &w, at);
}

static int on_data(struct headend *h, struct mux_client *c, const struct cas_tlv_msg *m)
{
	uint32_t client;
	uint16_t data_id;
	if (!c->stream_ok)
		return error_reply(c, 0, CAS_EMMG_ERR_UNKNOWN_DATA_STREAM_ID, 0);
	if (cas_tlv_get_u32(m, CAS_EMMG_PARAM_CLIENT_ID, &client) < 0 || client != c->client_id)
		return error_reply(c, 1, CAS_EMMG_ERR_UNKNOWN_CLIENT_ID, CAS_EMMG_PARAM_CLIENT_ID);
	if (c->version >= 2 && (cas_tlv_get_u16(m, CAS_EMMG_PARAM_DATA_ID, &data_id) < 0 ||
				data_id != c->data_id))
		return error_reply(c, 1, CAS_EMMG_ERR_UNKNOWN_DATA_ID, CAS_EMMG_PARAM_DATA_ID);
	h->mux.data_provisions++;
	const struct cas_tlv_param *p;
	for (p = cas_tlv_next(m, CAS_EMMG_PARAM_DATAGRAM, NULL); p;
	     p = cas_tlv_next(m, CAS_EMMG_PARAM_DATAGRAM, p)) {
		if (tsgen_emm(&h->ts, p->value, p->len, c->tspkt_flag) < 0) {
			h->mux.errors++;
			cas_log(CAS_LOG_WARN, "EMMG %s: datagram of %u bytes is not %s", c->peer,
				p->len, c->tspkt_flag ? "a whole number of TS packets" : "one section");
			continue;
		}
		h->mux.sections++;
	}
	return 0;
}

struct mux_ctx {
	struct headend *h;
	struct mux_client *c;
};

static int on_msg(void *ctx, const uint8_t *msg, size_t len)
{
	struct headend *h = ((struct mux_ctx *)ctx)->h;
	struct mux_client *c = ((struct mux_ctx *)ctx)->c;
	struct cas_tlv_msg m;
	struct cas_tlv_error err;
	struct cas_buf b;
	/* the first message (channel_setup) fixes the connection's version */
	unsigned versions = c->version ? CAS_TLV_VERSION(c->version)
		: CAS_TLV_VERSION(1) | CAS_TLV_VERSION(2) | CAS_TLV_VERSION(3);
	cas_buf_init(&b, msg, len);
	if (cas_tlv_decode(&m, &b, CAS_SC_EMMG, versions, &err) < 0) {
		h->mux.errors++;
		cas_log(CAS_LOG_WARN, "EMMG %s: invalid message: 0x%04X %s", c->peer, err.status,
			cas_simulcrypt_error_name(CAS_SC_EMMG, err.status));
		/* never answer an error with an error */
		uint16_t type = len >= 3 ? cas_be16(msg + 1) : 0;
		if (type == CAS_EMMG_MSG_CHANNEL_ERROR || type == CAS_EMMG_MSG_STREAM_ERROR)
			return 0;
		return error_reply(c, 0, err.status, err.info);
	}
	switch (m.type) {
	case CAS_EMMG_MSG_CHANNEL_SETUP:
		if (c->channel_ok)
			return error_reply(c, 0, CAS_EMMG_ERR_DATA_CHANNEL_ID_IN_USE, 0);
		c->version = m.version;
		(void)cas_tlv_get_u32(&m, CAS_EMMG_PARAM_CLIENT_ID, &c->client_id);
		(void)cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_CHANNEL_ID, &c->channel_id);
		(void)cas_tlv_get_u8(&m, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, &c->tspkt_flag);
		c->channel_ok = 1;
		cas_log(CAS_LOG_INFO, "EMMG %s: channel %u, client_id 0x%08X, version %u, %s mode",
			c->peer, c->channel_id, c->client_id, c->version,
			c->tspkt_flag ? "TS packet" : "section");
		return channel_status(c);
	case CAS_EMMG_MSG_CHANNEL_TEST:
		if (!c->channel_ok)
			return error_reply(c, 0, CAS_EMMG_ERR_UNKNOWN_DATA_CHANNEL_ID, 0);
		return channel_status(c);
	case CAS_EMMG_MSG_STREAM_SETUP:
		if (!c->channel_ok)
			return error_reply(c, 0, CAS_EMMG_ERR_UNKNOWN_DATA_CHANNEL_ID, 0);
		if (c->stream_ok)
			return error_reply(c, 1, CAS_EMMG_ERR_TOO_MANY_STREAMS_CHANNEL, 0);
		(void)cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_STREAM_ID, &c->stream_id);
		(void)cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_ID, &c->data_id);
		(void)cas_tlv_get_u8(&m, CAS_EMMG_PARAM_DATA_TYPE, &c->data_type);
		c->stream_ok = 1;
		cas_log(CAS_LOG_INFO, "EMMG %s: stream %u, data_id %u, data_type %u", c->peer,
			c->stream_id, c->data_id, c->data_type);
		return stream_reply(c, CAS_EMMG_MSG_STREAM_STATUS);
	case CAS_EMMG_MSG_STREAM_TEST:
		if (!c->stream_ok)
			return error_reply(c, 0, CAS_EMMG_ERR_UNKNOWN_DATA_STREAM_ID, 0);
		return stream_reply(c, CAS_EMMG_MSG_STREAM_STATUS);
	case CAS_EMMG_MSG_STREAM_BW_REQUEST: {
		uint16_t bw;
		if (!c->stream_ok)
			return error_reply(c, 0, CAS_EMMG_ERR_UNKNOWN_DATA_STREAM_ID, 0);
		/* without a value: a query of the current allocation */
		if (cas_tlv_get_u16(&m, CAS_EMMG_PARAM_BANDWIDTH, &bw) == 0)
			c->bandwidth = bw < h->mux.max_bw ? bw : h->mux.max_bw;
		h->mux.last_bw = c->bandwidth;
		cas_log(CAS_LOG_INFO, "EMMG %s: %u kbit/s allocated", c->peer, c->bandwidth);
		return stream_reply(c, CAS_EMMG_MSG_STREAM_BW_ALLOCATION);
	}
	case CAS_EMMG_MSG_DATA_PROVISION:
		return on_data(h, c, &m);
	case CAS_EMMG_MSG_STREAM_CLOSE_REQUEST:
		if (!c->stream_ok)
			return error_reply(c, 0, CAS_EMMG_ERR_UNKNOWN_DATA_STREAM_ID, 0);
		c->stream_ok = 0;
		cas_log(CAS_LOG_INFO, "EMMG %s: stream %u closed", c->peer, c->stream_id);
		return stream_reply(c, CAS_EMMG_MSG_STREAM_CLOSE_RESPONSE);
	case CAS_EMMG_MSG_CHANNEL_CLOSE:
		/* no reply; the connection may carry a new channel_setup */
		c->channel_ok = c->stream_ok = 0;
		c->version = 0;
		return 0;
	case CAS_EMMG_MSG_CHANNEL_ERROR:
	case CAS_EMMG_MSG_STREAM_ERROR: {
		uint16_t st = 0;
		(void)cas_tlv_get_u16(&m, CAS_EMMG_PARAM_ERROR_STATUS, &st);
		cas_log(CAS_LOG_WARN, "EMMG %s sent %s: 0x%04X %s", c->peer,
			cas_simulcrypt_msg_name(CAS_SC_EMMG, m.type), st,
			cas_simulcrypt_error_name(CAS_SC_EMMG, st));
		return 0;
	}
	default:
		return error_reply(c, 0, CAS_EMMG_ERR_UNKNOWN_MESSAGE_TYPE, 1);
	}
}

void mux_input(struct headend *h, struct mux_client *c)
{
	struct mux_ctx ctx = { h, c };
	if (link_pump(&c->l, on_msg, &ctx) < 0)
		drop(h, c, "connection closed");
}
