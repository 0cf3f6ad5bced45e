/*
 * The scrambler's side of ECMG<=>SCS (ETSI TS 103 197 §5; reference
 * simulcrypt.md §2, §5.2): connect, channel_setup -> channel_status,
 * stream_setup -> stream_status, then one CW_provision per crypto-period
 * carrying CW(n) and CW(n+1) (CW_per_msg 2, lead_CW 1) and the access
 * criteria, answered by ECM_response with the same CP_number.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "headend.h"
#include "log.h"
#include "simulcrypt.h"
#include "ts.h"

#define MSG_MAX 1024

int scs_connect(struct headend *h, const char *addr, int timeout_ms)
{
	struct scs *s = &h->scs;
	struct sockaddr_in sa;
	if (parse_addr(addr, &sa) < 0) {
		cas_log(CAS_LOG_FATAL, "bad ECMG address '%s' (want host:port)", addr);
		return -1;
	}
	int64_t until = mono_ms() + timeout_ms;
	int err = 0;
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			cas_log(CAS_LOG_FATAL, "unable to create a socket: %s", strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
			if (link_init(&s->l, fd) < 0) {
				close(fd);
				cas_log(CAS_LOG_FATAL, "out of memory");
				return -1;
			}
			s->connected = 1;
			cas_log(CAS_LOG_INFO, "connected to the ECMG at %s", addr);
			return 0;
		}
		err = errno;
		close(fd);
		if (mono_ms() >= until || h->stop)
			break;
		usleep(100 * 1000);
	}
	cas_log(CAS_LOG_FATAL, "unable to connect to the ECMG at %s: %s", addr, strerror(err));
	return -1;
}

static int send_msg(struct scs *s, struct cas_wbuf *w, size_t at)
{
	if (cas_tlv_end(w, at) < 0)
		return -1;
	return link_send(&s->l, w->data + at, w->len - at);
}

static void log_error_msg(const struct cas_tlv_msg *m)
{
	const struct cas_tlv_param *p;
	for (p = cas_tlv_next(m, CAS_ECMG_PARAM_ERROR_STATUS, NULL); p;
	     p = cas_tlv_next(m, CAS_ECMG_PARAM_ERROR_STATUS, p)) {
		uint16_t st = p->len == 2 ? cas_be16(p->value) : 0;
		cas_log(CAS_LOG_ERROR, "ECMG sent %s: 0x%04X %s",
			cas_simulcrypt_msg_name(CAS_SC_ECMG, m->type), st,
			cas_simulcrypt_error_name(CAS_SC_ECMG, st));
	}
}

/* ECM_response: the ECM for one CP, kept until it has been on air. */
static int on_ecm(struct headend *h, const struct cas_tlv_msg *m)
{
	struct scs *s = &h->scs;
	uint16_t ch, st, cp;
	const struct cas_tlv_param *d = cas_tlv_find(m, CAS_ECMG_PARAM_ECM_DATAGRAM);
	if (cas_tlv_get_u16(m, CAS_ECMG_PARAM_ECM_CHANNEL_ID, &ch) < 0 ||
	    cas_tlv_get_u16(m, CAS_ECMG_PARAM_ECM_STREAM_ID, &st) < 0 ||
	    cas_tlv_get_u16(m, CAS_ECMG_PARAM_CP_NUMBER, &cp) < 0 || d == NULL ||
	    ch != s->channel_id || st != s->stream_id) {
		cas_log(CAS_LOG_ERROR, "ECM_response for another channel or stream");
		s->errors++;
		return 0;
	}
	/* the CP_number is 16 bits on the wire: find the CP we asked for */
	struct ecm_slot *slot = NULL;
	uint32_t want = 0;
	for (uint32_t i = 0; i < ECM_RING; i++) {
		uint32_t c = h->ts.cp + i;	/* requests are for cp .. cp + 2 */
		if ((uint16_t)c == cp) {
			slot = &s->ecm[c & 3];
			want = c;
			break;
		}
	}
	if (slot == NULL) {
		cas_log(CAS_LOG_ERROR, "ECM_response for CP %u, which was not asked for", cp);
		s->errors++;
		return 0;
	}
	uint8_t sec[4096];
	long len;
	if (s->tspkt_flag) {
		/* TS-packet mode: the section is inside n x 188 bytes */
		len = cas_ts_extract(d->value, d->len, sec, sizeof sec, NULL);
	} else {
		len = d->len;
		if (len > (long)sizeof sec || len < 3 ||
		    (size_t)len != 3 + (size_t)(((d->value[1] & 0x0F) << 8) | d->value[2]))
			len = -1;
		else
			memcpy(sec, d->value, d->len);
	}
	if (len < 0) {
		cas_log(CAS_LOG_ERROR, "ECM_response for CP %u: ECM_datagram is not one whole section", cp);
		s->errors++;
		return 0;
	}
	memcpy(slot->sec, sec, (size_t)len);
	slot->len = (size_t)len;
	slot->cp = want;
	slot->valid = 1;
	s->ecm_responses++;
	int64_t dt = mono_ms() - s->sent_ms[want & 3];
	if (dt > s->comp_ms_max)
		s->comp_ms_max = dt;
	cas_log(CAS_LOG_DEBUG, "ECM for CP %u: %ld bytes after %lld ms", want, len, (long long)dt);
	return 0;
}

static int on_msg(void *ctx, const uint8_t *msg, size_t len)
{
	struct headend *h = ctx;
	struct scs *s = &h->scs;
	struct cas_tlv_msg m;
	struct cas_tlv_error err;
	struct cas_buf b;
	cas_buf_init(&b, msg, len);
	if (cas_tlv_decode(&m, &b, CAS_SC_ECMG, CAS_TLV_VERSION(s->version), &err) < 0) {
		cas_log(CAS_LOG_ERROR, "invalid message from the ECMG: 0x%04X %s", err.status,
			cas_simulcrypt_error_name(CAS_SC_ECMG, err.status));
		s->errors++;
		return 0;
	}
	uint8_t out[MSG_MAX];
	uint16_t ds;
	switch (m.type) {
	case CAS_ECMG_MSG_CHANNEL_STATUS:
		if (len <= sizeof s->chan_status) {
			memcpy(s->chan_status, msg, len);
			s->chan_status_len = len;
		}
		if (s->have_channel)
			break;	/* the answer to our channel_test, or unsolicited */
		if (cas_tlv_get_u8(&m, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, &s->tspkt_flag) < 0 ||
		    cas_tlv_get_u16(&m, CAS_ECMG_PARAM_DELAY_START, &ds) < 0 ||
		    cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_REP_PERIOD, &s->rep_period_ms) < 0 ||
		    cas_tlv_get_u16(&m, CAS_ECMG_PARAM_MIN_CP_DURATION, &s->min_cp) < 0 ||
		    cas_tlv_get_u8(&m, CAS_ECMG_PARAM_LEAD_CW, &s->lead_cw) < 0 ||
		    cas_tlv_get_u8(&m, CAS_ECMG_PARAM_CW_PER_MSG, &s->cw_per_msg) < 0 ||
		    cas_tlv_get_u16(&m, CAS_ECMG_PARAM_MAX_COMP_TIME, &s->max_comp_time) < 0)
			return -1;
		s->delay_start = (int16_t)ds;
		s->have_channel = 1;
		break;
	case CAS_ECMG_MSG_STREAM_STATUS: {
		uint16_t id;
		if (len <= sizeof s->stream_status) {
			memcpy(s->stream_status, msg, len);
			s->stream_status_len = len;
		}
		if (s->version >= 2 && (cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_ID, &id) < 0 ||
					id != s->ecm_id)) {
			cas_log(CAS_LOG_ERROR, "stream_status does not echo ECM_id %u", s->ecm_id);
			return -1;
		}
		s->have_stream = 1;
		break;
	}
	case CAS_ECMG_MSG_ECM_RESPONSE:
		return on_ecm(h, &m);
	case CAS_ECMG_MSG_CHANNEL_TEST:
		/* answered with the channel_status we were given (as TSDuck) */
		if (s->chan_status_len > 0 && s->chan_status_len <= sizeof out)
			return link_send(&s->l, s->chan_status, s->chan_status_len);
		break;
	case CAS_ECMG_MSG_STREAM_TEST:
		if (s->stream_status_len > 0)
			return link_send(&s->l, s->stream_status, s->stream_status_len);
		break;
	case CAS_ECMG_MSG_STREAM_CLOSE_RESPONSE:
		s->closed = 1;
		break;
	case CAS_ECMG_MSG_CHANNEL_ERROR:
	case CAS_ECMG_MSG_STREAM_ERROR:
		log_error_msg(&m);
		s->errors++;
		/* an error during setup is fatal, as for TSDuck's scrambler */
		if (!s->have_stream)
			return -1;
		break;
	default:
		cas_log(CAS_LOG_WARN, "unexpected %s from the ECMG",
			cas_simulcrypt_msg_name(CAS_SC_ECMG, m.type));
		break;
	}
	return 0;
}

int scs_input(struct headend *h)
{
	if (link_pump(&h->scs.l, on_msg, h) < 0) {
		cas_log(CAS_LOG_ERROR, "connection to the ECMG lost");
		return -1;
	}
	return 0;
}

/* Reads until *flag is set, or 5 s (TSDuck's ECMG client waits as long). */
static int wait_for(struct headend *h, const int *flag, const char *what)
{
	int64_t until = mono_ms() + 5000;
	while (!*flag) {
		int64_t left = until - mono_ms();
		if (left <= 0 || h->stop) {
			cas_log(CAS_LOG_FATAL, "no %s from the ECMG", what);
			return -1;
		}
		int r = link_wait(&h->scs.l, (int)left);
		if (r < 0 || (r > 0 && scs_input(h) < 0))
			return -1;
	}
	return 0;
}

int scs_setup(struct headend *h, uint16_t nominal_cp)
{
	struct scs *s = &h->scs;
	uint8_t out[MSG_MAX];
	struct cas_wbuf w;

	cas_wbuf_init(&w, out, sizeof out);
	size_t at = cas_tlv_begin(&w, s->version, CAS_ECMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, s->channel_id);
	cas_tlv_put_u32(&w, CAS_ECMG_PARAM_SUPER_CAS_ID, s->super_cas_id);
	if (send_msg(s, &w, at) < 0 || wait_for(h, &s->have_channel, "channel_status") < 0)
		return -1;
	if (s->cw_per_msg > 2 || s->lead_cw > 1)
		cas_log(CAS_LOG_WARN, "ECMG wants CW_per_msg %u, lead_CW %u: sending 2 and 1",
			s->cw_per_msg, s->lead_cw);
	if (nominal_cp < s->min_cp) {
		cas_log(CAS_LOG_FATAL, "crypto-period %u00 ms is below the ECMG's min_CP_duration %u00 ms",
			nominal_cp, s->min_cp);
		return -1;
	}
	cas_log(CAS_LOG_INFO, "channel %u: ECMG delay_start %d ms, ECM_rep_period %u ms, %s mode",
		s->channel_id, s->delay_start, s->rep_period_ms, s->tspkt_flag ? "TS packet" : "section");

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, s->version, CAS_ECMG_MSG_STREAM_SETUP);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, s->channel_id);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, s->stream_id);
	if (s->version >= 2)
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_ID, s->ecm_id);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_NOMINAL_CP_DURATION, nominal_cp);
	if (send_msg(s, &w, at) < 0 || wait_for(h, &s->have_stream, "stream_status") < 0)
		return -1;
	cas_log(CAS_LOG_INFO, "stream %u (ECM_id %u) set up, crypto-period %u00 ms", s->stream_id,
		s->ecm_id, nominal_cp);
	return 0;
}

int scs_cw_provision(struct headend *h, uint32_t cp, const uint8_t cw0[8], const uint8_t cw1[8],
		     uint16_t cp_duration)
{
	struct scs *s = &h->scs;
	uint8_t out[MSG_MAX], comb[10];
	struct cas_wbuf w;
	cas_wbuf_init(&w, out, sizeof out);
	size_t at = cas_tlv_begin(&w, s->version, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, s->channel_id);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, s->stream_id);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_NUMBER, (uint16_t)cp);
	cas_put_be16(comb, (uint16_t)cp);
	memcpy(comb + 2, cw0, 8);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
	cas_put_be16(comb, (uint16_t)(cp + 1));
	memcpy(comb + 2, cw1, 8);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_DURATION, cp_duration);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA, h->ac, sizeof h->ac);
	int rc = send_msg(s, &w, at);
	memset(comb, 0, sizeof comb);
	memset(out, 0, sizeof out);	/* it held two control words */
	if (rc < 0) {
		cas_log(CAS_LOG_ERROR, "unable to send CW_provision for CP %u: %s", cp, strerror(errno));
		return -1;
	}
	s->ecm[cp & 3].valid = 0;
	s->sent_ms[cp & 3] = mono_ms();
	s->cw_provisions++;
	return 0;
}

const struct ecm_slot *scs_ecm(const struct scs *s, uint32_t cp)
{
	const struct ecm_slot *e = &s->ecm[cp & 3];
	return e->valid && e->cp == cp ? e : NULL;
}

void scs_shutdown(struct headend *h)
{
	struct scs *s = &h->scs;
	if (!s->connected)
		return;
	uint8_t out[MSG_MAX];
	struct cas_wbuf w;
	if (s->have_stream) {
		cas_wbuf_init(&w, out, sizeof out);
		size_t at = cas_tlv_begin(&w, s->version, CAS_ECMG_MSG_STREAM_CLOSE_REQUEST);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, s->channel_id);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, s->stream_id);
		if (send_msg(s, &w, at) == 0) {
			int64_t until = mono_ms() + 2000;
			while (!s->closed && mono_ms() < until) {
				int r = link_wait(&s->l, 100);
				if (r < 0 || (r > 0 && link_pump(&s->l, on_msg, h) < 0))
					break;
			}
		}
		if (!s->closed)
			cas_log(CAS_LOG_WARN, "no stream_close_response from the ECMG");
	}
	if (s->have_channel) {
		cas_wbuf_init(&w, out, sizeof out);
		size_t at = cas_tlv_begin(&w, s->version, CAS_ECMG_MSG_CHANNEL_CLOSE);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, s->channel_id);
		(void)send_msg(s, &w, at);
	}
	link_close(&s->l);
	s->connected = 0;
}
