/* Unit tests: SimulCrypt TLV codec (libcas/tlv.c), names (simulcrypt.c) and
 * the pcap writer (pcap.c).  Golden bytes come from reference/simulcrypt.md
 * §1.2 and reference/tvcas3-vectors.json (ecmg_scs, emmg_mux, emm[]). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "hex.h"
#include "pcap.h"
#include "simulcrypt.h"
#include "tlv.h"

#define V2 CAS_TLV_VERSION(2)
#define V123 (CAS_TLV_VERSION(1) | CAS_TLV_VERSION(2) | CAS_TLV_VERSION(3))

/* Decodes hex that may contain spaces and '|' separators.  A message
 * written with "LLLL" as its message_length gets total size - 5 there (for
 * the validation tests, whose point is not the framing). */
static size_t unhex(const char *text, uint8_t *out, size_t cap)
{
	char clean[8192];
	size_t n = 0;
	for (const char *p = text; *p; p++)
		if (*p != ' ' && *p != '|' && *p != '\n') {
			assert_true(n < sizeof clean - 1);
			clean[n++] = *p;
		}
	int patch = n >= 10 && memcmp(clean + 6, "LLLL", 4) == 0;
	if (patch)
		memcpy(clean + 6, "0000", 4);
	assert_int_equal(n % 2, 0);
	assert_true(n / 2 <= cap);
	assert_int_equal(cas_hex_decode(clean, n, out, n / 2), 0);
	if (patch)
		cas_put_be16(out + 3, (uint16_t)(n / 2 - 5));
	return n / 2;
}

/* Parses and validates `hex` as one whole message; returns the status. */
static int decode_hex(const char *hex, enum cas_sc_iface iface, unsigned versions,
		      struct cas_tlv_msg *m, uint8_t *buf, size_t cap, struct cas_tlv_error *e)
{
	size_t n = unhex(hex, buf, cap);
	struct cas_buf b;
	cas_buf_init(&b, buf, n);
	int r = cas_tlv_decode(m, &b, iface, versions, e);
	if (r == 0)
		assert_int_equal(cas_buf_left(&b), 0);
	return r;
}

/* Expects decode to fail with exactly (status, info). */
static void expect_error(const char *hex, enum cas_sc_iface iface, unsigned versions,
			 uint16_t status, uint16_t info)
{
	static struct cas_tlv_msg m;
	uint8_t buf[4096];
	struct cas_tlv_error e;
	assert_int_equal(decode_hex(hex, iface, versions, &m, buf, sizeof buf, &e), -1);
	assert_int_equal(e.status, status);
	assert_int_equal(e.info, info);
}

static void expect_ok(const char *hex, enum cas_sc_iface iface, unsigned versions)
{
	static struct cas_tlv_msg m;
	uint8_t buf[4096];
	struct cas_tlv_error e = { 0xDEAD, 0xBEEF };
	assert_int_equal(decode_hex(hex, iface, versions, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(e.status, 0);
	assert_int_equal(e.info, 0);
}

/* Compares the message built in w (from `at`) with golden hex. */
static void assert_built(struct cas_wbuf *w, size_t at, const char *hex)
{
	uint8_t want[4096];
	size_t n = unhex(hex, want, sizeof want);
	assert_int_equal(cas_tlv_end(w, at), 0);
	assert_int_equal(w->len - at, n);
	assert_memory_equal(w->data + at, want, n);
}

/* ---------------------------------------------------------------------
 * simulcrypt.md §1.2 worked examples
 * --------------------------------------------------------------------- */

static const char ex_channel_status[] =
	"02 0003 0039   | 000E 0002 0001 | 0002 0001 01 | 0003 0002 00C8 | 0004 0002 00C8 | 0007 0002 0064"
	"               | 0008 0002 0000 | 0009 0002 000A | 000A 0001 01 | 000B 0001 02 | 000C 0002 0064";
static const char ex_stream_status[] =
	"02 0103 0017 | 000E 0002 0001 | 000F 0002 0001 | 0019 0002 0001 | 0011 0001 00";
static const char ex_emmg_channel_setup[] =
	"02 0011 0013 | 0001 0004 4AE60000 | 0003 0002 0001 | 0002 0001 01";

static void worked_examples_build(void **state)
{
	(void)state;
	uint8_t out[256];
	struct cas_wbuf w;
	size_t at;

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_STATUS);
	assert_int_equal(at, 0);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_DELAY_START, 200);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_DELAY_STOP, 200);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_REP_PERIOD, 100);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MAX_STREAMS, 0);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MIN_CP_DURATION, 10);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_LEAD_CW, 1);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_CW_PER_MSG, 2);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MAX_COMP_TIME, 100);
	assert_built(&w, at, ex_channel_status);
	assert_int_equal(w.len, 62);

	/* a second message appended to the same buffer */
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_STREAM_STATUS);
	assert_int_equal(at, 62);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_ID, 1);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, 0);
	assert_built(&w, at, ex_stream_status);
	assert_int_equal(w.len - at, 28);

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, 0x4AE60000);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, 1);
	cas_tlv_put_u8(&w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, 1);
	assert_built(&w, at, ex_emmg_channel_setup);
	assert_int_equal(w.len, 24);
}

static void worked_examples_parse(void **state)
{
	(void)state;
	static struct cas_tlv_msg m;
	uint8_t buf[256];
	struct cas_tlv_error e;
	uint16_t v16;
	uint8_t v8;
	uint32_t v32;

	assert_int_equal(decode_hex(ex_channel_status, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.type, CAS_ECMG_MSG_CHANNEL_STATUS);
	assert_int_equal(m.length, 0x39);
	assert_int_equal(m.size, 62);
	assert_ptr_equal(m.data, buf);
	assert_int_equal(m.nparams, 10);
	assert_int_equal(m.params[0].offset, 5);
	assert_int_equal(m.params[1].offset, 11);
	assert_ptr_equal(m.params[1].value, buf + 15);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_CHANNEL_ID, &v16), 0);
	assert_int_equal(v16, 1);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, &v8), 0);
	assert_int_equal(v8, 1);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_DELAY_START, &v16), 0);
	assert_int_equal(v16, 200);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_MIN_CP_DURATION, &v16), 0);
	assert_int_equal(v16, 10);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_ECMG_PARAM_CW_PER_MSG, &v8), 0);
	assert_int_equal(v8, 2);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_MAX_COMP_TIME, &v16), 0);
	assert_int_equal(v16, 100);
	assert_null(cas_tlv_find(&m, CAS_ECMG_PARAM_AC_DELAY_START));

	assert_int_equal(decode_hex(ex_stream_status, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(m.size, 28);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_ID, &v16), 0);
	assert_int_equal(v16, 1);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, &v8), 0);
	assert_int_equal(v8, 0);

	assert_int_equal(decode_hex(ex_emmg_channel_setup, CAS_SC_EMMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(m.type, CAS_EMMG_MSG_CHANNEL_SETUP);
	assert_int_equal(cas_tlv_get_u32(&m, CAS_EMMG_PARAM_CLIENT_ID, &v32), 0);
	assert_int_equal(v32, 0x4AE60000);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_CHANNEL_ID, &v16), 0);
	assert_int_equal(v16, 1);
	/* the same bytes are not an ECMG message */
	assert_int_equal(decode_hex(ex_emmg_channel_setup, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), -1);
	assert_int_equal(e.status, CAS_ECMG_ERR_UNKNOWN_MESSAGE_TYPE);
	assert_int_equal(e.info, 1);
}

/* ---------------------------------------------------------------------
 * TVCAS 3 vectors (tvcas3-vectors.json)
 * --------------------------------------------------------------------- */

static const char tv_channel_setup[] = "020001000E000E00020001000100040B000000";
static const char tv_channel_status[] =
	"0200030045000E0002000100020001000003000213880004000213880005000213880006000213880007000200C8"
	"000800020100000900020064000A000101000B000102000C00021F40";
static const char tv_stream_setup[] = "0201010018000E00020001000F00020001001900020001001000020064";
static const char tv_stream_status[] = "0201030017000E00020001000F000200010019000200010011000101";
static const char tv_cw16[] =
	"0202010036000E00020001000F000200010012000200100014000A0010E0E1E2E3E4E5E6E70014000A0011C8C9"
	"CACBCCCDCECF000D000400000003";
static const char tv_ecm16[] =
	"020202004D000E00020001000F0002000100120002001000150037807034703264212D2F81130CA57D7470349CED"
	"C5719240EB36B2C1599CEADCDC91ED52498B81B770A74736FA31BA526F3FB15BF67707E8";
static const char tv_ecm16_section[] =
	"807034703264212D2F81130CA57D7470349CEDC5719240EB36B2C1599CEADCDC91ED52498B81B770A74736FA31BA"
	"526F3FB15BF67707E8";
static const char tv_cw17[] =
	"0202010036000E00020001000F000200010012000200110014000A0011C0C1C2C3C4C5C6C70014000A0012E8E9"
	"EAEBECEDEEEF000D000400000003";
static const char tv_ecm17[] =
	"020202004D000E00020001000F0002000100120002001100150037817034703264216633617EA115DA90FB125568"
	"9CBD77A802526D94E9D7915FA1C5F167AD7EA625A9E558C442305BAFF73542D052686917";
static const char tv_emmg_channel_setup[] = "0200110013000100040B0000010003000200010002000100";
static const char tv_emmg_stream_setup[] =
	"020111001F000100040B0000010003000200010004000200010008000200010007000100";
static const char tv_emmg_bw_request[] =
	"020117001A000100040B000001000300020001000400020001000600020040";
static const char *const tv_emm_sections[] = {
	"82703B0000007D2B75007032641099CD8027649CC90DA931E594C13131143FA48C30FF4BCFAAEED91C69AB4EF1E8"
	"991A631E9DE29880C6CAAAF43E2CFF9F",
	"82703B0000007D2B75007032641099CD8027649CC90DA931E594C131311498FD54EF74EA2DAFEED91C69AB4EF1E8"
	"991A631E9DE29880C6CAAAF43E2CFF9F",
	"82703B0000007D2B79D27032641007B8A64DF59B7A8F912709876B46F14A7D64E09A865B6BCE0BACFE29D5BB1E90"
	"CDB463E922C1D44B5D19D26A1A06E76A",
	"82703B000000832155FF7032641039E6709ABFB224F17F6FAFDD4C54A8A9B476E4F7723FB74595BD741BE1C659AD"
	"D6F1484895028F177B1C2C93CEA5EC6F",
};
static const char tv_data_provision_head[] =
	"020211005C000100040B0000010003000200010004000200010008000200010005003E";

static void tvcas_ecmg_scs_parse(void **state)
{
	(void)state;
	static struct cas_tlv_msg m;
	uint8_t buf[512], sect[64];
	struct cas_tlv_error e;
	uint16_t v16;
	uint32_t v32;
	uint8_t v8;

	assert_int_equal(decode_hex(tv_channel_setup, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(m.type, CAS_ECMG_MSG_CHANNEL_SETUP);
	assert_int_equal(cas_tlv_get_u32(&m, CAS_ECMG_PARAM_SUPER_CAS_ID, &v32), 0);
	assert_int_equal(v32, 0x0B000000);

	/* tvcas3.md §4: the DB defaults, transition delays included */
	assert_int_equal(decode_hex(tv_channel_status, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	static const struct { uint16_t t, v; } want[] = {
		{ CAS_ECMG_PARAM_DELAY_START, 5000 }, { CAS_ECMG_PARAM_DELAY_STOP, 5000 },
		{ CAS_ECMG_PARAM_TRANSITION_DELAY_START, 5000 },
		{ CAS_ECMG_PARAM_TRANSITION_DELAY_STOP, 5000 },
		{ CAS_ECMG_PARAM_ECM_REP_PERIOD, 200 }, { CAS_ECMG_PARAM_MAX_STREAMS, 256 },
		{ CAS_ECMG_PARAM_MIN_CP_DURATION, 100 }, { CAS_ECMG_PARAM_MAX_COMP_TIME, 8000 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(cas_tlv_get_u16(&m, want[i].t, &v16), 0);
		assert_int_equal(v16, want[i].v);
	}
	assert_int_equal(cas_tlv_get_u8(&m, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, &v8), 0);
	assert_int_equal(v8, 0);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_ECMG_PARAM_LEAD_CW, &v8), 0);
	assert_int_equal(v8, 1);

	assert_int_equal(decode_hex(tv_stream_setup, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_ID, &v16), 0);
	assert_int_equal(v16, 1);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_NOMINAL_CP_DURATION, &v16), 0);
	assert_int_equal(v16, 100);
	assert_int_equal(decode_hex(tv_stream_status, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, &v8), 0);
	assert_int_equal(v8, 1);

	/* CW_provision CP 16: (16, E0..E7) then (17, C8..CF), AC 00000003 */
	assert_int_equal(decode_hex(tv_cw16, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_CP_NUMBER, &v16), 0);
	assert_int_equal(v16, 16);
	assert_int_equal(cas_tlv_count(&m, CAS_ECMG_PARAM_CP_CW_COMBINATION), 2);
	const struct cas_tlv_param *p = cas_tlv_next(&m, CAS_ECMG_PARAM_CP_CW_COMBINATION, NULL);
	assert_non_null(p);
	assert_int_equal(p->len, 10);
	assert_int_equal(cas_be16(p->value), 16);
	assert_memory_equal(p->value + 2, "\xE0\xE1\xE2\xE3\xE4\xE5\xE6\xE7", 8);
	p = cas_tlv_next(&m, CAS_ECMG_PARAM_CP_CW_COMBINATION, p);
	assert_non_null(p);
	assert_int_equal(cas_be16(p->value), 17);
	assert_memory_equal(p->value + 2, "\xC8\xC9\xCA\xCB\xCC\xCD\xCE\xCF", 8);
	assert_null(cas_tlv_next(&m, CAS_ECMG_PARAM_CP_CW_COMBINATION, p));
	assert_int_equal(cas_tlv_get_u32(&m, CAS_ECMG_PARAM_ACCESS_CRITERIA, &v32), 0);
	assert_int_equal(v32, 3);
	assert_null(cas_tlv_find(&m, CAS_ECMG_PARAM_CP_DURATION));

	/* ECM_response echoes CP 16 and carries the 55-byte section */
	assert_int_equal(decode_hex(tv_ecm16, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_CP_NUMBER, &v16), 0);
	assert_int_equal(v16, 16);
	p = cas_tlv_find(&m, CAS_ECMG_PARAM_ECM_DATAGRAM);
	assert_non_null(p);
	assert_int_equal(p->len, 55);
	assert_int_equal(unhex(tv_ecm16_section, sect, sizeof sect), 55);
	assert_memory_equal(p->value, sect, 55);

	assert_int_equal(decode_hex(tv_cw17, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_CP_NUMBER, &v16), 0);
	assert_int_equal(v16, 17);
	assert_int_equal(decode_hex(tv_ecm17, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_find(&m, CAS_ECMG_PARAM_ECM_DATAGRAM)->value[0], 0x81);
}

static void tvcas_ecmg_scs_rebuild(void **state)
{
	(void)state;
	uint8_t out[512], sect[64];
	struct cas_wbuf w;
	size_t at;

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u32(&w, CAS_ECMG_PARAM_SUPER_CAS_ID, 0x0B000000);
	assert_built(&w, at, tv_channel_setup);

	/* in TVCAS 3's order (tvcas3.md §4) */
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_STATUS);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, 0);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_DELAY_START, 5000);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_DELAY_STOP, 5000);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_TRANSITION_DELAY_START, 5000);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_TRANSITION_DELAY_STOP, 5000);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_REP_PERIOD, 200);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MAX_STREAMS, 256);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MIN_CP_DURATION, 100);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_LEAD_CW, 1);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_CW_PER_MSG, 2);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_MAX_COMP_TIME, 8000);
	assert_built(&w, at, tv_channel_status);

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_STREAM_SETUP);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_NOMINAL_CP_DURATION, 100);
	assert_built(&w, at, tv_stream_setup);

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_STREAM_STATUS);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_ID, 1);
	cas_tlv_put_u8(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, 1);
	assert_built(&w, at, tv_stream_status);

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_NUMBER, 16);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION,
			  "\x00\x10\xE0\xE1\xE2\xE3\xE4\xE5\xE6\xE7", 10);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CP_CW_COMBINATION,
			  "\x00\x11\xC8\xC9\xCA\xCB\xCC\xCD\xCE\xCF", 10);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ACCESS_CRITERIA, "\x00\x00\x00\x03", 4);
	assert_built(&w, at, tv_cw16);

	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_ECM_RESPONSE);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_CP_NUMBER, 16);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ECM_DATAGRAM, sect, unhex(tv_ecm16_section, sect, sizeof sect));
	assert_built(&w, at, tv_ecm16);
}

static void tvcas_emmg_mux(void **state)
{
	(void)state;
	static struct cas_tlv_msg m;
	uint8_t buf[512], out[512], sect[64];
	char hex[512];
	struct cas_tlv_error e;
	struct cas_wbuf w;
	size_t at;
	uint32_t v32;
	uint16_t v16;
	uint8_t v8;

	assert_int_equal(decode_hex(tv_emmg_channel_setup, CAS_SC_EMMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u32(&m, CAS_EMMG_PARAM_CLIENT_ID, &v32), 0);
	assert_int_equal(v32, 184549377);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, &v8), 0);
	assert_int_equal(v8, 0);
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, 0x0B000001);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, 1);
	cas_tlv_put_u8(&w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, 0);
	assert_built(&w, at, tv_emmg_channel_setup);

	assert_int_equal(decode_hex(tv_emmg_stream_setup, CAS_SC_EMMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_STREAM_ID, &v16), 0);
	assert_int_equal(v16, 1);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_EMMG_PARAM_DATA_ID, &v16), 0);
	assert_int_equal(v16, 1);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_EMMG_PARAM_DATA_TYPE, &v8), 0);
	assert_int_equal(v8, CAS_EMMG_DATA_TYPE_EMM);
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_STREAM_SETUP);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, 0x0B000001);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, 1);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_ID, 1);
	cas_tlv_put_u8(&w, CAS_EMMG_PARAM_DATA_TYPE, CAS_EMMG_DATA_TYPE_EMM);
	assert_built(&w, at, tv_emmg_stream_setup);

	assert_int_equal(decode_hex(tv_emmg_bw_request, CAS_SC_EMMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_EMMG_PARAM_BANDWIDTH, &v16), 0);
	assert_int_equal(v16, 64);
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_STREAM_BW_REQUEST);
	cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, 0x0B000001);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, 1);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, 1);
	cas_tlv_put_u16(&w, CAS_EMMG_PARAM_BANDWIDTH, 64);
	assert_built(&w, at, tv_emmg_bw_request);

	/* the four data_provision PDUs of emm[] */
	for (size_t i = 0; i < sizeof tv_emm_sections / sizeof tv_emm_sections[0]; i++) {
		snprintf(hex, sizeof hex, "%s%s", tv_data_provision_head, tv_emm_sections[i]);
		assert_int_equal(decode_hex(hex, CAS_SC_EMMG, V2, &m, buf, sizeof buf, &e), 0);
		assert_int_equal(m.type, CAS_EMMG_MSG_DATA_PROVISION);
		assert_int_equal(m.length, 0x5C);
		assert_int_equal(cas_tlv_count(&m, CAS_EMMG_PARAM_DATAGRAM), 1);
		const struct cas_tlv_param *p = cas_tlv_find(&m, CAS_EMMG_PARAM_DATAGRAM);
		assert_int_equal(unhex(tv_emm_sections[i], sect, sizeof sect), 62);
		assert_int_equal(p->len, 62);
		assert_memory_equal(p->value, sect, 62);
		assert_int_equal(p->offset, 5 + 8 + 6 + 6 + 6);

		cas_wbuf_init(&w, out, sizeof out);
		at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_DATA_PROVISION);
		cas_tlv_put_u32(&w, CAS_EMMG_PARAM_CLIENT_ID, 0x0B000001);
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, 1);
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_STREAM_ID, 1);
		cas_tlv_put_u16(&w, CAS_EMMG_PARAM_DATA_ID, 1);
		cas_tlv_put_bytes(&w, CAS_EMMG_PARAM_DATAGRAM, sect, 62);
		assert_built(&w, at, hex);
	}
}

/* ---------------------------------------------------------------------
 * Validation errors, with the exact error_information
 * --------------------------------------------------------------------- */

static void framing_errors(void **state)
{
	(void)state;
	static struct cas_tlv_msg m;
	struct cas_tlv_error e;
	struct cas_buf b;
	const uint8_t three[] = { 0x02, 0x00, 0x02 };

	/* empty: nothing at all (offset 0), short header: offset 1 */
	cas_buf_init(&b, three, 0);
	assert_int_equal(cas_tlv_parse(&m, &b, &e), -1);
	assert_int_equal(e.status, CAS_SC_ERR_INVALID_MESSAGE);
	assert_int_equal(e.info, 0);
	cas_buf_init(&b, three, sizeof three);
	assert_int_equal(cas_tlv_parse(&m, &b, &e), -1);
	assert_int_equal(e.status, CAS_SC_ERR_INVALID_MESSAGE);
	assert_int_equal(e.info, 1);
	/* body shorter than message_length */
	expect_error("02 0002 0007 | 000E 0002 0001", CAS_SC_ECMG, V2, 0x0001, 1);
	/* TLV value overrunning the message: offset of that TLV */
	expect_error("02 0002 0007 | 000E 0005 0001 AA", CAS_SC_ECMG, V2, 0x0001, 5);
	expect_error("02 0002 000D | 000E 0002 0001 | 7000 0004 0001 AA", CAS_SC_ECMG, V2, 0x0001, 11);
	/* 1..3 trailing bytes: a truncated TLV header */
	expect_error("02 0002 0007 | 000E 0002 0001 | 70", CAS_SC_ECMG, V2, 0x0001, 11);
	expect_error("02 0012 000F | 0001 0004 4AE60000 | 0003 0002 0001 | 00", CAS_SC_EMMG, V2, 0x0001, 19);
	/* an empty body parses; validation then finds what is missing */
	expect_error("02 0002 0000", CAS_SC_ECMG, V2, CAS_ECMG_ERR_MISSING_PARAM, CAS_ECMG_PARAM_ECM_CHANNEL_ID);

	/* the parse stops at message_length: what follows is the next message */
	uint8_t two[32];
	size_t n = unhex("02 0002 0006 000E 0002 0001 | 02 0002 0006 000E 0002 0002", two, sizeof two);
	uint16_t ch;
	cas_buf_init(&b, two, n);
	assert_int_equal(cas_tlv_decode(&m, &b, CAS_SC_ECMG, V2, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_CHANNEL_ID, &ch), 0);
	assert_int_equal(ch, 1);
	assert_int_equal(cas_buf_left(&b), 11);
	assert_int_equal(cas_tlv_decode(&m, &b, CAS_SC_ECMG, V2, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_CHANNEL_ID, &ch), 0);
	assert_int_equal(ch, 2);
	assert_ptr_equal(m.data, two + 11);
	assert_int_equal(cas_buf_left(&b), 0);
}

static void version_and_type_errors(void **state)
{
	(void)state;
	/* unsupported version: info 0 (the version byte) */
	expect_error("01 0002 LLLL | 000E 0002 0001", CAS_SC_ECMG, V2, 0x0002, 0);
	expect_error("03 0002 LLLL | 000E 0002 0001", CAS_SC_ECMG, V2, 0x0002, 0);
	expect_error("00 0002 LLLL | 000E 0002 0001", CAS_SC_ECMG, V123, 0x0002, 0);
	expect_error("20 0002 LLLL | 000E 0002 0001", CAS_SC_ECMG, 0xFFFFFFFFu, 0x0002, 0);
	expect_error("FF 0012 LLLL | 0001 0004 4AE60000 | 0003 0002 0001", CAS_SC_EMMG, V123, 0x0002, 0);
	expect_ok("03 0002 LLLL | 000E 0002 0001", CAS_SC_ECMG, V123);
	/* the version is checked before the message type */
	expect_error("07 7777 LLLL", CAS_SC_ECMG, V2, 0x0002, 0);

	/* unknown message_type: info 1 */
	expect_error("02 0203 LLLL | 000E 0002 0001", CAS_SC_ECMG, V2, 0x0003, 1);
	expect_error("02 8000 LLLL", CAS_SC_ECMG, V2, 0x0003, 1);
	expect_error("02 0000 LLLL", CAS_SC_ECMG, V2, 0x0003, 1);
	/* a type of the other interface */
	expect_error("02 0012 LLLL | 0001 0004 4AE60000 | 0003 0002 0001", CAS_SC_ECMG, V2, 0x0003, 1);
	expect_error("02 0002 LLLL | 000E 0002 0001", CAS_SC_EMMG, V2, 0x0003, 1);
	expect_error("02 0301 LLLL", CAS_SC_EMMG, V2, 0x0003, 1);
	assert_true(cas_tlv_msg_known(CAS_SC_ECMG, CAS_ECMG_MSG_ECM_RESPONSE));
	assert_false(cas_tlv_msg_known(CAS_SC_ECMG, CAS_EMMG_MSG_DATA_PROVISION));
	assert_true(cas_tlv_msg_known(CAS_SC_EMMG, CAS_EMMG_MSG_DATA_PROVISION));
	assert_false(cas_tlv_msg_known(CAS_SC_NONE, CAS_ECMG_MSG_CHANNEL_SETUP));
}

static void too_many_params(void **state)
{
	(void)state;
	/* ECM_channel_id + 65 error_status TLVs: the 65th TLV does not fit */
	uint8_t msg[5 + 6 + 65 * 6];
	struct cas_wbuf w;
	static struct cas_tlv_msg m;
	struct cas_tlv_error e;
	struct cas_buf b;
	cas_wbuf_init(&w, msg, sizeof msg);
	size_t at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_ERROR);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	for (int i = 0; i < 65; i++)
		cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ERROR_STATUS, (uint16_t)i);
	assert_int_equal(cas_tlv_end(&w, at), 0);
	cas_buf_init(&b, msg, w.len);
	assert_int_equal(cas_tlv_parse(&m, &b, &e), -1);
	assert_int_equal(e.status, CAS_SC_ERR_MESSAGE_TOO_LONG);
	assert_int_equal(e.info, 5 + 6 + 63 * 6);	/* the 65th TLV */
	/* exactly CAS_TLV_MAX_PARAMS fit: drop the last two */
	cas_buf_init(&b, msg, w.len - 12);
	cas_put_be16(msg + 3, (uint16_t)(w.len - 12 - 5));
	assert_int_equal(cas_tlv_decode(&m, &b, CAS_SC_ECMG, V2, &e), 0);
	assert_int_equal(m.nparams, CAS_TLV_MAX_PARAMS);
	assert_int_equal(cas_tlv_count(&m, CAS_ECMG_PARAM_ERROR_STATUS), 63);
}

static void ecmg_param_errors(void **state)
{
	(void)state;
	/* inconsistent length 0x000F, info = offset of the faulty TLV */
	expect_error("02 0002 LLLL | 000E 0003 000102", CAS_SC_ECMG, V2, 0x000F, 5);
	expect_error("02 0001 LLLL | 000E 0002 0001 | 0001 0003 4AE600", CAS_SC_ECMG, V2, 0x000F, 11);
	expect_error("02 0101 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0019 0001 01 | 0010 0002 0064",
		     CAS_SC_ECMG, V2, 0x000F, 17);
	/* CP_CW_combination needs at least the CP */
	expect_error("02 0201 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0000 | 0014 0001 00",
		     CAS_SC_ECMG, V2, 0x000F, 23);
	/* the first bad TLV in wire order wins, and lengths are checked
	 * before counts (a missing parameter is reported only afterwards) */
	expect_error("02 0101 LLLL | 000E 0002 0001 | 0010 0001 64", CAS_SC_ECMG, V2, 0x000F, 11);
	expect_error("02 0003 LLLL | 000E 0001 01 | 0002 0002 0001", CAS_SC_ECMG, V2, 0x000F, 5);

	/* missing mandatory 0x0010, info = the parameter's tag */
	expect_error("02 0001 LLLL | 000E 0002 0001", CAS_SC_ECMG, V2, 0x0010, 0x0001);
	expect_error("02 0001 LLLL | 0001 0004 4AE60000", CAS_SC_ECMG, V2, 0x0010, 0x000E);
	expect_error("02 0101 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0010 0002 0064",
		     CAS_SC_ECMG, V2, 0x0010, 0x0019);
	expect_error("02 0103 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0011 0001 00",
		     CAS_SC_ECMG, V2 | CAS_TLV_VERSION(3), 0x0010, 0x0019);
	expect_error("03 0103 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0011 0001 00",
		     CAS_SC_ECMG, V123, 0x0010, 0x0019);
	expect_error("02 0103 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0019 0002 0001",
		     CAS_SC_ECMG, V2, 0x0010, 0x0011);
	expect_error("02 0201 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0010",
		     CAS_SC_ECMG, V2, 0x0010, 0x0014);
	expect_error("02 0202 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0010",
		     CAS_SC_ECMG, V2, 0x0010, 0x0015);
	expect_error("02 0005 LLLL | 000E 0002 0001", CAS_SC_ECMG, V2, 0x0010, 0x7000);
	expect_error("02 0106 LLLL | 000E 0002 0001 | 7000 0002 0006", CAS_SC_ECMG, V2, 0x0010, 0x000F);
	/* channel_status without max_comp_time */
	expect_error("02 0003 LLLL | 000E 0002 0001 | 0002 0001 01 | 0003 0002 00C8 | 0004 0002 00C8"
		     " | 0007 0002 0064 | 0008 0002 0000 | 0009 0002 000A | 000A 0001 01 | 000B 0001 02",
		     CAS_SC_ECMG, V2, 0x0010, 0x000C);
	/* too many occurrences: same code and info convention (TSDuck) */
	expect_error("02 0002 LLLL | 000E 0002 0001 | 000E 0002 0002", CAS_SC_ECMG, V2, 0x0010, 0x000E);
	expect_error("02 0201 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0010"
		     " | 0014 0002 0010 | 0013 0002 0064 | 0013 0002 0064",
		     CAS_SC_ECMG, V2, 0x0010, 0x0013);
}

static void emmg_param_errors(void **state)
{
	(void)state;
	/* inconsistent length 0x000B */
	expect_error("02 0011 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0002 0002 0000",
		     CAS_SC_EMMG, V2, 0x000B, 19);
	expect_error("02 0012 LLLL | 0001 0003 0B0000 | 0003 0002 0001", CAS_SC_EMMG, V2, 0x000B, 5);
	expect_error("02 0117 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001 | 0006 0001 40",
		     CAS_SC_EMMG, V2, 0x000B, 25);
	/* missing mandatory 0x000C */
	expect_error("02 0011 LLLL | 0001 0004 0B000001 | 0003 0002 0001", CAS_SC_EMMG, V2, 0x000C, 0x0002);
	expect_error("02 0111 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001 | 0007 0001 00",
		     CAS_SC_EMMG, V2, 0x000C, 0x0008);
	expect_error("02 0113 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001 | 0008 0002 0001",
		     CAS_SC_EMMG, V2, 0x000C, 0x0007);
	expect_error("02 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001 | 0008 0002 0001",
		     CAS_SC_EMMG, V2, 0x000C, 0x0005);
	expect_error("02 0211 LLLL | 0003 0002 0001 | 0008 0002 0001 | 0005 0001 AA",
		     CAS_SC_EMMG, V2, 0x000C, 0x0001);
	expect_error("02 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0005 0002 AAAA",
		     CAS_SC_EMMG, V2, 0x000C, 0x0008);
	expect_error("02 0015 LLLL | 0001 0004 0B000001 | 0003 0002 0001", CAS_SC_EMMG, V2, 0x000C, 0x7000);
	expect_error("02 0114 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0003 0002 0001",
		     CAS_SC_EMMG, V2, 0x000C, 0x0003);
	/* bandwidth is optional in both BW messages */
	expect_ok("02 0118 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001", CAS_SC_EMMG, V2);
}

static void version_rules(void **state)
{
	(void)state;
	/* ECMG stream_setup / stream_status: ECM_id only from v2 on */
	expect_ok("01 0101 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0010 0002 0064", CAS_SC_ECMG, V123);
	expect_ok("01 0103 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0011 0001 00", CAS_SC_ECMG, V123);
	/* an ECM_id in a v1 message is not part of v1: ignored, whatever its size */
	expect_ok("01 0101 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0019 0001 01 | 0010 0002 0064",
		  CAS_SC_ECMG, V123);
	expect_error("02 0101 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0019 0001 01 | 0010 0002 0064",
		     CAS_SC_ECMG, V123, 0x000F, 17);

	/* CP_CW_combination: exactly 10 bytes in v1, 2+CW from v2 (16-byte CW) */
	static const char cw10[] = "%02X 0201 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0010"
				   " | 0014 000A 0010 0102030405060708";
	static const char cw18[] = "%02X 0201 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0010"
				   " | 0014 0012 0010 0102030405060708 1112131415161718";
	char hex[256];
	for (int v = 1; v <= 3; v++) {
		snprintf(hex, sizeof hex, cw10, v);
		expect_ok(hex, CAS_SC_ECMG, V123);
		snprintf(hex, sizeof hex, cw18, v);
		if (v == 1)
			expect_error(hex, CAS_SC_ECMG, V123, 0x000F, 23);
		else
			expect_ok(hex, CAS_SC_ECMG, V123);
	}
	/* CW_encryption is v2+: a v1 message carrying one is still fine */
	expect_ok("01 0201 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0010"
		  " | 0014 000A 0010 0102030405060708 | 0018 0000", CAS_SC_ECMG, V123);
	expect_ok("02 0201 LLLL | 000E 0002 0001 | 000F 0002 0001 | 0012 0002 0010"
		  " | 0014 000A 0010 0102030405060708 | 0018 0000", CAS_SC_ECMG, V123);

	/* EMMG stream_setup: data_id mandatory from v2 on, absent in v1 */
	static const char ss[] = "%02X 0111 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001"
				 " | 0007 0001 00";
	for (int v = 1; v <= 3; v++) {
		snprintf(hex, sizeof hex, ss, v);
		if (v == 1)
			expect_ok(hex, CAS_SC_EMMG, V123);
		else
			expect_error(hex, CAS_SC_EMMG, V123, 0x000C, 0x0008);
	}
	/* data_provision: v1 needs channel + stream; v2+ needs data_id and
	 * makes channel/stream optional (UDP) */
	expect_ok("01 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001 | 0005 0001 AA",
		  CAS_SC_EMMG, V123);
	expect_error("01 0211 LLLL | 0001 0004 0B000001 | 0004 0002 0001 | 0005 0001 AA",
		     CAS_SC_EMMG, V123, 0x000C, 0x0003);
	expect_error("01 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0005 0001 AA",
		     CAS_SC_EMMG, V123, 0x000C, 0x0004);
	expect_ok("01 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0004 0002 0001 | 0008 0001 01"
		  " | 0005 0001 AA", CAS_SC_EMMG, V123);		/* data_id ignored in v1 */
	expect_ok("02 0211 LLLL | 0001 0004 0B000001 | 0008 0002 0001 | 0005 0001 AA", CAS_SC_EMMG, V123);
	expect_ok("03 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0008 0002 0001 | 0005 0001 AA",
		  CAS_SC_EMMG, V123);
	expect_error("02 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0003 0002 0001 | 0008 0002 0001"
		     " | 0005 0001 AA", CAS_SC_EMMG, V123, 0x000C, 0x0003);
	expect_error("02 0211 LLLL | 0001 0004 0B000001 | 0003 0002 0001 | 0005 0001 AA",
		     CAS_SC_EMMG, V123, 0x000C, 0x0008);
}

static void unknown_params_ignored(void **state)
{
	(void)state;
	static struct cas_tlv_msg m;
	uint8_t buf[256];
	struct cas_tlv_error e;
	uint16_t ch;
	/* user-defined 0x8001, reserved 0x6000 (any length), and a known
	 * ECMG type that channel_test does not have (ECM_datagram) */
	static const char hex[] =
		"02 0002 LLLL | 8001 0003 ABCDEF | 000E 0002 0007 | 6000 0000 | 0015 0004 01020304";
	assert_int_equal(decode_hex(hex, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(m.nparams, 4);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_CHANNEL_ID, &ch), 0);
	assert_int_equal(ch, 7);
	assert_int_equal(m.params[1].offset, 12);
	/* a type unknown to the message with a "wrong" size is not an error */
	expect_ok("02 0002 LLLL | 000E 0002 0001 | 0001 0001 00", CAS_SC_ECMG, V2);
	expect_ok("02 0012 LLLL | 0001 0004 0B000001 | 0009 0001 FF | 0003 0002 0001", CAS_SC_EMMG, V2);
	/* a mandatory one is still required beside them */
	expect_error("02 0002 LLLL | 8001 0003 ABCDEF", CAS_SC_ECMG, V2, 0x0010, 0x000E);
}

static void repeated_params(void **state)
{
	(void)state;
	static struct cas_tlv_msg m;
	uint8_t buf[512];
	struct cas_tlv_error e;
	static const char hex[] =
		"02 0005 LLLL | 7000 0002 0006 | 000E 0002 0001 | 7001 0002 0005 | 7000 0002 000F"
		" | 7001 0002 0011 | 7000 0002 0010 | 7001 0004 00190000 | 7000 0002 7001";
	assert_int_equal(decode_hex(hex, CAS_SC_ECMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_count(&m, CAS_ECMG_PARAM_ERROR_STATUS), 4);
	assert_int_equal(cas_tlv_count(&m, CAS_ECMG_PARAM_ERROR_INFORMATION), 3);
	assert_int_equal(cas_tlv_count(&m, CAS_ECMG_PARAM_CP_NUMBER), 0);
	static const uint16_t want[] = { 0x0006, 0x000F, 0x0010, 0x7001 };
	unsigned i = 0;
	for (const struct cas_tlv_param *p = cas_tlv_next(&m, CAS_ECMG_PARAM_ERROR_STATUS, NULL); p != NULL;
	     p = cas_tlv_next(&m, CAS_ECMG_PARAM_ERROR_STATUS, p)) {
		assert_true(i < 4);
		assert_int_equal(p->len, 2);
		assert_int_equal(cas_be16(p->value), want[i]);
		i++;
	}
	assert_int_equal(i, 4);
	/* the first occurrence is what the scalar getter reads */
	uint16_t v;
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ERROR_STATUS, &v), 0);
	assert_int_equal(v, 0x0006);
	/* error_information of another size than 2 is accepted on input */
	const struct cas_tlv_param *p = cas_tlv_find(&m, CAS_ECMG_PARAM_ERROR_INFORMATION);
	p = cas_tlv_next(&m, CAS_ECMG_PARAM_ERROR_INFORMATION, p);
	p = cas_tlv_next(&m, CAS_ECMG_PARAM_ERROR_INFORMATION, p);
	assert_int_equal(p->len, 4);
	assert_int_equal(p->offset, 5 + 6 * 6);

	/* data_provision with three datagrams of different sizes */
	static const char dp[] =
		"02 0211 LLLL | 0001 0004 0B000001 | 0008 0002 0001 | 0005 0001 AA | 0005 0000 | 0005 0003 BBCCDD";
	assert_int_equal(decode_hex(dp, CAS_SC_EMMG, V2, &m, buf, sizeof buf, &e), 0);
	assert_int_equal(cas_tlv_count(&m, CAS_EMMG_PARAM_DATAGRAM), 3);
	p = cas_tlv_find(&m, CAS_EMMG_PARAM_DATAGRAM);
	assert_int_equal(p->len, 1);
	p = cas_tlv_next(&m, CAS_EMMG_PARAM_DATAGRAM, p);
	assert_int_equal(p->len, 0);
	p = cas_tlv_next(&m, CAS_EMMG_PARAM_DATAGRAM, p);
	assert_int_equal(p->len, 3);
	assert_memory_equal(p->value, "\xBB\xCC\xDD", 3);
	assert_null(cas_tlv_next(&m, CAS_EMMG_PARAM_DATAGRAM, p));
}

static void accessors_check_size(void **state)
{
	(void)state;
	static struct cas_tlv_msg m;
	uint8_t buf[64];
	struct cas_tlv_error e;
	uint8_t v8 = 0x55;
	uint16_t v16 = 0x5555;
	uint32_t v32 = 0x55555555;
	/* parse only: sizes are wrong for the dictionary on purpose */
	size_t n = unhex("02 0002 0013 | 000E 0003 000102 | 0002 0002 0001 | 0001 0002 0001", buf, sizeof buf);
	struct cas_buf b;
	cas_buf_init(&b, buf, n);
	assert_int_equal(cas_tlv_parse(&m, &b, &e), 0);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_ECM_CHANNEL_ID, &v16), -1);
	assert_int_equal(cas_tlv_get_u8(&m, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, &v8), -1);
	assert_int_equal(cas_tlv_get_u32(&m, CAS_ECMG_PARAM_SUPER_CAS_ID, &v32), -1);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_CP_NUMBER, &v16), -1);
	assert_int_equal(v8, 0x55);
	assert_int_equal(v16, 0x5555);
	assert_int_equal(v32, 0x55555555);
	assert_int_equal(cas_tlv_get_u16(&m, CAS_ECMG_PARAM_SUPER_CAS_ID, &v16), 0);
	assert_int_equal(v16, 1);
	assert_null(cas_tlv_find(&m, CAS_ECMG_PARAM_CP_NUMBER));
}

/* ---------------------------------------------------------------------
 * Builder strictness
 * --------------------------------------------------------------------- */

static void builder_strict(void **state)
{
	(void)state;
	uint8_t out[64];
	struct cas_wbuf w;
	size_t at;

	/* error_status + 2-byte error_information, exact bytes */
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 3, CAS_ECMG_MSG_CHANNEL_ERROR);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_error(&w, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, 0x0005);
	assert_built(&w, at, "03 0005 0012 | 000E 0002 0001 | 7000 0002 0006 | 7001 0002 0005");
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_ERROR);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ERROR_INFORMATION, "\x12\x34", 2);
	assert_built(&w, at, "02 0005 0006 | 7001 0002 1234");

	/* error_information of any other size is refused */
	for (size_t n = 0; n < 5; n++) {
		if (n == 2)
			continue;
		cas_wbuf_init(&w, out, sizeof out);
		at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_ERROR);
		cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_ERROR_INFORMATION, "\x00\x00\x00\x00", n);
		assert_int_equal(cas_wbuf_error(&w), 1);
		assert_int_equal(cas_tlv_end(&w, at), -1);
	}
	/* empty value, empty message */
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CW_PROVISION);
	cas_tlv_put_bytes(&w, CAS_ECMG_PARAM_CW_ENCRYPTION, NULL, 0);
	assert_built(&w, at, "02 0201 0004 | 0018 0000");
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 1, 0x8000);
	assert_built(&w, at, "01 8000 0000");

	/* overflow of the output buffer is sticky and fails the message */
	cas_wbuf_init(&w, out, 10);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_TEST);
	cas_tlv_put_u16(&w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	assert_int_equal(cas_wbuf_error(&w), 1);
	assert_int_equal(cas_tlv_end(&w, at), -1);
	cas_wbuf_init(&w, out, 4);
	assert_int_equal(cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_TEST), (size_t)-1);
	/* a bogus start offset */
	cas_wbuf_init(&w, out, sizeof out);
	at = cas_tlv_begin(&w, 2, CAS_ECMG_MSG_CHANNEL_TEST);
	assert_int_equal(cas_tlv_end(&w, at + 1), -1);

	/* value and body limits: 65535 */
	size_t big = CAS_SC_MAX_MSG + 16;
	uint8_t *bb = calloc(1, big), *src = calloc(1, 65536);
	assert_non_null(bb);
	assert_non_null(src);
	cas_wbuf_init(&w, bb, big);
	at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_DATA_PROVISION);
	cas_tlv_put_bytes(&w, CAS_EMMG_PARAM_DATAGRAM, src, 65536);
	assert_int_equal(cas_tlv_end(&w, at), -1);
	cas_wbuf_init(&w, bb, big);
	at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_DATA_PROVISION);
	cas_tlv_put_bytes(&w, CAS_EMMG_PARAM_DATAGRAM, src, 65531);	/* body 65535 */
	assert_int_equal(cas_tlv_end(&w, at), 0);
	assert_int_equal(w.len, CAS_SC_MAX_MSG);
	assert_int_equal(cas_be16(bb + 3), 65535);
	cas_wbuf_init(&w, bb, big);
	at = cas_tlv_begin(&w, 2, CAS_EMMG_MSG_DATA_PROVISION);
	cas_tlv_put_bytes(&w, CAS_EMMG_PARAM_DATAGRAM, src, 65532);	/* body 65536 */
	assert_int_equal(cas_tlv_end(&w, at), -1);
	free(src);
	free(bb);
}

/* ---------------------------------------------------------------------
 * Framer
 * --------------------------------------------------------------------- */

static const char *const stream_msgs[] = {
	tv_channel_setup, tv_channel_status, tv_stream_setup, tv_stream_status,
	tv_cw16, tv_ecm16, tv_cw17, tv_ecm17, "02 0002 0000",
	tv_emmg_channel_setup, tv_emmg_stream_setup, tv_emmg_bw_request,
};
#define NMSG (sizeof stream_msgs / sizeof stream_msgs[0])

struct stream {
	uint8_t bytes[2048];
	size_t len;
	size_t start[NMSG + 1];
};

static void make_stream(struct stream *s)
{
	s->len = 0;
	for (size_t i = 0; i < NMSG; i++) {
		s->start[i] = s->len;
		s->len += unhex(stream_msgs[i], s->bytes + s->len, sizeof s->bytes - s->len);
	}
	s->start[NMSG] = s->len;
}

/* Feeds the stream in chunks of sizes cycling through `sizes`; checks every
 * message comes out whole, in order; returns how many came out in place. */
static size_t run_framer(const struct stream *s, const size_t *sizes, size_t nsizes)
{
	static struct cas_tlv_framer f;
	const uint8_t *msg;
	size_t len, got = 0, inplace = 0, pos = 0, k = 0;
	int r;
	cas_tlv_framer_init(&f);
	assert_int_equal(cas_tlv_framer_pending(&f), 0);
	while (pos < s->len) {
		size_t n = sizes[k++ % nsizes];
		if (n > s->len - pos)
			n = s->len - pos;
		assert_int_equal(cas_tlv_framer_feed(&f, s->bytes + pos, n), 0);
		pos += n;
		while ((r = cas_tlv_framer_next(&f, &msg, &len)) == 1) {
			assert_true(got < NMSG);
			assert_int_equal(len, s->start[got + 1] - s->start[got]);
			assert_memory_equal(msg, s->bytes + s->start[got], len);
			if (msg == s->bytes + s->start[got])
				inplace++;
			else
				assert_ptr_equal(msg, f.buf);
			got++;
		}
		assert_int_equal(r, 0);
		/* what is pending is exactly the partial message */
		assert_int_equal(cas_tlv_framer_pending(&f), pos - s->start[got]);
	}
	assert_int_equal(got, NMSG);
	assert_int_equal(cas_tlv_framer_pending(&f), 0);
	return inplace;
}

static void framer_chunks(void **state)
{
	(void)state;
	static struct stream s;
	make_stream(&s);
	/* all at once: every message returned in place, no copy */
	size_t all[] = { s.len };
	assert_int_equal(run_framer(&s, all, 1), NMSG);
	/* one byte at a time: every message assembled */
	size_t one[] = { 1 };
	assert_int_equal(run_framer(&s, one, 1), 0);
	/* odd sizes, splitting headers and bodies anywhere */
	size_t odd[] = { 2, 3, 7, 1, 64, 5, 4, 200, 6 };
	run_framer(&s, odd, sizeof odd / sizeof odd[0]);
	/* each message split exactly after its header */
	for (size_t cut = 1; cut <= 6; cut++) {
		size_t c[] = { cut };
		run_framer(&s, c, 1);
	}
	/* every message decodes after framing */
	static struct cas_tlv_msg m;
	struct cas_tlv_error e;
	struct cas_buf b;
	for (size_t i = 0; i < NMSG; i++) {
		cas_buf_init(&b, s.bytes + s.start[i], s.start[i + 1] - s.start[i]);
		enum cas_sc_iface iface = cas_simulcrypt_iface_of(cas_be16(s.bytes + s.start[i] + 1));
		if (i == 8)	/* the empty channel_test lacks its channel id */
			assert_int_equal(cas_tlv_decode(&m, &b, iface, V2, &e), -1);
		else
			assert_int_equal(cas_tlv_decode(&m, &b, iface, V2, &e), 0);
	}
}

static void framer_limits(void **state)
{
	(void)state;
	static struct cas_tlv_framer f;
	const uint8_t *msg;
	size_t len;
	uint8_t hdr[] = { 0x02, 0x00, 0x02, 0x00, 0x07, 0x00, 0x0E };

	/* feeding again before draining is refused */
	cas_tlv_framer_init(&f);
	assert_int_equal(cas_tlv_framer_feed(&f, hdr, sizeof hdr), 0);
	assert_int_equal(cas_tlv_framer_feed(&f, hdr, sizeof hdr), -1);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), 0);
	assert_int_equal(cas_tlv_framer_pending(&f), 7);

	/* a length over the limit fails as soon as the header is complete,
	 * whether the header arrives whole or in pieces; sticky */
	cas_tlv_framer_init(&f);
	cas_tlv_framer_set_max(&f, 6);
	assert_int_equal(cas_tlv_framer_feed(&f, hdr, sizeof hdr), 0);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), -1);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), -1);
	assert_int_equal(cas_tlv_framer_feed(&f, hdr, 1), -1);
	cas_tlv_framer_init(&f);
	cas_tlv_framer_set_max(&f, 6);
	assert_int_equal(cas_tlv_framer_feed(&f, hdr, 4), 0);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), 0);
	assert_int_equal(cas_tlv_framer_feed(&f, hdr + 4, 1), 0);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), -1);
	/* at the limit is fine */
	cas_tlv_framer_init(&f);
	cas_tlv_framer_set_max(&f, 7);
	assert_int_equal(cas_tlv_framer_feed(&f, hdr, sizeof hdr), 0);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), 0);
	assert_int_equal(cas_tlv_framer_feed(&f, "\x00\x02\x00\x01\xFF", 5), 0);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), 1);
	assert_int_equal(len, 12);
	assert_memory_equal(msg, "\x02\x00\x02\x00\x07\x00\x0E\x00\x02\x00\x01\xFF", 12);
	assert_int_equal(cas_tlv_framer_next(&f, &msg, &len), 0);
	assert_int_equal(cas_tlv_framer_pending(&f), 0);

	/* the largest message, 5 + 65535 bytes, split in 1000-byte reads,
	 * followed by a small one in the same last read */
	size_t total = CAS_SC_MAX_MSG + 11;
	uint8_t *big = malloc(total);
	assert_non_null(big);
	for (size_t i = 0; i < total; i++)
		big[i] = (uint8_t)(i * 7);
	big[0] = 2;
	big[3] = 0xFF;
	big[4] = 0xFF;
	memcpy(big + CAS_SC_MAX_MSG, "\x02\x00\x02\x00\x06\x00\x0E\x00\x02\x00\x09", 11);
	cas_tlv_framer_init(&f);
	int seen = 0;
	for (size_t pos = 0; pos < total; pos += 1000) {
		size_t n = total - pos < 1000 ? total - pos : 1000;
		assert_int_equal(cas_tlv_framer_feed(&f, big + pos, n), 0);
		int r;
		while ((r = cas_tlv_framer_next(&f, &msg, &len)) == 1) {
			if (seen == 0) {
				assert_int_equal(len, CAS_SC_MAX_MSG);
				assert_memory_equal(msg, big, len);
			} else {
				assert_int_equal(len, 11);
				assert_memory_equal(msg, big + CAS_SC_MAX_MSG, 11);
			}
			seen++;
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(seen, 2);
	free(big);
}

/* ---------------------------------------------------------------------
 * Names
 * --------------------------------------------------------------------- */

static void names(void **state)
{
	(void)state;
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_ECMG, 0x0006), "unknown ECM_channel_id value");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_EMMG, 0x0006), "unknown data_channel_id value");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_ECMG, 0x000B), "not enough control words to compute ECM");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_EMMG, 0x000B), "inconsistent length for DVB parameter");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_ECMG, 0x000E), "unknown parameter_type value");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_EMMG, 0x000E), "unknown client_id value");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_ECMG, 0x0015), "ECM_id value already in use");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_EMMG, 0x0015), "DVB reserved");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_ECMG, 0x0000), "DVB reserved");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_EMMG, 0x7001), "unrecoverable error");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_ECMG, 0x8000), "user defined");
	assert_string_equal(cas_simulcrypt_error_name(CAS_SC_NONE, 0x0001), "DVB reserved");

	assert_string_equal(cas_simulcrypt_msg_name(CAS_SC_ECMG, 0x0201), "CW_provision");
	assert_string_equal(cas_simulcrypt_msg_name(CAS_SC_EMMG, 0x0211), "data_provision");
	assert_string_equal(cas_simulcrypt_msg_name(CAS_SC_EMMG, 0x0118), "stream_BW_allocation");
	assert_string_equal(cas_simulcrypt_msg_name(CAS_SC_ECMG, 0x0211), "unknown message_type");
	assert_string_equal(cas_simulcrypt_param_name(CAS_SC_ECMG, 0x0001), "Super_CAS_id");
	assert_string_equal(cas_simulcrypt_param_name(CAS_SC_EMMG, 0x0001), "client_id");
	assert_string_equal(cas_simulcrypt_param_name(CAS_SC_ECMG, 0x0019), "ECM_id");
	assert_string_equal(cas_simulcrypt_param_name(CAS_SC_EMMG, 0x0019), "unknown parameter_type");
	assert_string_equal(cas_simulcrypt_iface_name(CAS_SC_EMMG), "EMMG<=>MUX");

	assert_int_equal(cas_simulcrypt_iface_of(0x0001), CAS_SC_ECMG);
	assert_int_equal(cas_simulcrypt_iface_of(0x000F), CAS_SC_ECMG);
	assert_int_equal(cas_simulcrypt_iface_of(0x0106), CAS_SC_ECMG);
	assert_int_equal(cas_simulcrypt_iface_of(0x0202), CAS_SC_ECMG);
	assert_int_equal(cas_simulcrypt_iface_of(0x0011), CAS_SC_EMMG);
	assert_int_equal(cas_simulcrypt_iface_of(0x0118), CAS_SC_EMMG);
	assert_int_equal(cas_simulcrypt_iface_of(0x0211), CAS_SC_EMMG);
	assert_int_equal(cas_simulcrypt_iface_of(0x0021), CAS_SC_NONE);
	assert_int_equal(cas_simulcrypt_iface_of(0x0301), CAS_SC_NONE);
	assert_int_equal(cas_simulcrypt_iface_of(0x0401), CAS_SC_NONE);
	assert_int_equal(cas_simulcrypt_iface_of(0x8000), CAS_SC_NONE);

	assert_int_equal(cas_simulcrypt_err_param_length(CAS_SC_ECMG), 0x000F);
	assert_int_equal(cas_simulcrypt_err_param_length(CAS_SC_EMMG), 0x000B);
	assert_int_equal(cas_simulcrypt_err_missing_param(CAS_SC_ECMG), 0x0010);
	assert_int_equal(cas_simulcrypt_err_missing_param(CAS_SC_EMMG), 0x000C);
	assert_int_equal(cas_simulcrypt_err_unknown_param(CAS_SC_ECMG), 0x000E);
	assert_int_equal(cas_simulcrypt_err_unknown_param(CAS_SC_EMMG), 0x000A);
}

/* ---------------------------------------------------------------------
 * pcap writer (the bytes are checked by tshark in test/it/tshark_tlv.sh)
 * --------------------------------------------------------------------- */

static void pcap_layout(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_tlv.XXXXXX";
	char path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/t.pcap", dir);

	struct cas_pcap p;
	struct cas_pcap_tcp c;
	assert_int_equal(cas_pcap_open(&p, path), 0);
	cas_pcap_tcp_init(&c, 0x7F000001, 40000, 0x7F000001, 2222);
	uint8_t data[3000];
	memset(data, 0x5A, sizeof data);
	assert_int_equal(cas_pcap_tcp_send(&p, &c, CAS_PCAP_CLIENT, data, 10), -1);	/* not connected */
	assert_int_equal(cas_pcap_tcp_connect(&p, &c), 0);
	assert_int_equal(cas_pcap_tcp_connect(&p, &c), -1);
	assert_int_equal(cas_pcap_tcp_send(&p, &c, 2, data, 10), -1);
	assert_int_equal(cas_pcap_tcp_send(&p, &c, CAS_PCAP_CLIENT, data, sizeof data), 0);	/* 3 segments + ACK */
	assert_int_equal(cas_pcap_tcp_send(&p, &c, CAS_PCAP_SERVER, data, 62), 0);	/* 1 + ACK */
	assert_int_equal(c.seq[CAS_PCAP_CLIENT], 0x10000000u + 1 + 3000);
	assert_int_equal(c.seq[CAS_PCAP_SERVER], 0x20000000u + 1 + 62);
	assert_int_equal(cas_pcap_tcp_close(&p, &c, CAS_PCAP_CLIENT), 0);
	assert_int_equal(cas_pcap_tcp_close(&p, &c, CAS_PCAP_CLIENT), -1);
	assert_int_equal(cas_pcap_udp(&p, 0x7F000001, 1, 0x7F000001, 2, data, 65508), -1);
	assert_int_equal(cas_pcap_udp(&p, 0x7F000001, 1, 0x7F000001, 2, data, 100), 0);
	assert_int_equal(cas_pcap_close(&p), 0);

	/* 24-byte file header; 16-byte record header + 54 bytes of headers
	 * per TCP packet (3 + 4 + 2 + 3 packets) + the data; UDP 42 + 100 */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 24 + 12 * (16 + 54) + 3000 + 62 + 16 + 42 + 100);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t h[24 + 16 + 54];
	assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
	fclose(f);
	assert_memory_equal(h, "\xD4\xC3\xB2\xA1\x02\x00\x04\x00", 8);
	assert_int_equal(h[20], 1);			/* LINKTYPE_ETHERNET */
	assert_int_equal(h[24 + 8], 54);		/* caplen of the SYN */
	const uint8_t *ip = h + 24 + 16 + 14;
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[9], 6);
	/* a correct IPv4 header sums to 0xFFFF (RFC 1071) */
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	assert_int_equal(sum, 0xFFFF);
	assert_int_equal(ip[20 + 13], 0x02);		/* SYN */
	assert_int_equal(cas_be32(ip + 24), 0x10000000);

	unlink(path);
	rmdir(dir);
	/* an unwritable path */
	assert_int_equal(cas_pcap_open(&p, "/nonexistent/dir/x.pcap"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(worked_examples_build),
		cmocka_unit_test(worked_examples_parse),
		cmocka_unit_test(tvcas_ecmg_scs_parse),
		cmocka_unit_test(tvcas_ecmg_scs_rebuild),
		cmocka_unit_test(tvcas_emmg_mux),
		cmocka_unit_test(framing_errors),
		cmocka_unit_test(version_and_type_errors),
		cmocka_unit_test(too_many_params),
		cmocka_unit_test(ecmg_param_errors),
		cmocka_unit_test(emmg_param_errors),
		cmocka_unit_test(version_rules),
		cmocka_unit_test(unknown_params_ignored),
		cmocka_unit_test(repeated_params),
		cmocka_unit_test(accessors_check_size),
		cmocka_unit_test(builder_strict),
		cmocka_unit_test(framer_chunks),
		cmocka_unit_test(framer_limits),
		cmocka_unit_test(names),
		cmocka_unit_test(pcap_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
