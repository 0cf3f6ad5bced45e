/* ECMG<=>SCS server protocol for one connection (see ecmg.h). */
#include "ecmg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "simulcrypt.h"
#include "ts.h"

#define I CAS_SC_ECMG
#define E_CH CAS_ECMG_PARAM_ECM_CHANNEL_ID
#define E_ST CAS_ECMG_PARAM_ECM_STREAM_ID

/* Room for the fixed part of an ECM_response around the datagram. */
#define ECM_RESPONSE_OVERHEAD (CAS_SC_HEADER_LEN + 3 * 6 + CAS_SC_PARAM_HEADER_LEN)
/* channel_status with every optional parameter is 92 bytes; errors are
 * smaller. */
#define SMALL_REPLY 128

static size_t ecm_datagram_max(const struct cas_ecmg *srv)
{
	size_t sec = srv->profile != NULL ? srv->profile->ecm_max_len : 0;
	size_t ts = cas_ts_packets_for(sec) * CAS_TS_PACKET_LEN;
	return ts > sec ? ts : sec;
}

size_t cas_ecmg_max_reply(const struct cas_ecmg *srv)
{
	size_t ecm = ECM_RESPONSE_OVERHEAD + ecm_datagram_max(srv);
	return ecm > SMALL_REPLY ? ecm : SMALL_REPLY;
}

void cas_ecmg_conn_init(struct cas_ecmg_conn *c, struct cas_ecmg *srv, const char *peer)
{
	memset(c, 0, sizeof *c);
	c->srv = srv;
	snprintf(c->peer, sizeof c->peer, "%s", peer != NULL ? peer : "?");
}

static void stream_release(struct cas_ecmg_conn *c, struct cas_ecmg_stream *s)
{
	free(s->ac);
	s->ac = NULL;
	if (c->srv->streams > 0)
		c->srv->streams--;
}

static void drop_channel(struct cas_ecmg_conn *c)
{
	for (size_t i = 0; i < c->nstreams; i++)
		stream_release(c, &c->streams[i]);
	c->nstreams = 0;
	if (c->has_channel && c->srv->channels > 0)
		c->srv->channels--;
	c->has_channel = 0;
	c->changed |= CAS_ECMG_CHANGED_SETUP;
}

void cas_ecmg_conn_free(struct cas_ecmg_conn *c)
{
	drop_channel(c);
	free(c->streams);
	c->streams = NULL;
	c->cap = 0;
}

/* ---- streams: a sorted array, binary search ---- */

static size_t stream_pos(const struct cas_ecmg_conn *c, uint16_t id)
{
	size_t lo = 0, hi = c->nstreams;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->streams[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct cas_ecmg_stream *stream_find(struct cas_ecmg_conn *c, uint16_t id)
{
	size_t i = stream_pos(c, id);
	return i < c->nstreams && c->streams[i].id == id ? &c->streams[i] : NULL;
}

static struct cas_ecmg_stream *stream_add(struct cas_ecmg_conn *c, uint16_t id)
{
	if (c->nstreams == c->cap) {
		size_t cap = c->cap == 0 ? 4 : c->cap * 2;
		struct cas_ecmg_stream *n = realloc(c->streams, cap * sizeof *n);
		if (n == NULL)
			return NULL;
		c->streams = n;
		c->cap = cap;
	}
	size_t i = stream_pos(c, id);
	memmove(&c->streams[i + 1], &c->streams[i], (c->nstreams - i) * sizeof c->streams[0]);
	c->nstreams++;
	memset(&c->streams[i], 0, sizeof c->streams[i]);
	c->streams[i].id = id;
	c->srv->streams++;
	return &c->streams[i];
}

static void stream_remove(struct cas_ecmg_conn *c, struct cas_ecmg_stream *s)
{
	size_t i = (size_t)(s - c->streams);
	stream_release(c, s);
	memmove(&c->streams[i], &c->streams[i + 1], (c->nstreams - i - 1) * sizeof c->streams[0]);
	c->nstreams--;
}

/* ---- replies ---- */

/* The version of our replies: the channel's once set up; before that the
 * peer's own, so that it can read our complaint (TSDuck drops any message
 * whose version differs from its own). */
static uint8_t reply_version(const struct cas_ecmg_conn *c, uint8_t msg_version)
{
	if (c->version != 0)
		return c->version;
	return msg_version >= 1 && msg_version <= 5 ? msg_version : CAS_SC_VERSION_2;
}

static void end_msg(struct cas_wbuf *out, size_t at)
{
	/* The output buffer is sized by cas_ecmg_max_reply; a failure here is
	 * a programming error, and the sticky flag lets the caller see it. */
	if (at == (size_t)-1 || cas_tlv_end(out, at) < 0)
		out->err = 1;
}

static int is_error_msg(uint16_t type)
{
	return type == CAS_ECMG_MSG_CHANNEL_ERROR || type == CAS_ECMG_MSG_STREAM_ERROR;
}

/* What an error is about, for the reply and the log line. */
struct err_ctx {
	const char *what;		/* "CW_provision", or a reason */
	uint8_t version;		/* of the offending message */
	uint16_t msg_type;		/* 0 if unknown */
	int has_channel_id;
	uint16_t channel_id;
	int stream_known;		/* stream_error rather than channel_error */
	uint16_t stream_id;
};

static void send_error(struct cas_ecmg_conn *c, struct cas_wbuf *out, const struct err_ctx *e,
		       uint16_t status, uint16_t info)
{
	c->errors++;
	c->changed |= CAS_ECMG_CHANGED_COUNTERS;
	uint16_t ch = e->has_channel_id ? e->channel_id : c->has_channel ? c->channel_id : 0;
	const char *unanswered = is_error_msg(e->msg_type) ? " (not answered)" : "";
	if (e->stream_known)
		cas_log(CAS_LOG_WARN, "%s: channel %u stream %u: %s: error 0x%04X %s (info 0x%04X)%s",
			c->peer, ch, e->stream_id, e->what, status,
			cas_simulcrypt_error_name(I, status), info, unanswered);
	else
		cas_log(CAS_LOG_WARN, "%s: channel %u: %s: error 0x%04X %s (info 0x%04X)%s",
			c->peer, ch, e->what, status, cas_simulcrypt_error_name(I, status), info,
			unanswered);
	/* Never answer an error with an error (§5.1.8): two peers that
	 * dislike each other's errors would loop. */
	if (is_error_msg(e->msg_type))
		return;
	size_t at;
	if (e->stream_known) {
		at = cas_tlv_begin(out, reply_version(c, e->version), CAS_ECMG_MSG_STREAM_ERROR);
		cas_tlv_put_u16(out, E_CH, ch);
		cas_tlv_put_u16(out, E_ST, e->stream_id);
	} else {
		at = cas_tlv_begin(out, reply_version(c, e->version), CAS_ECMG_MSG_CHANNEL_ERROR);
		cas_tlv_put_u16(out, E_CH, ch);
	}
	cas_tlv_put_error(out, status, info);
	end_msg(out, at);
}

static void put_channel_status(struct cas_ecmg_conn *c, struct cas_wbuf *out)
{
	const struct cas_ecmg_params *p = &c->srv->p;
	size_t at = cas_tlv_begin(out, c->version, CAS_ECMG_MSG_CHANNEL_STATUS);
	/* Only the parameters TS 103 197 lists for channel_status: TSDuck
	 * rejects any other (simulcrypt.md §2.3). */
	cas_tlv_put_u16(out, E_CH, c->channel_id);
	cas_tlv_put_u8(out, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, p->section_tspkt_flag);
	if (p->has_ac_delay_start)
		cas_tlv_put_u16(out, CAS_ECMG_PARAM_AC_DELAY_START, (uint16_t)p->ac_delay_start);
	if (p->has_ac_delay_stop)
		cas_tlv_put_u16(out, CAS_ECMG_PARAM_AC_DELAY_STOP, (uint16_t)p->ac_delay_stop);
	cas_tlv_put_u16(out, CAS_ECMG_PARAM_DELAY_START, (uint16_t)p->delay_start);
	cas_tlv_put_u16(out, CAS_ECMG_PARAM_DELAY_STOP, (uint16_t)p->delay_stop);
	if (p->has_transition_delay_start)
		cas_tlv_put_u16(out, CAS_ECMG_PARAM_TRANSITION_DELAY_START,
				(uint16_t)p->transition_delay_start);
	if (p->has_transition_delay_stop)
		cas_tlv_put_u16(out, CAS_ECMG_PARAM_TRANSITION_DELAY_STOP,
				(uint16_t)p->transition_delay_stop);
	cas_tlv_put_u16(out, CAS_ECMG_PARAM_ECM_REP_PERIOD, p->ecm_rep_period);
	cas_tlv_put_u16(out, CAS_ECMG_PARAM_MAX_STREAMS, p->max_streams);
	cas_tlv_put_u16(out, CAS_ECMG_PARAM_MIN_CP_DURATION, p->min_cp_duration);
	/* The ECM of CP n carries CW(n) and CW(n+1): TSDuck's scrambler
	 * supports only these values (simulcrypt.md §2.3). */
	cas_tlv_put_u8(out, CAS_ECMG_PARAM_LEAD_CW, 1);
	cas_tlv_put_u8(out, CAS_ECMG_PARAM_CW_PER_MSG, 2);
	cas_tlv_put_u16(out, CAS_ECMG_PARAM_MAX_COMP_TIME, p->max_comp_time);
	end_msg(out, at);
}

static void put_stream_status(struct cas_ecmg_conn *c, const struct cas_ecmg_stream *s,
			      struct cas_wbuf *out)
{
	size_t at = cas_tlv_begin(out, c->version, CAS_ECMG_MSG_STREAM_STATUS);
	cas_tlv_put_u16(out, E_CH, c->channel_id);
	cas_tlv_put_u16(out, E_ST, s->id);
	if (c->version >= 2)
		cas_tlv_put_u16(out, CAS_ECMG_PARAM_ECM_ID, s->ecm_id);
	cas_tlv_put_u8(out, CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, c->srv->p.ac_transfer_mode);
	end_msg(out, at);
}

/* ---- the messages ---- */

static const struct cas_tlv_param *param(const struct cas_tlv_msg *m, uint16_t type)
{
	return cas_tlv_find(m, type);
}

static uint16_t u16_of(const struct cas_tlv_msg *m, uint16_t type)
{
	uint16_t v = 0;
	cas_tlv_get_u16(m, type, &v);
	return v;
}

/* The channel id of a message names this connection's channel; otherwise
 * the reply is channel_error 0x0006. */
static int channel_ok(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m, struct err_ctx *e,
		      struct cas_wbuf *out)
{
	if (c->has_channel && e->channel_id == c->channel_id)
		return 1;
	send_error(c, out, e, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, (uint16_t)param(m, E_CH)->offset);
	return 0;
}

/* The stream a message names, or NULL after channel_error 0x0007 (the
 * stream is not known, so the error cannot be a stream_error). */
static struct cas_ecmg_stream *stream_ok(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m,
					 struct err_ctx *e, struct cas_wbuf *out)
{
	if (e->stream_known)
		return stream_find(c, e->stream_id);
	send_error(c, out, e, CAS_ECMG_ERR_UNKNOWN_ECM_STREAM_ID, (uint16_t)param(m, E_ST)->offset);
	return NULL;
}

static void on_channel_setup(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m,
			     struct err_ctx *e, struct cas_wbuf *out)
{
	uint32_t scid = 0;
	cas_tlv_get_u32(m, CAS_ECMG_PARAM_SUPER_CAS_ID, &scid);
	/* One connection, one channel (simulcrypt.md §2): a second
	 * channel_setup finds the connection's channel in use. */
	if (c->has_channel) {
		send_error(c, out, e, CAS_ECMG_ERR_ECM_CHANNEL_ID_IN_USE, (uint16_t)param(m, E_CH)->offset);
		return;
	}
	if (scid != c->srv->p.super_cas_id) {
		send_error(c, out, e, CAS_ECMG_ERR_UNKNOWN_SUPER_CAS_ID,
			   (uint16_t)param(m, CAS_ECMG_PARAM_SUPER_CAS_ID)->offset);
		return;
	}
	if (c->srv->channels >= c->srv->p.max_channels) {
		send_error(c, out, e, CAS_ECMG_ERR_TOO_MANY_CHANNELS, (uint16_t)param(m, E_CH)->offset);
		return;
	}
	c->has_channel = 1;
	c->channel_id = e->channel_id;
	c->super_cas_id = scid;
	c->version = m->version;
	c->srv->channels++;
	c->changed |= CAS_ECMG_CHANGED_SETUP;
	cas_log(CAS_LOG_INFO, "%s: channel %u set up (Super_CAS_id 0x%08X, protocol version %u)",
		c->peer, c->channel_id, scid, c->version);
	put_channel_status(c, out);
}

static void on_channel_test(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m,
			    struct err_ctx *e, struct cas_wbuf *out)
{
	if (channel_ok(c, m, e, out))
		put_channel_status(c, out);
}

static void on_channel_close(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m,
			     struct err_ctx *e, struct cas_wbuf *out)
{
	if (!channel_ok(c, m, e, out))
		return;
	cas_log(CAS_LOG_INFO, "%s: channel %u closed (%zu streams)", c->peer, c->channel_id,
		c->nstreams);
	drop_channel(c);	/* no reply (§5.1.7) */
}

static void on_stream_setup(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m,
			    struct err_ctx *e, struct cas_wbuf *out)
{
	if (!channel_ok(c, m, e, out))
		return;
	const struct cas_ecmg_params *p = &c->srv->p;
	struct cas_ecmg_stream *s;
	if (e->stream_known) {
		send_error(c, out, e, CAS_ECMG_ERR_ECM_STREAM_ID_IN_USE, (uint16_t)param(m, E_ST)->offset);
		return;
	}
	uint16_t ecm_id = 0;
	if (c->version >= 2) {
		ecm_id = u16_of(m, CAS_ECMG_PARAM_ECM_ID);
		for (size_t i = 0; i < c->nstreams; i++) {
			if (c->streams[i].ecm_id == ecm_id) {
				send_error(c, out, e, CAS_ECMG_ERR_ECM_ID_IN_USE,
					   (uint16_t)param(m, CAS_ECMG_PARAM_ECM_ID)->offset);
				return;
			}
		}
	}
	uint16_t nominal = u16_of(m, CAS_ECMG_PARAM_NOMINAL_CP_DURATION);
	if (nominal < p->min_cp_duration) {
		send_error(c, out, e, CAS_ECMG_ERR_INVALID_PARAM_VALUE,
			   (uint16_t)param(m, CAS_ECMG_PARAM_NOMINAL_CP_DURATION)->offset);
		return;
	}
	/* max_streams 0 declares no limit (TS 103 197; tsecmg sends 0). */
	if (p->max_streams != 0 && c->nstreams >= p->max_streams) {
		send_error(c, out, e, CAS_ECMG_ERR_TOO_MANY_STREAMS_CHANNEL, (uint16_t)param(m, E_ST)->offset);
		return;
	}
	if (c->srv->streams >= p->max_total_streams) {
		send_error(c, out, e, CAS_ECMG_ERR_TOO_MANY_STREAMS_ECMG, (uint16_t)param(m, E_ST)->offset);
		return;
	}
	s = stream_add(c, e->stream_id);
	if (s == NULL) {
		send_error(c, out, e, CAS_ECMG_ERR_OUT_OF_STORAGE, (uint16_t)param(m, E_ST)->offset);
		return;
	}
	s->ecm_id = ecm_id;
	s->nominal_cp = nominal;
	c->changed |= CAS_ECMG_CHANGED_SETUP;
	if (c->version >= 2)
		cas_log(CAS_LOG_INFO, "%s: channel %u stream %u set up (ECM_id %u, nominal CP %u.%u s)",
			c->peer, c->channel_id, s->id, ecm_id, nominal / 10, nominal % 10);
	else
		cas_log(CAS_LOG_INFO, "%s: channel %u stream %u set up (nominal CP %u.%u s)",
			c->peer, c->channel_id, s->id, nominal / 10, nominal % 10);
	put_stream_status(c, s, out);
}

static void on_stream_test(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m,
			   struct err_ctx *e, struct cas_wbuf *out)
{
	struct cas_ecmg_stream *s;
	if (channel_ok(c, m, e, out) && (s = stream_ok(c, m, e, out)) != NULL)
		put_stream_status(c, s, out);
}

static void on_stream_close(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m,
			    struct err_ctx *e, struct cas_wbuf *out)
{
	struct cas_ecmg_stream *s;
	if (!channel_ok(c, m, e, out) || (s = stream_ok(c, m, e, out)) == NULL)
		return;
	cas_log(CAS_LOG_INFO, "%s: channel %u stream %u closed (%llu ECMs)", c->peer, c->channel_id,
		s->id, (unsigned long long)s->ecms);
	stream_remove(c, s);
	c->changed |= CAS_ECMG_CHANGED_SETUP;
	size_t at = cas_tlv_begin(out, c->version, CAS_ECMG_MSG_STREAM_CLOSE_RESPONSE);
	cas_tlv_put_u16(out, E_CH, c->channel_id);
	cas_tlv_put_u16(out, E_ST, e->stream_id);
	end_msg(out, at);
}

static void on_cw_provision(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m, int64_t now,
			    struct err_ctx *e, struct cas_wbuf *out)
{
	c->cw_provisions++;
	c->changed |= CAS_ECMG_CHANGED_COUNTERS;
	struct cas_ecmg_stream *s;
	if (!channel_ok(c, m, e, out) || (s = stream_ok(c, m, e, out)) == NULL)
		return;
	const struct cas_ecmg *srv = c->srv;
	const struct cas_tlv_param *p;
	uint16_t cp = u16_of(m, CAS_ECMG_PARAM_CP_NUMBER);

	/* CWs that arrive encrypted cannot go into an ECM as they are. */
	if (c->version >= 2 && (p = param(m, CAS_ECMG_PARAM_CW_ENCRYPTION)) != NULL) {
		send_error(c, out, e, CAS_ECMG_ERR_INVALID_PARAM_VALUE, (uint16_t)p->offset);
		return;
	}
	/* Matched by CP value, not by position; more CWs than CW_per_msg are
	 * fine (simulcrypt.md §2.4). */
	struct cas_cp_cw cws[CAS_ECMG_MAX_CWS];
	size_t n = 0;
	for (p = cas_tlv_next(m, CAS_ECMG_PARAM_CP_CW_COMBINATION, NULL); p != NULL;
	     p = cas_tlv_next(m, CAS_ECMG_PARAM_CP_CW_COMBINATION, p)) {
		/* Profiles take 8-byte (DVB-CSA2) CWs. */
		if (p->len != 2 + sizeof cws[0].cw) {
			send_error(c, out, e, CAS_ECMG_ERR_INVALID_PARAM_VALUE, (uint16_t)p->offset);
			return;
		}
		if (n < CAS_ECMG_MAX_CWS) {
			cws[n].cp = cas_be16(p->value);
			memcpy(cws[n].cw, p->value + 2, sizeof cws[n].cw);
			n++;
		}
	}
	/* access_criteria: this one, or the last one of the stream when the
	 * SCS sends it only on change (access_criteria_transfer_mode 0). */
	p = param(m, CAS_ECMG_PARAM_ACCESS_CRITERIA);
	if (p != NULL && p->len > CAS_ECMG_MAX_AC) {
		send_error(c, out, e, CAS_ECMG_ERR_INVALID_PARAM_VALUE, (uint16_t)p->offset);
		return;
	}
	if (p != NULL && (p->len != s->ac_len || (p->len > 0 && memcmp(p->value, s->ac, p->len) != 0))) {
		uint8_t *ac = NULL;
		if (p->len > 0 && (ac = malloc(p->len)) == NULL) {
			send_error(c, out, e, CAS_ECMG_ERR_OUT_OF_STORAGE, (uint16_t)p->offset);
			return;
		}
		if (p->len > 0)
			memcpy(ac, p->value, p->len);
		free(s->ac);
		s->ac = ac;
		s->ac_len = p->len;
	}

	struct cas_ecm_req req = {
		.cp = cp, .cws = cws, .n_cws = n, .ac = s->ac, .ac_len = s->ac_len, .now = now,
	};
	uint8_t section[CAS_TS_SECTION_MAX];
	long len = -1;
	if (srv->profile != NULL && srv->key != NULL)
		len = srv->profile->ecm_build(srv->key, &req, section, sizeof section);
	memset(cws, 0, sizeof cws);	/* no CW outlives the request */
	if (len <= 0) {
		/* With 8-byte CWs and a sane clock the only reason left is a
		 * CW the profile needs (CP n, n + 1) that is not there. */
		send_error(c, out, e, CAS_ECMG_ERR_NOT_ENOUGH_CW, CAS_ECMG_PARAM_CP_CW_COMBINATION);
		return;
	}
	size_t at = cas_tlv_begin(out, c->version, CAS_ECMG_MSG_ECM_RESPONSE);
	cas_tlv_put_u16(out, E_CH, c->channel_id);
	cas_tlv_put_u16(out, E_ST, s->id);
	cas_tlv_put_u16(out, CAS_ECMG_PARAM_CP_NUMBER, cp);	/* exactly the request's */
	if (srv->p.section_tspkt_flag) {
		uint8_t pkts[CAS_TS_PACKET_LEN * 23];
		/* The SCS sets the ECM PID and its own continuity counters;
		 * ours just keep each stream's packets consistent. */
		long plen = cas_ts_packetize(section, (size_t)len, CAS_TS_PID_PLACEHOLDER, &s->cc,
					     pkts, sizeof pkts);
		if (plen < 0)
			out->err = 1;
		else
			cas_tlv_put_bytes(out, CAS_ECMG_PARAM_ECM_DATAGRAM, pkts, (size_t)plen);
	} else {
		cas_tlv_put_bytes(out, CAS_ECMG_PARAM_ECM_DATAGRAM, section, (size_t)len);
	}
	end_msg(out, at);
	s->ecms++;
	c->ecms++;
	cas_log(CAS_LOG_DEBUG, "%s: channel %u stream %u: ECM for CP %u", c->peer, c->channel_id,
		s->id, cp);
}

/* An error message from the SCS: logged, never answered. */
static void on_peer_error(struct cas_ecmg_conn *c, const struct cas_tlv_msg *m)
{
	c->errors++;
	c->changed |= CAS_ECMG_CHANGED_COUNTERS;
	char where[32] = "";
	if (m->type == CAS_ECMG_MSG_STREAM_ERROR)
		snprintf(where, sizeof where, " stream %u", u16_of(m, E_ST));
	for (const struct cas_tlv_param *p = cas_tlv_next(m, CAS_ECMG_PARAM_ERROR_STATUS, NULL);
	     p != NULL; p = cas_tlv_next(m, CAS_ECMG_PARAM_ERROR_STATUS, p)) {
		uint16_t st = cas_be16(p->value);
		cas_log(CAS_LOG_WARN, "%s: channel %u%s: SCS reports 0x%04X %s", c->peer,
			u16_of(m, E_CH), where, st, cas_simulcrypt_error_name(I, st));
	}
}

/* ---- entry points ---- */

static int invalid(struct cas_ecmg_conn *c, const char *why)
{
	if (++c->invalid_run < CAS_ECMG_MAX_INVALID)
		return CAS_ECMG_GO_ON;
	cas_log(CAS_LOG_WARN, "%s: %u invalid messages in a row (last: %s): closing the connection",
		c->peer, c->invalid_run, why);
	return CAS_ECMG_CLOSE;
}

int cas_ecmg_check_head(struct cas_ecmg_conn *c, const uint8_t *p, size_t n,
			struct cas_wbuf *out)
{
	if (n == 0)
		return CAS_ECMG_GO_ON;
	struct err_ctx e = { .what = "message", .version = p[0] };
	if (n >= 3)
		e.msg_type = cas_be16(p + 1);
	/* No SimulCrypt version is 0 or above 5: this is not SimulCrypt, and
	 * a byte stream offers no point to resynchronise on. */
	if (p[0] == 0 || p[0] > 5) {
		e.what = "garbage (not a SimulCrypt header)";
		send_error(c, out, &e, CAS_ECMG_ERR_INVALID_MESSAGE, 0);
		cas_log(CAS_LOG_WARN, "%s: unrecoverable framing error: closing the connection", c->peer);
		return CAS_ECMG_CLOSE;
	}
	if (n >= CAS_SC_HEADER_LEN && cas_be16(p + 3) > CAS_ECMG_MAX_BODY) {
		e.what = "over-long message";
		send_error(c, out, &e, CAS_ECMG_ERR_MESSAGE_TOO_LONG, 3);
		cas_log(CAS_LOG_WARN, "%s: message_length %u above %u: closing the connection",
			c->peer, cas_be16(p + 3), CAS_ECMG_MAX_BODY);
		return CAS_ECMG_CLOSE;
	}
	return CAS_ECMG_GO_ON;
}

int cas_ecmg_handle(struct cas_ecmg_conn *c, const uint8_t *msg, size_t len, int64_t now,
		    struct cas_wbuf *out)
{
	if (cas_ecmg_check_head(c, msg, len, out) == CAS_ECMG_CLOSE)
		return CAS_ECMG_CLOSE;
	c->last_seen = now;
	c->changed |= CAS_ECMG_CHANGED_COUNTERS;

	struct cas_tlv_msg m;
	struct cas_tlv_error err;
	struct cas_buf in;
	cas_buf_init(&in, msg, len);
	struct err_ctx e = { .what = "message" };
	if (len >= 3) {
		e.version = msg[0];
		e.msg_type = cas_be16(msg + 1);
		e.what = cas_simulcrypt_msg_name(I, e.msg_type);
	}
	if (cas_tlv_parse(&m, &in, &err) < 0 || cas_buf_left(&in) != 0) {
		if (err.status == 0)
			err.status = CAS_ECMG_ERR_INVALID_MESSAGE, err.info = 1;
		send_error(c, out, &e, err.status, err.info);
		return invalid(c, "malformed");
	}
	/* The channel id, if readable, goes into any error reply. */
	if (cas_tlv_get_u16(&m, E_CH, &e.channel_id) == 0)
		e.has_channel_id = 1;
	/* stream_error is for a stream of this channel that exists (the SCS
	 * can match it); anything else gets a channel_error. */
	uint16_t type_class = m.type & 0xFF00;
	int has_stream_id = cas_tlv_get_u16(&m, E_ST, &e.stream_id) == 0;
	if ((type_class == 0x0100 || type_class == 0x0200) && c->has_channel && e.has_channel_id &&
	    e.channel_id == c->channel_id && has_stream_id && stream_find(c, e.stream_id) != NULL)
		e.stream_known = 1;

	unsigned versions = c->has_channel ? CAS_TLV_VERSION(c->version)
		: CAS_TLV_VERSION(1) | CAS_TLV_VERSION(2) | CAS_TLV_VERSION(3);
	if (cas_tlv_validate(&m, I, versions, &err) < 0) {
		/* An error message we cannot decode is still not answered. */
		send_error(c, out, &e, err.status, err.info);
		return invalid(c, cas_simulcrypt_error_name(I, err.status));
	}
	c->invalid_run = 0;

	switch (m.type) {
	case CAS_ECMG_MSG_CHANNEL_SETUP:
		on_channel_setup(c, &m, &e, out);
		break;
	case CAS_ECMG_MSG_CHANNEL_TEST:
		on_channel_test(c, &m, &e, out);
		break;
	case CAS_ECMG_MSG_CHANNEL_CLOSE:
		on_channel_close(c, &m, &e, out);
		break;
	case CAS_ECMG_MSG_STREAM_SETUP:
		on_stream_setup(c, &m, &e, out);
		break;
	case CAS_ECMG_MSG_STREAM_TEST:
		on_stream_test(c, &m, &e, out);
		break;
	case CAS_ECMG_MSG_STREAM_CLOSE_REQUEST:
		on_stream_close(c, &m, &e, out);
		break;
	case CAS_ECMG_MSG_CW_PROVISION:
		on_cw_provision(c, &m, now, &e, out);
		break;
	case CAS_ECMG_MSG_CHANNEL_ERROR:
	case CAS_ECMG_MSG_STREAM_ERROR:
		on_peer_error(c, &m);
		break;
	default:
		/* channel_status, stream_status (the SCS answering our
		 * channel_test), ECM_response, stream_close_response: nothing
		 * to do (tsecmg ignores them too). */
		cas_log(CAS_LOG_DEBUG, "%s: %s from the SCS ignored", c->peer,
			cas_simulcrypt_msg_name(I, m.type));
		break;
	}
	return CAS_ECMG_GO_ON;
}

int cas_ecmg_probe(struct cas_ecmg_conn *c, struct cas_wbuf *out)
{
	if (!c->has_channel)
		return -1;
	size_t at = cas_tlv_begin(out, c->version, CAS_ECMG_MSG_CHANNEL_TEST);
	cas_tlv_put_u16(out, E_CH, c->channel_id);
	end_msg(out, at);
	return 0;
}
