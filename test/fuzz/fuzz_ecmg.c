/* Fuzz target: the ECMG<=>SCS engine (libcas/ecmg.c) fed a TCP byte stream
 * from an SCS, cut by the TLV framer as ecmgd does.  The first input byte
 * picks the settings (TS packets, small limits).  Checked after every call:
 * the output never overflows, every reply is a valid ECMG message in the
 * channel's version with 2-byte error_information, an error message is
 * never answered, and the server's channel/stream counts match the
 * connection.  Any inconsistency aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ecmg.h"
#include "profile.h"
#include "simulcrypt.h"
#include "tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cas_tlv_framer framer;
static uint8_t out[1 << 16];

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_replies(const struct cas_ecmg_conn *c, const uint8_t *p, size_t n)
{
	struct cas_buf b;
	cas_buf_init(&b, p, n);
	while (cas_buf_left(&b) > 0) {
		struct cas_tlv_msg m;
		struct cas_tlv_error e;
		check(cas_tlv_decode(&m, &b, CAS_SC_ECMG,
				     CAS_TLV_VERSION(1) | CAS_TLV_VERSION(2) | CAS_TLV_VERSION(3) |
				     CAS_TLV_VERSION(4) | CAS_TLV_VERSION(5), &e) == 0);
		if (c->version != 0)
			check(m.version == c->version);
		for (unsigned i = 0; i < m.nparams; i++)
			if (m.params[i].type == CAS_ECMG_PARAM_ERROR_INFORMATION)
				check(m.params[i].len == 2);
	}
}

static void check_counts(const struct cas_ecmg *srv, const struct cas_ecmg_conn *c)
{
	check(srv->channels == (unsigned)(c->has_channel != 0));
	check(srv->streams == c->nstreams);
	check(c->has_channel || c->nstreams == 0);
	for (size_t i = 1; i < c->nstreams; i++)
		check(c->streams[i - 1].id < c->streams[i].id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 0x7E, 0x33, 0xA2, 0x78, 0xB3, 0x61, 0x7A, 0x30, 0x9B, 0x18, 0x22,
					 0x2F, 0x37, 0x2A, 0x23, 0x19, 0x07, 0xAC, 0x67, 0xE0, 0x8A, 0x5F,
					 0x12, 0xC3, 0xF7, 0x47, 0x69, 0xDE, 0x83, 0x74, 0xC7, 0xAE };
	if (size < 1)
		return 0;
	struct cas_ecmg srv;
	memset(&srv, 0, sizeof srv);
	srv.p.super_cas_id = 0x0B000000;
	srv.p.section_tspkt_flag = data[0] & 1;
	srv.p.delay_start = 200;
	srv.p.delay_stop = 200;
	srv.p.ecm_rep_period = 100;
	srv.p.max_streams = (data[0] & 2) ? 3 : 1000;
	srv.p.min_cp_duration = 10;
	srv.p.max_comp_time = 100;
	srv.p.max_channels = 1;
	srv.p.max_total_streams = (data[0] & 4) ? 2 : 100000;
	srv.profile = cas_profile_find("tvcas3");
	check(srv.profile != NULL && srv.profile->ecm_key_new(key, sizeof key, &srv.key) == 0);
	/* chunk size for the framer: whole input, or data[0] >> 3 + 1 bytes */
	size_t chunk = (data[0] >> 3) == 0 ? size : (size_t)(data[0] >> 3);
	data++;
	size--;

	struct cas_ecmg_conn c;
	cas_ecmg_conn_init(&c, &srv, "fuzz");
	cas_tlv_framer_init(&framer);
	struct cas_wbuf w;
	size_t room = cas_ecmg_max_reply(&srv);
	int closed = 0;
	for (size_t off = 0; off < size && !closed; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		check(cas_tlv_framer_feed(&framer, data + off, n) == 0);
		const uint8_t *msg;
		size_t len;
		int r;
		while (!closed && (r = cas_tlv_framer_next(&framer, &msg, &len)) > 0) {
			cas_wbuf_init(&w, out, room);
			int is_err = len >= 3 && (cas_be16(msg + 1) == CAS_ECMG_MSG_CHANNEL_ERROR ||
						  cas_be16(msg + 1) == CAS_ECMG_MSG_STREAM_ERROR);
			closed = cas_ecmg_handle(&c, msg, len, 1700000000, &w) == CAS_ECMG_CLOSE;
			check(!cas_wbuf_error(&w));
			if (is_err)
				check(w.len == 0);
			check_replies(&c, w.data, w.len);
			check_counts(&srv, &c);
		}
		if (closed)
			break;
		check(r == 0);
		size_t pending = cas_tlv_framer_pending(&framer);
		if (pending > 0) {
			cas_wbuf_init(&w, out, room);
			closed = cas_ecmg_check_head(&c, framer.buf, framer.have, &w) == CAS_ECMG_CLOSE;
			check(!cas_wbuf_error(&w));
			check_replies(&c, w.data, w.len);
		}
	}
	cas_wbuf_init(&w, out, room);
	if (cas_ecmg_probe(&c, &w) == 0)
		check_replies(&c, w.data, w.len);
	cas_ecmg_conn_free(&c);
	check(srv.channels == 0 && srv.streams == 0);
	srv.profile->ecm_key_free(srv.key);
	return 0;
}
