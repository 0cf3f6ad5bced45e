/* Unit tests: the ECMG<=>SCS protocol engine (libcas/ecmg.c), message by
 * message, without sockets.  Golden bytes: reference/simulcrypt.md §1.2
 * (channel_status, stream_status) and reference/tvcas3-vectors.json
 * ecmg_scs (TVCAS 3's own CW_provision requests and ECM_response
 * envelopes); ECMs are checked by decrypting them with cas_tvcas3_ecm_parse
 * (verified against the reference vectors in test_tvcas3), never against
 * bytes produced by the engine.  A stub profile shows that the engine
 * reaches the ECM only through profile.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "ecmg.h"
#include "hex.h"
#include "simulcrypt.h"
#include "tlv.h"
#include "ts.h"
#include "tvcas3.h"

/* The default TVCAS 3 ecm_key (tvcas3-vectors.json bin[0].inputs.ecm_key) */
static const char KEY[] = "7E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE";

/* tvcas3-vectors.json ecmg_scs[*].request_hex */
static const char REQ_CHANNEL_SETUP[] = "020001000E000E00020001000100040B000000";
static const char REQ_STREAM_SETUP[] = "0201010018000E00020001000F00020001001900020001001000020064";
static const char REQ_CW16[] = "0202010036000E00020001000F000200010012000200100014000A0010E0E1E2E3E4E5E6E7"
			       "0014000A0011C8C9CACBCCCDCECF000D000400000003";
static const char REQ_CW17[] = "0202010036000E00020001000F000200010012000200110014000A0011C0C1C2C3C4C5C6C7"
			       "0014000A0012E8E9EAEBECEDEEEF000D000400000003";
/* ecmg_scs[*].reply_hex up to the ciphertext: envelope + section header */
static const char ENV_CW16[] = "020202004D000E00020001000F0002000100120002001000150037807034703264 21";
static const char ENV_CW17[] = "020202004D000E00020001000F0002000100120002001100150037817034703264 21";
/* simulcrypt.md §1.2, the worked examples */
static const char STATUS_EXAMPLE[] =
	"02 0003 0039 000E 0002 0001 0002 0001 01 0003 0002 00C8 0004 0002 00C8 0007 0002 0064"
	" 0008 0002 0000 0009 0002 000A 000A 0001 01 000B 0001 02 000C 0002 0064";
static const char STREAM_STATUS_EXAMPLE[] = "02 0103 0017 000E 0002 0001 000F 0002 0001 0019 0002 0001 0011 0001 00";

static size_t unhex(const char *text, uint8_t *out, size_t cap)
{
	char clean[4096];
	size_t n = 0;
	for (const char *p = text; *p; p++)
		if (*p != ' ')
			clean[n++] = *p;
	assert_true(n / 2 <= cap);
	assert_int_equal(cas_hex_decode(clean, n, out, n / 2), 0);
	return n / 2;
}

struct fx {
	struct cas_ecmg srv;
	struct cas_ecmg_conn c;
	struct cas_tvcas3_ecm_key key;
	struct cas_wbuf out;
	uint8_t buf[1 << 16];
};

/* The parameters of the §1.2 example: TS packets, delays 200, ... */
static void example_params(struct cas_ecmg_params *p)
{
	memset(p, 0, sizeof *p);
	p->super_cas_id = 0x0B000000;
	p->section_tspkt_flag = 1;
	p->delay_start = 200;
	p->delay_stop = 200;
	p->ecm_rep_period = 100;
	p->max_streams = 0;
	p->min_cp_duration = 10;
	p->max_comp_time = 100;
	p->ac_transfer_mode = 0;
	p->max_channels = 10;
	p->max_total_streams = 100;
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	uint8_t k[32];
	unhex(KEY, k, sizeof k);
	example_params(&f->srv.p);
	f->srv.profile = cas_profile_find("tvcas3");
	assert_non_null(f->srv.profile);
	assert_int_equal(f->srv.profile->ecm_key_new(k, 32, &f->srv.key), 0);
	cas_tvcas3_ecm_key_init(&f->key, k);
	cas_ecmg_conn_init(&f->c, &f->srv, "192.0.2.7:40000");
	cas_wbuf_init(&f->out, f->buf, sizeof f->buf);
	return f;
}

static void fx_free(struct fx *f)
{
	cas_ecmg_conn_free(&f->c);
	assert_int_equal(f->srv.channels, 0);
	assert_int_equal(f->srv.streams, 0);
	if (f->srv.profile != NULL && f->srv.key != NULL)
		f->srv.profile->ecm_key_free(f->srv.key);
	free(f);
}

/* Sends one message (hex, its message_length recomputed); returns the
 * engine's verdict.  The replies are in f->out (cleared before). */
static int send_hex(struct fx *f, const char *hex, int64_t now)
{
	uint8_t m[4096];
	size_t n = unhex(hex, m, sizeof m);
	assert_true(n >= 5);
	cas_put_be16(m + 3, (uint16_t)(n - 5));
	f->out.len = 0;
	int r = cas_ecmg_handle(&f->c, m, n, now, &f->out);
	assert_false(cas_wbuf_error(&f->out));
	return r;
}

static void expect_out(struct fx *f, const char *hex)
{
	uint8_t want[4096];
	size_t n = unhex(hex, want, sizeof want);
	if (f->out.len != n || memcmp(f->out.data, want, n) != 0) {
		char got[8192];
		cas_hex_encode(f->out.data, f->out.len, got);
		print_error("got  %s\n", got);
	}
	assert_int_equal(f->out.len, n);
	assert_memory_equal(f->out.data, want, n);
}

/* Builds an error reply independently: channel_error or stream_error. */
static void expect_error(struct fx *f, uint8_t v, uint16_t ch, int st, uint16_t status, uint16_t info)
{
	char hex[128];
	if (st < 0)
		snprintf(hex, sizeof hex, "%02X0005 0012 000E0002%04X 70000002%04X 70010002%04X", v, ch, status, info);
	else
		snprintf(hex, sizeof hex, "%02X0106 0018 000E0002%04X 000F0002%04X 70000002%04X 70010002%04X", v, ch,
			 st, status, info);
	expect_out(f, hex);
}

static void setup_v2(struct fx *f)
{
	assert_int_equal(send_hex(f, REQ_CHANNEL_SETUP, 0), CAS_ECMG_GO_ON);
	assert_int_equal(send_hex(f, REQ_STREAM_SETUP, 0), CAS_ECMG_GO_ON);
}

/* ---- tests ---- */

static void golden_setup(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	assert_int_equal(send_hex(f, REQ_CHANNEL_SETUP, 0), CAS_ECMG_GO_ON);
	expect_out(f, STATUS_EXAMPLE);
	assert_int_equal(f->srv.channels, 1);
	assert_int_equal(send_hex(f, REQ_STREAM_SETUP, 0), CAS_ECMG_GO_ON);
	expect_out(f, STREAM_STATUS_EXAMPLE);
	assert_int_equal(f->srv.streams, 1);
	/* channel_test and stream_test get the same answers again */
	assert_int_equal(send_hex(f, "020002 0006 000E00020001", 0), CAS_ECMG_GO_ON);
	expect_out(f, STATUS_EXAMPLE);
	assert_int_equal(send_hex(f, "020102 000C 000E00020001 000F00020001", 0), CAS_ECMG_GO_ON);
	expect_out(f, STREAM_STATUS_EXAMPLE);
	fx_free(f);
}

/* The optional delays go where channel_status lists them, and only when
 * configured. */
static void optional_delays(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	f->srv.p.has_ac_delay_start = f->srv.p.has_ac_delay_stop = 1;
	f->srv.p.ac_delay_start = 200;
	f->srv.p.ac_delay_stop = -200;
	f->srv.p.has_transition_delay_start = 1;
	f->srv.p.transition_delay_start = -500;
	f->srv.p.section_tspkt_flag = 0;
	f->srv.p.max_streams = 1000;
	assert_int_equal(send_hex(f, "010001000E000E00020009000100040B000000", 0), CAS_ECMG_GO_ON);
	expect_out(f, "01 0003 004B 000E00020009 0002000100 0016000200C8 00170002FF38 0003000200C8 0004000200C8"
		      " 00050002FE0C 0007000200 64 0008000203E8 00090002000A 000A000101 000B000102 000C00020064");
	fx_free(f);
}

/* Decrypts the ECM of an ECM_response in f->out (independent decoder). */
static void check_ecm(struct fx *f, const char *env, uint32_t now, const char *cw_odd,
		      const char *cw_even, uint32_t ac)
{
	uint8_t e[64];
	size_t n = unhex(env, e, sizeof e);
	assert_int_equal(f->out.len, 5 + 6 + 6 + 6 + 4 + CAS_TVCAS3_ECM_LEN);
	assert_memory_equal(f->out.data, e, n);
	struct cas_tvcas3_ecm ecm;
	assert_int_equal(cas_tvcas3_ecm_parse(&f->key, f->out.data + 27, CAS_TVCAS3_ECM_LEN, &ecm),
			 CAS_TVCAS3_OK);
	uint8_t odd[8], even[8];
	unhex(cw_odd, odd, 8);
	unhex(cw_even, even, 8);
	assert_memory_equal(ecm.cw_odd, odd, 8);
	assert_memory_equal(ecm.cw_even, even, 8);
	assert_int_equal(ecm.ac, ac);
	assert_int_equal(ecm.time, now);
}

static void golden_cw_provision(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	f->srv.p.section_tspkt_flag = 0;	/* TVCAS 3 sends sections */
	setup_v2(f);
	/* CP 16: odd CW (of CP 17) at 4, even (CP 16) at 12, table 0x80 */
	assert_int_equal(send_hex(f, REQ_CW16, 1700000000), CAS_ECMG_GO_ON);
	check_ecm(f, ENV_CW16, 1700000000, "C8C9CACBCCCDCECF", "E0E1E2E3E4E5E6E7", 3);
	/* CP 17: table 0x81 with the second key half */
	assert_int_equal(send_hex(f, REQ_CW17, 1700000010), CAS_ECMG_GO_ON);
	check_ecm(f, ENV_CW17, 1700000010, "C0C1C2C3C4C5C6C7", "E8E9EAEBECEDEEEF", 3);
	assert_int_equal(f->c.cw_provisions, 2);
	assert_int_equal(f->c.ecms, 2);
	assert_int_equal(f->c.errors, 0);
	/* Without access_criteria: the stream's last value (3); the CWs in
	 * reverse order; one more CW than needed; CP wrap 65535 -> 0. */
	assert_int_equal(send_hex(f, "020201 0036 000E00020001 000F00020001 00120002FFFF"
				     " 0014000A0000 1111111111111111 0014000A0001 2222222222222222"
				     " 0014000A FFFF 3333333333333333", 1700000020), CAS_ECMG_GO_ON);
	check_ecm(f, "020202004D000E00020001000F000200010012 0002 FFFF 00150037 8170347032 6421",
		  1700000020, "3333333333333333", "1111111111111111", 3);
	/* A new access_criteria replaces it; a short one reads as 0. */
	assert_int_equal(send_hex(f, "020201 0034 000E00020001 000F00020001 001200020002 0014000A0002"
				     " 1111111111111111 0014000A0003 2222222222222222 000D000200FF", 5), CAS_ECMG_GO_ON);
	check_ecm(f, "020202004D000E00020001000F000200010012 0002 0002 00150037 8070347032 6421",
		  5, "2222222222222222", "1111111111111111", 0);
	fx_free(f);
}

static void ts_packets(void **state)
{
	(void)state;
	struct fx *f = fx_new();	/* flag 1 */
	setup_v2(f);
	assert_int_equal(send_hex(f, REQ_CW17, 1700000010), CAS_ECMG_GO_ON);
	/* ECM_response with a 188-byte datagram */
	assert_int_equal(f->out.len, 5 + 6 + 6 + 6 + 4 + 188);
	const uint8_t *p = f->out.data + 27;
	assert_int_equal(cas_be16(f->out.data + 25), 188);
	/* sync, payload_unit_start, PID 0x1FFF, payload only, pointer 0 */
	assert_int_equal(p[0], 0x47);
	assert_int_equal(p[1], 0x5F);
	assert_int_equal(p[2], 0xFF);
	assert_int_equal(p[3] & 0xF0, 0x10);
	assert_int_equal(p[4], 0);
	assert_int_equal(p[5], 0x81);
	for (size_t i = 5 + CAS_TVCAS3_ECM_LEN; i < 188; i++)
		assert_int_equal(p[i], 0xFF);
	struct cas_tvcas3_ecm ecm;
	assert_int_equal(cas_tvcas3_ecm_parse(&f->key, p + 5, CAS_TVCAS3_ECM_LEN, &ecm), CAS_TVCAS3_OK);
	assert_int_equal(ecm.time, 1700000010);
	/* the next packet of this stream continues the continuity counter */
	uint8_t cc = p[3] & 0x0F;
	assert_int_equal(send_hex(f, REQ_CW16, 1700000020), CAS_ECMG_GO_ON);
	assert_int_equal(f->out.data[27 + 3] & 0x0F, (cc + 1) & 0x0F);
	fx_free(f);
}

static void version_1(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	assert_int_equal(send_hex(f, "010001000E000E00020001000100040B000000", 0), CAS_ECMG_GO_ON);
	assert_int_equal(f->out.data[0], 1);
	/* no ECM_id in v1: stream_status without it */
	assert_int_equal(send_hex(f, "010101 0012 000E00020001 000F00020004 001000020064", 0), CAS_ECMG_GO_ON);
	expect_out(f, "01 0103 0011 000E00020001 000F00020004 0011000100");
	/* a v2 message on the v1 channel: 0x0002, answered in v1 */
	assert_int_equal(send_hex(f, "020002 0006 000E00020001", 0), CAS_ECMG_GO_ON);
	expect_error(f, 1, 1, -1, CAS_ECMG_ERR_UNSUPPORTED_VERSION, 0);
	fx_free(f);
}

static void errors(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	/* before channel_setup */
	assert_int_equal(send_hex(f, REQ_STREAM_SETUP, 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, 5);
	assert_int_equal(send_hex(f, "020001000E000E000200010001000400000001", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_UNKNOWN_SUPER_CAS_ID, 11);
	setup_v2(f);
	/* CW_provision: missing CW(n+1) */
	assert_int_equal(send_hex(f, "020201 0022 000E00020001 000F00020001 001200020010 0014000A0010E0E1E2E3E4E5E6E7", 9),
			 CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, 1, CAS_ECMG_ERR_NOT_ENOUGH_CW, CAS_ECMG_PARAM_CP_CW_COMBINATION);
	/* access_criteria longer than ecmgd keeps: 0x0011 at its offset */
	{
		uint8_t m[512], ac[CAS_ECMG_MAX_AC + 1] = { 0 }, comb[10] = { 0 };
		struct cas_wbuf w;
		cas_wbuf_init(&w, m, sizeof m);
		size_t at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CW_PROVISION);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_NUMBER, 0);
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
		comb[1] = 1;
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA, ac, sizeof ac);
		assert_int_equal(cas_tlv_end(&w, at), 0);
		f->out.len = 0;
		assert_int_equal(cas_ecmg_handle(&f->c, m, w.len, 0, &f->out), CAS_ECMG_GO_ON);
		expect_error(f, 2, 1, 1, CAS_ECMG_ERR_INVALID_PARAM_VALUE, 5 + 3 * 6 + 2 * 14);
		/* 256 bytes are kept */
		cas_wbuf_init(&w, m, sizeof m);
		at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CW_PROVISION);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_NUMBER, 0);
		comb[1] = 0;
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
		comb[1] = 1;
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA, ac, CAS_ECMG_MAX_AC);
		assert_int_equal(cas_tlv_end(&w, at), 0);
		f->out.len = 0;
		assert_int_equal(cas_ecmg_handle(&f->c, m, w.len, 0, &f->out), CAS_ECMG_GO_ON);
		assert_int_equal(cas_be16(f->out.data + 1), CAS_ECMG_MSG_ECM_RESPONSE);
		assert_int_equal(f->c.streams[0].ac_len, CAS_ECMG_MAX_AC);
	}
	/* unknown stream: channel_error */
	assert_int_equal(send_hex(f, "020102 000C 000E00020001 000F00020002", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_UNKNOWN_ECM_STREAM_ID, 11);
	/* nominal_CP_duration below min_CP_duration */
	assert_int_equal(send_hex(f, "020101 0018 000E00020001 000F00020002 001900020002 001000020009", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_INVALID_PARAM_VALUE, 23);
	/* the limits */
	f->srv.p.max_streams = 1;
	assert_int_equal(send_hex(f, "020101 0018 000E00020001 000F00020002 001900020002 001000020064", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_TOO_MANY_STREAMS_CHANNEL, 11);
	f->srv.p.max_streams = 0xFFFF;
	f->srv.p.max_total_streams = 1;
	assert_int_equal(send_hex(f, "020101 0018 000E00020001 000F00020002 001900020002 001000020064", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_TOO_MANY_STREAMS_ECMG, 11);
	assert_int_equal(f->c.errors, 8);
	/* error messages from the SCS: counted, never answered */
	assert_int_equal(send_hex(f, "020005 000C 000E00020001 700000027000", 0), CAS_ECMG_GO_ON);
	assert_int_equal(f->out.len, 0);
	assert_int_equal(send_hex(f, "030106 000C 000E00020001 000F00020001", 0), CAS_ECMG_GO_ON);
	assert_int_equal(f->out.len, 0);
	/* channel_close: no reply, streams gone */
	assert_int_equal(send_hex(f, "020004 0006 000E00020001", 0), CAS_ECMG_GO_ON);
	assert_int_equal(f->out.len, 0);
	assert_int_equal(f->srv.channels, 0);
	assert_int_equal(f->srv.streams, 0);
	fx_free(f);
}

static void invalid_run(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	setup_v2(f);
	/* two undecodable messages, a good one, then three: closed */
	assert_int_equal(send_hex(f, "030002 0006 000E00020001", 0), CAS_ECMG_GO_ON);
	assert_int_equal(send_hex(f, "020150 0006 000E00020001", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_UNKNOWN_MESSAGE_TYPE, 1);
	assert_int_equal(send_hex(f, "020002 0006 000E00020001", 0), CAS_ECMG_GO_ON);
	assert_int_equal(send_hex(f, "020002 0006 000E00040001", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_INVALID_MESSAGE, 5);
	assert_int_equal(send_hex(f, "020002 0007 000E0003000100", 0), CAS_ECMG_GO_ON);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_INCONSISTENT_PARAM_LENGTH, 5);
	assert_int_equal(send_hex(f, "020002 0000", 0), CAS_ECMG_CLOSE);
	expect_error(f, 2, 1, -1, CAS_ECMG_ERR_MISSING_PARAM, CAS_ECMG_PARAM_ECM_CHANNEL_ID);
	fx_free(f);
}

static void garbage(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	f->out.len = 0;
	/* one byte is enough to know "G" is no protocol_version */
	assert_int_equal(cas_ecmg_check_head(&f->c, (const uint8_t *)"G", 1, &f->out), CAS_ECMG_CLOSE);
	expect_error(f, 2, 0, -1, CAS_ECMG_ERR_INVALID_MESSAGE, 0);
	f->out.len = 0;
	assert_int_equal(cas_ecmg_check_head(&f->c, (const uint8_t *)"\x02\x02\x01", 3, &f->out), CAS_ECMG_GO_ON);
	assert_int_equal(cas_ecmg_check_head(&f->c, (const uint8_t *)"\x02\x02\x01\x40\x01", 5, &f->out),
			 CAS_ECMG_CLOSE);
	expect_error(f, 2, 0, -1, CAS_ECMG_ERR_MESSAGE_TOO_LONG, 3);
	f->out.len = 0;
	assert_int_equal(cas_ecmg_check_head(&f->c, (const uint8_t *)"\x02\x02\x01\x40\x00", 5, &f->out),
			 CAS_ECMG_GO_ON);
	assert_int_equal(f->out.len, 0);
	/* garbage that claims to be a channel_error is not answered */
	assert_int_equal(cas_ecmg_check_head(&f->c, (const uint8_t *)"\x07\x00\x05", 3, &f->out), CAS_ECMG_CLOSE);
	assert_int_equal(f->out.len, 0);
	fx_free(f);
}

static void probe(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	f->out.len = 0;
	assert_int_equal(cas_ecmg_probe(&f->c, &f->out), -1);
	assert_int_equal(send_hex(f, "030001 000E 000E00020007 000100040B000000", 0), CAS_ECMG_GO_ON);
	f->out.len = 0;
	assert_int_equal(cas_ecmg_probe(&f->c, &f->out), 0);
	expect_out(f, "03 0002 0006 000E 0002 0007");
	fx_free(f);
}

/* A profile of the test's own: the engine passes it the request and sends
 * back exactly what it built. */
static long stub_build(const void *ctx, const struct cas_ecm_req *req, uint8_t *out, size_t cap)
{
	assert_ptr_equal(ctx, (const void *)0x1234);
	assert_true(cap >= 8);
	assert_int_equal(req->n_cws, 2);
	assert_int_equal(req->ac_len, 2);
	const uint8_t sec[8] = { 0x90, 0x70, 0x05, (uint8_t)(req->cp >> 8), (uint8_t)req->cp,
				 req->cws[0].cw[0], req->cws[1].cw[0], req->ac[1] };
	memcpy(out, sec, sizeof sec);
	return sizeof sec;
}

static const struct cas_profile stub = {
	.name = "stub", .ecm_key_len = 0, .ecm_max_len = 8, .ecm_build = stub_build,
};

static void other_profile(void **state)
{
	(void)state;
	struct fx *f = fx_new();
	f->srv.profile->ecm_key_free(f->srv.key);
	f->srv.profile = &stub;
	f->srv.key = (void *)0x1234;
	f->srv.p.section_tspkt_flag = 0;
	setup_v2(f);
	assert_int_equal(send_hex(f, "020201 0030 000E00020001 000F00020001 001200020102 0014000A0102"
				     "AA00000000000000 0014000A0103BB00000000000000 000D0002CCDD", 0), CAS_ECMG_GO_ON);
	expect_out(f, "020202 001E 000E00020001 000F00020001 001200020102 00150008 907005 0102 AABB DD");
	f->srv.profile = NULL;	/* nothing to free */
	f->srv.key = NULL;
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_setup),
		cmocka_unit_test(optional_delays),
		cmocka_unit_test(golden_cw_provision),
		cmocka_unit_test(ts_packets),
		cmocka_unit_test(version_1),
		cmocka_unit_test(errors),
		cmocka_unit_test(invalid_run),
		cmocka_unit_test(garbage),
		cmocka_unit_test(probe),
		cmocka_unit_test(other_profile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
