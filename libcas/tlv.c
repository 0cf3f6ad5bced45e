/* SimulCrypt TLV codec: parse, validate, build, frame (see tlv.h). */
#include "tlv.h"

#include <string.h>

/* ------------------------------------------------------------------------
 * Dictionaries (reference/simulcrypt.md §2.1-§2.2 and §3.1-§3.2).
 * ------------------------------------------------------------------------ */

#define VAR 0xFFFFu		/* variable length: 0..65535 */
#define MANY 0xFFFFu		/* "n" occurrences */

struct paramdef {
	uint16_t type;
	uint16_t min_len;
	uint16_t max_len;
};

/* One occurrence rule of a parameter in a message, for protocol versions
 * vmin..vmax.  A parameter may have several rules for disjoint version
 * ranges (data_channel_id in data_provision: mandatory in v1, optional in
 * v2+).  len_min/len_max override the parameter's size when has_len is set
 * (CP_CW_combination is exactly 10 bytes in v1, where the CW is 8 bytes). */
struct rule {
	uint16_t type;
	uint8_t vmin, vmax;
	uint16_t min, max;
	uint8_t has_len;
	uint16_t len_min, len_max;
};

#define MAX_RULES 16

struct msgdef {
	uint16_t type;
	struct rule rules[MAX_RULES];
};

/* M: mandatory once; O: optional once; versions: ALL, V1 only, V2P = 2+. */
#define ALL 0, 255
#define V1 0, 1
#define V2P 2, 255
#define M(t, v) { (t), v, 1, 1, 0, 0, 0 }
#define O(t, v) { (t), v, 0, 1, 0, 0, 0 }
#define R(t, v, lo, hi) { (t), v, (lo), (hi), 0, 0, 0 }
#define RL(t, v, lo, hi, l0, l1) { (t), v, (lo), (hi), 1, (l0), (l1) }

static const struct paramdef ecmg_params[] = {
	{ CAS_ECMG_PARAM_SUPER_CAS_ID, 4, 4 },
	{ CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, 1, 1 },
	{ CAS_ECMG_PARAM_DELAY_START, 2, 2 },
	{ CAS_ECMG_PARAM_DELAY_STOP, 2, 2 },
	{ CAS_ECMG_PARAM_TRANSITION_DELAY_START, 2, 2 },
	{ CAS_ECMG_PARAM_TRANSITION_DELAY_STOP, 2, 2 },
	{ CAS_ECMG_PARAM_ECM_REP_PERIOD, 2, 2 },
	{ CAS_ECMG_PARAM_MAX_STREAMS, 2, 2 },
	{ CAS_ECMG_PARAM_MIN_CP_DURATION, 2, 2 },
	{ CAS_ECMG_PARAM_LEAD_CW, 1, 1 },
	{ CAS_ECMG_PARAM_CW_PER_MSG, 1, 1 },
	{ CAS_ECMG_PARAM_MAX_COMP_TIME, 2, 2 },
	{ CAS_ECMG_PARAM_ACCESS_CRITERIA, 0, VAR },
	{ CAS_ECMG_PARAM_ECM_CHANNEL_ID, 2, 2 },
	{ CAS_ECMG_PARAM_ECM_STREAM_ID, 2, 2 },
	{ CAS_ECMG_PARAM_NOMINAL_CP_DURATION, 2, 2 },
	{ CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, 1, 1 },
	{ CAS_ECMG_PARAM_CP_NUMBER, 2, 2 },
	{ CAS_ECMG_PARAM_CP_DURATION, 2, 2 },
	/* CP (2) + a CW of any size from v2 on (8 bytes CSA2, 16 CSA3/AES) */
	{ CAS_ECMG_PARAM_CP_CW_COMBINATION, 2, VAR },
	{ CAS_ECMG_PARAM_ECM_DATAGRAM, 0, VAR },
	{ CAS_ECMG_PARAM_AC_DELAY_START, 2, 2 },
	{ CAS_ECMG_PARAM_AC_DELAY_STOP, 2, 2 },
	{ CAS_ECMG_PARAM_CW_ENCRYPTION, 0, VAR },
	{ CAS_ECMG_PARAM_ECM_ID, 2, 2 },
	{ CAS_ECMG_PARAM_ERROR_STATUS, 2, 2 },
	/* variable in the spec; we send 2 bytes but accept any size */
	{ CAS_ECMG_PARAM_ERROR_INFORMATION, 0, VAR },
};

static const struct paramdef emmg_params[] = {
	{ CAS_EMMG_PARAM_CLIENT_ID, 4, 4 },
	{ CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, 1, 1 },
	{ CAS_EMMG_PARAM_DATA_CHANNEL_ID, 2, 2 },
	{ CAS_EMMG_PARAM_DATA_STREAM_ID, 2, 2 },
	{ CAS_EMMG_PARAM_DATAGRAM, 0, VAR },
	{ CAS_EMMG_PARAM_BANDWIDTH, 2, 2 },
	{ CAS_EMMG_PARAM_DATA_TYPE, 1, 1 },
	{ CAS_EMMG_PARAM_DATA_ID, 2, 2 },
	{ CAS_EMMG_PARAM_ERROR_STATUS, 2, 2 },
	{ CAS_EMMG_PARAM_ERROR_INFORMATION, 0, VAR },
};

#define E_CH CAS_ECMG_PARAM_ECM_CHANNEL_ID
#define E_ST CAS_ECMG_PARAM_ECM_STREAM_ID

static const struct msgdef ecmg_msgs[] = {
	{ CAS_ECMG_MSG_CHANNEL_SETUP, {
		M(E_CH, ALL), M(CAS_ECMG_PARAM_SUPER_CAS_ID, ALL) } },
	{ CAS_ECMG_MSG_CHANNEL_TEST, { M(E_CH, ALL) } },
	{ CAS_ECMG_MSG_CHANNEL_STATUS, {
		M(E_CH, ALL),
		M(CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, ALL),
		O(CAS_ECMG_PARAM_AC_DELAY_START, ALL),
		O(CAS_ECMG_PARAM_AC_DELAY_STOP, ALL),
		M(CAS_ECMG_PARAM_DELAY_START, ALL),
		M(CAS_ECMG_PARAM_DELAY_STOP, ALL),
		O(CAS_ECMG_PARAM_TRANSITION_DELAY_START, ALL),
		O(CAS_ECMG_PARAM_TRANSITION_DELAY_STOP, ALL),
		M(CAS_ECMG_PARAM_ECM_REP_PERIOD, ALL),
		M(CAS_ECMG_PARAM_MAX_STREAMS, ALL),
		M(CAS_ECMG_PARAM_MIN_CP_DURATION, ALL),
		M(CAS_ECMG_PARAM_LEAD_CW, ALL),
		M(CAS_ECMG_PARAM_CW_PER_MSG, ALL),
		M(CAS_ECMG_PARAM_MAX_COMP_TIME, ALL) } },
	{ CAS_ECMG_MSG_CHANNEL_CLOSE, { M(E_CH, ALL) } },
	{ CAS_ECMG_MSG_CHANNEL_ERROR, {
		M(E_CH, ALL),
		R(CAS_ECMG_PARAM_ERROR_STATUS, ALL, 1, MANY),
		R(CAS_ECMG_PARAM_ERROR_INFORMATION, ALL, 0, MANY) } },
	{ CAS_ECMG_MSG_STREAM_SETUP, {
		M(E_CH, ALL), M(E_ST, ALL),
		M(CAS_ECMG_PARAM_ECM_ID, V2P),
		M(CAS_ECMG_PARAM_NOMINAL_CP_DURATION, ALL) } },
	{ CAS_ECMG_MSG_STREAM_TEST, { M(E_CH, ALL), M(E_ST, ALL) } },
	{ CAS_ECMG_MSG_STREAM_STATUS, {
		M(E_CH, ALL), M(E_ST, ALL),
		M(CAS_ECMG_PARAM_ECM_ID, V2P),
		M(CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, ALL) } },
	{ CAS_ECMG_MSG_STREAM_CLOSE_REQUEST, { M(E_CH, ALL), M(E_ST, ALL) } },
	{ CAS_ECMG_MSG_STREAM_CLOSE_RESPONSE, { M(E_CH, ALL), M(E_ST, ALL) } },
	{ CAS_ECMG_MSG_STREAM_ERROR, {
		M(E_CH, ALL), M(E_ST, ALL),
		R(CAS_ECMG_PARAM_ERROR_STATUS, ALL, 1, MANY),
		R(CAS_ECMG_PARAM_ERROR_INFORMATION, ALL, 0, MANY) } },
	{ CAS_ECMG_MSG_CW_PROVISION, {
		M(E_CH, ALL), M(E_ST, ALL),
		M(CAS_ECMG_PARAM_CP_NUMBER, ALL),
		O(CAS_ECMG_PARAM_CW_ENCRYPTION, V2P),
		RL(CAS_ECMG_PARAM_CP_CW_COMBINATION, V1, 1, MANY, 10, 10),
		R(CAS_ECMG_PARAM_CP_CW_COMBINATION, V2P, 1, MANY),
		O(CAS_ECMG_PARAM_CP_DURATION, ALL),
		O(CAS_ECMG_PARAM_ACCESS_CRITERIA, ALL) } },
	{ CAS_ECMG_MSG_ECM_RESPONSE, {
		M(E_CH, ALL), M(E_ST, ALL),
		M(CAS_ECMG_PARAM_CP_NUMBER, ALL),
		M(CAS_ECMG_PARAM_ECM_DATAGRAM, ALL) } },
};

#define M_CL CAS_EMMG_PARAM_CLIENT_ID
#define M_CH CAS_EMMG_PARAM_DATA_CHANNEL_ID
#define M_ST CAS_EMMG_PARAM_DATA_STREAM_ID

static const struct msgdef emmg_msgs[] = {
	{ CAS_EMMG_MSG_CHANNEL_SETUP, {
		M(M_CL, ALL), M(M_CH, ALL), M(CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, ALL) } },
	{ CAS_EMMG_MSG_CHANNEL_TEST, { M(M_CL, ALL), M(M_CH, ALL) } },
	{ CAS_EMMG_MSG_CHANNEL_STATUS, {
		M(M_CL, ALL), M(M_CH, ALL), M(CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, ALL) } },
	{ CAS_EMMG_MSG_CHANNEL_CLOSE, { M(M_CL, ALL), M(M_CH, ALL) } },
	{ CAS_EMMG_MSG_CHANNEL_ERROR, {
		M(M_CL, ALL), M(M_CH, ALL),
		R(CAS_EMMG_PARAM_ERROR_STATUS, ALL, 1, MANY),
		R(CAS_EMMG_PARAM_ERROR_INFORMATION, ALL, 0, MANY) } },
	{ CAS_EMMG_MSG_STREAM_SETUP, {
		M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL),
		M(CAS_EMMG_PARAM_DATA_ID, V2P),
		M(CAS_EMMG_PARAM_DATA_TYPE, ALL) } },
	{ CAS_EMMG_MSG_STREAM_TEST, { M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL) } },
	{ CAS_EMMG_MSG_STREAM_STATUS, {
		M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL),
		M(CAS_EMMG_PARAM_DATA_ID, V2P),
		M(CAS_EMMG_PARAM_DATA_TYPE, ALL) } },
	{ CAS_EMMG_MSG_STREAM_CLOSE_REQUEST, { M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL) } },
	{ CAS_EMMG_MSG_STREAM_CLOSE_RESPONSE, { M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL) } },
	{ CAS_EMMG_MSG_STREAM_ERROR, {
		M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL),
		R(CAS_EMMG_PARAM_ERROR_STATUS, ALL, 1, MANY),
		R(CAS_EMMG_PARAM_ERROR_INFORMATION, ALL, 0, MANY) } },
	{ CAS_EMMG_MSG_STREAM_BW_REQUEST, {
		M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL),
		O(CAS_EMMG_PARAM_BANDWIDTH, ALL) } },
	{ CAS_EMMG_MSG_STREAM_BW_ALLOCATION, {
		M(M_CL, ALL), M(M_CH, ALL), M(M_ST, ALL),
		O(CAS_EMMG_PARAM_BANDWIDTH, ALL) } },
	/* v1 addresses data by channel/stream; v2+ by client_id + data_id
	 * (which is what routes UDP data), channel/stream optional. */
	{ CAS_EMMG_MSG_DATA_PROVISION, {
		M(M_CL, ALL),
		M(M_CH, V1), O(M_CH, V2P),
		M(M_ST, V1), O(M_ST, V2P),
		M(CAS_EMMG_PARAM_DATA_ID, V2P),
		R(CAS_EMMG_PARAM_DATAGRAM, ALL, 1, MANY) } },
};

#define N(t) (sizeof(t) / sizeof((t)[0]))

static const struct msgdef *find_msgdef(enum cas_sc_iface iface, uint16_t type)
{
	const struct msgdef *t;
	size_t n;
	if (iface == CAS_SC_ECMG) {
		t = ecmg_msgs;
		n = N(ecmg_msgs);
	} else if (iface == CAS_SC_EMMG) {
		t = emmg_msgs;
		n = N(emmg_msgs);
	} else {
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

static const struct paramdef *find_paramdef(enum cas_sc_iface iface, uint16_t type)
{
	const struct paramdef *t = iface == CAS_SC_ECMG ? ecmg_params : emmg_params;
	size_t n = iface == CAS_SC_ECMG ? N(ecmg_params) : N(emmg_params);
	for (size_t i = 0; i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

int cas_tlv_msg_known(enum cas_sc_iface iface, uint16_t msg_type)
{
	return find_msgdef(iface, msg_type) != NULL;
}

/* ------------------------------------------------------------------------
 * Parse
 * ------------------------------------------------------------------------ */

static int fail(struct cas_tlv_error *err, uint16_t status, size_t info)
{
	err->status = status;
	err->info = info > 0xFFFF ? 0xFFFF : (uint16_t)info;
	return -1;
}

int cas_tlv_parse(struct cas_tlv_msg *m, struct cas_buf *in, struct cas_tlv_error *err)
{
	size_t avail = cas_buf_left(in);
	const uint8_t *start = in->data + in->pos;

	m->data = start;
	m->size = 0;
	m->nparams = 0;
	err->status = 0;
	err->info = 0;
	if (cas_buf_error(in) || avail < CAS_SC_HEADER_LEN)
		return fail(err, CAS_SC_ERR_INVALID_MESSAGE, avail == 0 ? 0 : 1);
	m->version = cas_buf_get_u8(in);
	m->type = cas_buf_get_u16(in);
	m->length = cas_buf_get_u16(in);

	/* The envelope (type, length, body) is what TSDuck reports at offset
	 * 1 when the body is shorter than message_length. */
	struct cas_buf body;
	if (cas_buf_get_sub(in, m->length, &body) < 0)
		return fail(err, CAS_SC_ERR_INVALID_MESSAGE, 1);
	m->size = CAS_SC_HEADER_LEN + (size_t)m->length;

	while (cas_buf_left(&body) > 0) {
		size_t off = CAS_SC_HEADER_LEN + body.pos;
		if (cas_buf_left(&body) < CAS_SC_PARAM_HEADER_LEN)
			return fail(err, CAS_SC_ERR_INVALID_MESSAGE, off);
		uint16_t type = cas_buf_get_u16(&body);
		uint16_t len = cas_buf_get_u16(&body);
		const uint8_t *value = cas_buf_get_ptr(&body, len);
		if (value == NULL)
			return fail(err, CAS_SC_ERR_INVALID_MESSAGE, off);
		if (m->nparams == CAS_TLV_MAX_PARAMS)
			return fail(err, CAS_SC_ERR_MESSAGE_TOO_LONG, off);
		struct cas_tlv_param *p = &m->params[m->nparams++];
		p->value = value;
		p->offset = (uint32_t)off;
		p->type = type;
		p->len = len;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Validate
 * ------------------------------------------------------------------------ */

static int rule_applies(const struct rule *r, uint8_t version)
{
	return r->type != 0 && version >= r->vmin && version <= r->vmax;
}

int cas_tlv_validate(const struct cas_tlv_msg *m, enum cas_sc_iface iface,
		     unsigned versions, struct cas_tlv_error *err)
{
	err->status = 0;
	err->info = 0;
	if (m->version >= 32 || (versions & CAS_TLV_VERSION(m->version)) == 0)
		return fail(err, CAS_SC_ERR_UNSUPPORTED_VERSION, 0);
	const struct msgdef *def = find_msgdef(iface, m->type);
	if (def == NULL)
		return fail(err, CAS_SC_ERR_UNKNOWN_MESSAGE_TYPE, 1);

	unsigned count[MAX_RULES] = { 0 };
	for (unsigned i = 0; i < m->nparams; i++) {
		const struct cas_tlv_param *p = &m->params[i];
		for (unsigned k = 0; k < MAX_RULES; k++) {
			const struct rule *r = &def->rules[k];
			if (r->type != p->type || !rule_applies(r, m->version))
				continue;
			uint16_t lo, hi;
			if (r->has_len) {
				lo = r->len_min;
				hi = r->len_max;
			} else {
				const struct paramdef *pd = find_paramdef(iface, p->type);
				lo = pd != NULL ? pd->min_len : 0;
				hi = pd != NULL ? pd->max_len : VAR;
			}
			/* TSDuck reports the first bad TLV in wire order,
			 * before looking at occurrence counts. */
			if (p->len < lo || p->len > hi)
				return fail(err, cas_simulcrypt_err_param_length(iface), p->offset);
			count[k]++;
			break;
		}
		/* No rule: unknown type, or not part of this message in this
		 * version: ignored (TS 103 197, be lenient on input). */
	}
	for (unsigned k = 0; k < MAX_RULES; k++) {
		const struct rule *r = &def->rules[k];
		if (!rule_applies(r, m->version))
			continue;
		if (count[k] < r->min || count[k] > r->max)
			return fail(err, cas_simulcrypt_err_missing_param(iface), r->type);
	}
	return 0;
}

int cas_tlv_decode(struct cas_tlv_msg *m, struct cas_buf *in, enum cas_sc_iface iface,
		   unsigned versions, struct cas_tlv_error *err)
{
	if (cas_tlv_parse(m, in, err) < 0)
		return -1;
	return cas_tlv_validate(m, iface, versions, err);
}

/* ------------------------------------------------------------------------
 * Access
 * ------------------------------------------------------------------------ */

const struct cas_tlv_param *cas_tlv_next(const struct cas_tlv_msg *m, uint16_t type,
					 const struct cas_tlv_param *prev)
{
	unsigned i = prev == NULL ? 0 : (unsigned)(prev - m->params) + 1;
	for (; i < m->nparams; i++)
		if (m->params[i].type == type)
			return &m->params[i];
	return NULL;
}

const struct cas_tlv_param *cas_tlv_find(const struct cas_tlv_msg *m, uint16_t type)
{
	return cas_tlv_next(m, type, NULL);
}

unsigned cas_tlv_count(const struct cas_tlv_msg *m, uint16_t type)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->nparams; i++)
		if (m->params[i].type == type)
			n++;
	return n;
}

int cas_tlv_get_u8(const struct cas_tlv_msg *m, uint16_t type, uint8_t *out)
{
	const struct cas_tlv_param *p = cas_tlv_find(m, type);
	if (p == NULL || p->len != 1)
		return -1;
	*out = p->value[0];
	return 0;
}

int cas_tlv_get_u16(const struct cas_tlv_msg *m, uint16_t type, uint16_t *out)
{
	const struct cas_tlv_param *p = cas_tlv_find(m, type);
	if (p == NULL || p->len != 2)
		return -1;
	*out = cas_be16(p->value);
	return 0;
}

int cas_tlv_get_u32(const struct cas_tlv_msg *m, uint16_t type, uint32_t *out)
{
	const struct cas_tlv_param *p = cas_tlv_find(m, type);
	if (p == NULL || p->len != 4)
		return -1;
	*out = cas_be32(p->value);
	return 0;
}

/* ------------------------------------------------------------------------
 * Build
 * ------------------------------------------------------------------------ */

size_t cas_tlv_begin(struct cas_wbuf *w, uint8_t version, uint16_t msg_type)
{
	size_t at = w->len;
	cas_wbuf_put_u8(w, version);
	cas_wbuf_put_u16(w, msg_type);
	cas_wbuf_put_u16(w, 0);		/* message_length, patched by cas_tlv_end */
	return cas_wbuf_error(w) ? (size_t)-1 : at;
}

void cas_tlv_put_u8(struct cas_wbuf *w, uint16_t type, uint8_t v)
{
	cas_wbuf_put_u16(w, type);
	cas_wbuf_put_u16(w, 1);
	cas_wbuf_put_u8(w, v);
}

void cas_tlv_put_u16(struct cas_wbuf *w, uint16_t type, uint16_t v)
{
	cas_wbuf_put_u16(w, type);
	cas_wbuf_put_u16(w, 2);
	cas_wbuf_put_u16(w, v);
}

void cas_tlv_put_u32(struct cas_wbuf *w, uint16_t type, uint32_t v)
{
	cas_wbuf_put_u16(w, type);
	cas_wbuf_put_u16(w, 4);
	cas_wbuf_put_u32(w, v);
}

void cas_tlv_put_bytes(struct cas_wbuf *w, uint16_t type, const void *p, size_t n)
{
	/* Strict on output: TSDuck rejects any error_information that is not
	 * exactly 2 bytes (simulcrypt.md §7.2). */
	if (n > CAS_SC_MAX_BODY || (type == CAS_ECMG_PARAM_ERROR_INFORMATION && n != 2)) {
		w->err = 1;
		return;
	}
	cas_wbuf_put_u16(w, type);
	cas_wbuf_put_u16(w, (uint16_t)n);
	cas_wbuf_put_bytes(w, p, n);
}

void cas_tlv_put_error(struct cas_wbuf *w, uint16_t status, uint16_t info)
{
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ERROR_STATUS, status);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ERROR_INFORMATION, info);
}

int cas_tlv_end(struct cas_wbuf *w, size_t start)
{
	if (cas_wbuf_error(w) || start > w->len || w->len - start < CAS_SC_HEADER_LEN)
		goto bad;
	size_t body = w->len - start - CAS_SC_HEADER_LEN;
	if (body > CAS_SC_MAX_BODY)
		goto bad;
	cas_wbuf_set_u16(w, start + 3, (uint16_t)body);
	return cas_wbuf_error(w) ? -1 : 0;
bad:
	w->err = 1;
	return -1;
}

/* ------------------------------------------------------------------------
 * Framer
 * ------------------------------------------------------------------------ */

void cas_tlv_framer_init(struct cas_tlv_framer *f)
{
	f->in = NULL;
	f->in_len = 0;
	f->have = 0;
	f->max_length = CAS_SC_MAX_BODY;
	f->broken = 0;
}

void cas_tlv_framer_set_max(struct cas_tlv_framer *f, size_t max_length)
{
	f->max_length = max_length > CAS_SC_MAX_BODY ? CAS_SC_MAX_BODY : max_length;
}

int cas_tlv_framer_feed(struct cas_tlv_framer *f, const void *data, size_t len)
{
	if (f->broken || f->in_len != 0)
		return -1;
	f->in = data;
	f->in_len = data != NULL ? len : 0;
	return 0;
}

/* Moves up to `want` bytes of the chunk into buf. */
static void take(struct cas_tlv_framer *f, size_t want)
{
	size_t n = want < f->in_len ? want : f->in_len;
	memcpy(f->buf + f->have, f->in, n);
	f->have += n;
	f->in += n;
	f->in_len -= n;
}

int cas_tlv_framer_next(struct cas_tlv_framer *f, const uint8_t **msg, size_t *len)
{
	if (f->broken)
		return -1;
	if (f->have == 0 && f->in_len >= CAS_SC_HEADER_LEN) {
		size_t body = cas_be16(f->in + 3);
		if (body > f->max_length)
			goto too_long;
		if (f->in_len >= CAS_SC_HEADER_LEN + body) {
			/* the common case: a whole message inside the chunk */
			*msg = f->in;
			*len = CAS_SC_HEADER_LEN + body;
			f->in += *len;
			f->in_len -= *len;
			return 1;
		}
	}
	if (f->in_len == 0)
		return 0;
	if (f->have < CAS_SC_HEADER_LEN) {
		take(f, CAS_SC_HEADER_LEN - f->have);
		if (f->have < CAS_SC_HEADER_LEN)
			return 0;
	}
	size_t total = CAS_SC_HEADER_LEN + (size_t)cas_be16(f->buf + 3);
	if (total - CAS_SC_HEADER_LEN > f->max_length)
		goto too_long;
	take(f, total - f->have);
	if (f->have < total)
		return 0;
	*msg = f->buf;
	*len = total;
	f->have = 0;
	return 1;
too_long:
	f->broken = 1;
	return -1;
}

size_t cas_tlv_framer_pending(const struct cas_tlv_framer *f)
{
	return f->have + f->in_len;
}
