/*
 * tlvpcap: writes a pcap of a complete ECMG<=>SCS session (TCP port 2222)
 * and a complete EMMG<=>MUX session (TCP port 3333, plus data_provision over
 * UDP to port 3333), built with the libcas TLV builder, for
 * test/it/tshark_tlv.sh to decode with tshark (an independent dissector).
 *
 * Usage: tlvpcap FILE.pcap
 *        tlvpcap --broken FILE.pcap   (negative control: one ECMG
 *        channel_test whose ECM_channel_id TLV claims 5 value bytes where
 *        the message has 3, which a dissector must flag as malformed)
 * Prints, one per line, "PORT MESSAGE_TYPE" (hex) for every SimulCrypt
 * message in capture order, which the script compares with what tshark
 * decodes.  Every message is also checked with cas_tlv_decode before it is
 * written, so the capture only holds messages our own validator accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "pcap.h"
#include "simulcrypt.h"
#include "tlv.h"

#define ECMG_PORT 2222
#define EMMG_PORT 3333
#define SCS_IP 0x0A000001	/* 10.0.0.1 */
#define ECMG_IP 0x0A000002	/* 10.0.0.2 */
#define EMMG_IP 0x0A000003	/* 10.0.0.3 */
#define MUX_IP 0x0A000004	/* 10.0.0.4 */

struct out {
	struct cas_pcap pcap;
	struct cas_wbuf w;	/* messages queued for the next TCP send */
	uint8_t buf[16384];
	int failed;
};

static void check(struct out *o, int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "tlvpcap: %s failed\n", what);
		o->failed = 1;
	}
}

/* Validates the message just built at `at` and prints its port and type. */
static void done(struct out *o, size_t at, enum cas_sc_iface iface, unsigned port)
{
	check(o, cas_tlv_end(&o->w, at) == 0, "cas_tlv_end");
	struct cas_buf b;
	struct cas_tlv_msg m;
	struct cas_tlv_error e;
	cas_buf_init(&b, o->w.data + at, o->w.len - at);
	if (cas_tlv_decode(&m, &b, iface, CAS_TLV_VERSION(2), &e) < 0) {
		fprintf(stderr, "tlvpcap: message 0x%04X invalid: 0x%04X %s, info 0x%04X\n",
			m.type, e.status, cas_simulcrypt_error_name(iface, e.status), e.info);
		o->failed = 1;
	}
	printf("%u 0x%04x\n", port, m.type);
}

/* Sends everything queued as one TCP write from `from`. */
static void flush(struct out *o, struct cas_pcap_tcp *c, int from)
{
	check(o, cas_pcap_tcp_send(&o->pcap, c, from, o->w.data, o->w.len) == 0, "tcp send");
	cas_wbuf_init(&o->w, o->buf, sizeof o->buf);
}

static void ecmg_session(struct out *o)
{
	struct cas_pcap_tcp c;
	struct cas_wbuf *w = &o->w;
	size_t at;
	const enum cas_sc_iface I = CAS_SC_ECMG;
	const int SCS = CAS_PCAP_CLIENT, ECMG = CAS_PCAP_SERVER;

	cas_pcap_tcp_init(&c, SCS_IP, 40001, ECMG_IP, ECMG_PORT);
	check(o, cas_pcap_tcp_connect(&o->pcap, &c) == 0, "connect");

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CHANNEL_SETUP);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u32(w, CAS_ECMG_PARAM_SUPER_CAS_ID, 0x4AE60000);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, SCS);

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CHANNEL_STATUS);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u8(w, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_DELAY_START, (uint16_t)-200);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_DELAY_STOP, 200);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_AC_DELAY_START, 200);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_AC_DELAY_STOP, 200);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_TRANSITION_DELAY_START, (uint16_t)-500);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_TRANSITION_DELAY_STOP, 0);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_REP_PERIOD, 100);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_MAX_STREAMS, 0);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_MIN_CP_DURATION, 10);
	cas_tlv_put_u8(w, CAS_ECMG_PARAM_LEAD_CW, 1);
	cas_tlv_put_u8(w, CAS_ECMG_PARAM_CW_PER_MSG, 2);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_MAX_COMP_TIME, 100);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, ECMG);

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_STREAM_SETUP);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_NOMINAL_CP_DURATION, 100);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, SCS);

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_STREAM_STATUS);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_ID, 1);
	cas_tlv_put_u8(w, CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, 0);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, ECMG);

	/* Two crypto-periods; the second CW_provision is coalesced with a
	 * channel_test in one TCP write, as TCP may do. */
	for (unsigned cp = 0; cp < 2; cp++) {
		uint8_t comb[10], ts[188];
		at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CW_PROVISION);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, (uint16_t)cp);
		for (unsigned k = 0; k < 2; k++) {
			cas_put_be16(comb, (uint16_t)(cp + k));
			memset(comb + 2, 0x11 * (int)(cp + k + 1), 8);
			cas_tlv_put_bytes(w, CAS_ECMG_PARAM_CP_CW_COMBINATION, comb, sizeof comb);
		}
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_DURATION, 100);
		cas_tlv_put_bytes(w, CAS_ECMG_PARAM_ACCESS_CRITERIA, "\x00\x00\x00\x03", 4);
		done(o, at, I, ECMG_PORT);
		if (cp == 1) {
			at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CHANNEL_TEST);
			cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
			done(o, at, I, ECMG_PORT);
		}
		flush(o, &c, SCS);

		/* One TS packet carrying a short ECM section (flag 1). */
		memset(ts, 0xFF, sizeof ts);
		ts[0] = 0x47;
		ts[1] = 0x5F;
		ts[2] = 0xFF;
		ts[3] = 0x10;
		ts[4] = 0x00;		/* pointer_field */
		ts[5] = (uint8_t)(0x80 | (cp & 1));
		ts[6] = 0x70;
		ts[7] = 0x04;
		memset(ts + 8, 0xA0 + (int)cp, 4);
		at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_ECM_RESPONSE);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
		cas_tlv_put_u16(w, CAS_ECMG_PARAM_CP_NUMBER, (uint16_t)cp);
		cas_tlv_put_bytes(w, CAS_ECMG_PARAM_ECM_DATAGRAM, ts, sizeof ts);
		done(o, at, I, ECMG_PORT);
		flush(o, &c, ECMG);
	}

	/* the channel_status answering the channel_test */
	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CHANNEL_STATUS);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u8(w, CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_DELAY_START, 200);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_DELAY_STOP, 200);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_REP_PERIOD, 100);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_MAX_STREAMS, 0);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_MIN_CP_DURATION, 10);
	cas_tlv_put_u8(w, CAS_ECMG_PARAM_LEAD_CW, 1);
	cas_tlv_put_u8(w, CAS_ECMG_PARAM_CW_PER_MSG, 2);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_MAX_COMP_TIME, 100);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, ECMG);

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_STREAM_TEST);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, SCS);

	/* An ECMG-side error on an unknown stream, then a channel_error
	 * listing several codes, to check how tshark names them. */
	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_STREAM_ERROR);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	cas_tlv_put_error(w, CAS_ECMG_ERR_UNKNOWN_ECM_STREAM_ID, 0x0001);
	done(o, at, I, ECMG_PORT);
	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CHANNEL_ERROR);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_error(w, CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID, 0x0005);
	cas_tlv_put_error(w, CAS_ECMG_ERR_INCONSISTENT_PARAM_LENGTH, 0x0011);
	cas_tlv_put_error(w, CAS_ECMG_ERR_MISSING_PARAM, CAS_ECMG_PARAM_ECM_ID);
	cas_tlv_put_error(w, CAS_ECMG_ERR_NOT_ENOUGH_CW, 0x0000);
	cas_tlv_put_error(w, CAS_ECMG_ERR_UNRECOVERABLE, 0x0000);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, ECMG);

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_STREAM_CLOSE_REQUEST);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, SCS);

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_STREAM_CLOSE_RESPONSE);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_STREAM_ID, 1);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, ECMG);

	at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CHANNEL_CLOSE);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	done(o, at, I, ECMG_PORT);
	flush(o, &c, SCS);
	check(o, cas_pcap_tcp_close(&o->pcap, &c, SCS) == 0, "close");
}

/* The EMMG header parameters every EMMG message starts with. */
static size_t emmg_begin(struct cas_wbuf *w, uint16_t type, int stream)
{
	size_t at = cas_tlv_begin(w, 2, type);
	cas_tlv_put_u32(w, CAS_EMMG_PARAM_CLIENT_ID, 0x0B000001);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_CHANNEL_ID, 1);
	if (stream)
		cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_STREAM_ID, 1);
	return at;
}

static void emmg_session(struct out *o)
{
	struct cas_pcap_tcp c;
	struct cas_wbuf *w = &o->w;
	size_t at;
	const enum cas_sc_iface I = CAS_SC_EMMG;
	const int EMMG = CAS_PCAP_CLIENT, MUX = CAS_PCAP_SERVER;
	/* the first TVCAS 3 EMM section (tvcas3-vectors.json emm[0]) */
	static const char emm_hex[] =
		"82703B0000007D2B75007032641099CD8027649CC90DA931E594C131311"
		"43FA48C30FF4BCFAAEED91C69AB4EF1E8991A631E9DE29880C6CAAAF43E2CFF9F";
	uint8_t emm[62];
	check(o, cas_hex_decode(emm_hex, strlen(emm_hex), emm, sizeof emm) == 0, "hex");

	cas_pcap_tcp_init(&c, EMMG_IP, 40002, MUX_IP, EMMG_PORT);
	check(o, cas_pcap_tcp_connect(&o->pcap, &c) == 0, "connect");

	at = emmg_begin(w, CAS_EMMG_MSG_CHANNEL_SETUP, 0);
	cas_tlv_put_u8(w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, 0);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);

	at = emmg_begin(w, CAS_EMMG_MSG_CHANNEL_STATUS, 0);
	cas_tlv_put_u8(w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, 0);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, MUX);

	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_SETUP, 1);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_ID, 1);
	cas_tlv_put_u8(w, CAS_EMMG_PARAM_DATA_TYPE, CAS_EMMG_DATA_TYPE_EMM);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);

	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_STATUS, 1);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_ID, 1);
	cas_tlv_put_u8(w, CAS_EMMG_PARAM_DATA_TYPE, CAS_EMMG_DATA_TYPE_EMM);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, MUX);

	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_BW_REQUEST, 1);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_BANDWIDTH, 64);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);

	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_BW_ALLOCATION, 1);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_BANDWIDTH, 64);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, MUX);

	/* data_provision on TCP: one EMM, then 24 EMMs in one message so
	 * that it spans two TCP segments (tshark must reassemble). */
	at = emmg_begin(w, CAS_EMMG_MSG_DATA_PROVISION, 1);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_ID, 1);
	cas_tlv_put_bytes(w, CAS_EMMG_PARAM_DATAGRAM, emm, sizeof emm);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);
	at = emmg_begin(w, CAS_EMMG_MSG_DATA_PROVISION, 1);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_ID, 1);
	for (int k = 0; k < 24; k++)
		cas_tlv_put_bytes(w, CAS_EMMG_PARAM_DATAGRAM, emm, sizeof emm);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);

	/* data_provision over UDP, without channel/stream ids (v2+) */
	at = cas_tlv_begin(w, 2, CAS_EMMG_MSG_DATA_PROVISION);
	cas_tlv_put_u32(w, CAS_EMMG_PARAM_CLIENT_ID, 0x0B000001);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_ID, 1);
	cas_tlv_put_bytes(w, CAS_EMMG_PARAM_DATAGRAM, emm, sizeof emm);
	done(o, at, I, EMMG_PORT);
	check(o, cas_pcap_udp(&o->pcap, EMMG_IP, 40003, MUX_IP, EMMG_PORT,
			      o->w.data, o->w.len) == 0, "udp");
	cas_wbuf_init(&o->w, o->buf, sizeof o->buf);

	at = emmg_begin(w, CAS_EMMG_MSG_CHANNEL_TEST, 0);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);
	at = emmg_begin(w, CAS_EMMG_MSG_CHANNEL_STATUS, 0);
	cas_tlv_put_u8(w, CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, 0);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, MUX);

	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_TEST, 1);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, MUX);
	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_STATUS, 1);
	cas_tlv_put_u16(w, CAS_EMMG_PARAM_DATA_ID, 1);
	cas_tlv_put_u8(w, CAS_EMMG_PARAM_DATA_TYPE, CAS_EMMG_DATA_TYPE_EMM);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);

	/* errors with the EMMG-specific codes */
	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_ERROR, 1);
	cas_tlv_put_error(w, CAS_EMMG_ERR_INCONSISTENT_PARAM_LENGTH, 0x0016);
	cas_tlv_put_error(w, CAS_EMMG_ERR_MISSING_PARAM, CAS_EMMG_PARAM_DATA_ID);
	cas_tlv_put_error(w, CAS_EMMG_ERR_EXCEEDED_BANDWIDTH, 0x0000);
	done(o, at, I, EMMG_PORT);
	at = emmg_begin(w, CAS_EMMG_MSG_CHANNEL_ERROR, 0);
	cas_tlv_put_error(w, CAS_EMMG_ERR_UNKNOWN_CLIENT_ID, 0x0005);
	cas_tlv_put_error(w, CAS_EMMG_ERR_UNKNOWN_PARAM_TYPE, 0x0020);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, MUX);

	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_CLOSE_REQUEST, 1);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);
	at = emmg_begin(w, CAS_EMMG_MSG_STREAM_CLOSE_RESPONSE, 1);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, MUX);
	at = emmg_begin(w, CAS_EMMG_MSG_CHANNEL_CLOSE, 0);
	done(o, at, I, EMMG_PORT);
	flush(o, &c, EMMG);
	check(o, cas_pcap_tcp_close(&o->pcap, &c, EMMG) == 0, "close");
}

static void broken_session(struct out *o)
{
	struct cas_pcap_tcp c;
	struct cas_wbuf *w = &o->w;
	size_t at = cas_tlv_begin(w, 2, CAS_ECMG_MSG_CHANNEL_TEST);
	cas_tlv_put_u16(w, CAS_ECMG_PARAM_ECM_CHANNEL_ID, 1);
	cas_wbuf_put_u8(w, 0xAA);
	check(o, cas_tlv_end(w, at) == 0, "cas_tlv_end");
	w->data[at + 8] = 5;	/* parameter_length 2 -> 5: overruns the message */
	cas_pcap_tcp_init(&c, SCS_IP, 40001, ECMG_IP, ECMG_PORT);
	check(o, cas_pcap_tcp_connect(&o->pcap, &c) == 0, "connect");
	flush(o, &c, CAS_PCAP_CLIENT);
	check(o, cas_pcap_tcp_close(&o->pcap, &c, CAS_PCAP_CLIENT) == 0, "close");
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	static struct out o;
	int broken = argc == 3 && strcmp(argv[1], "--broken") == 0;
	if (argc != 2 && !broken) {
		fprintf(stderr, "usage: tlvpcap [--broken] FILE.pcap\n");
		return 100;
	}
	if (cas_pcap_open(&o.pcap, argv[argc - 1]) < 0) {
		perror(argv[argc - 1]);
		return 111;
	}
	cas_wbuf_init(&o.w, o.buf, sizeof o.buf);
	if (broken) {
		broken_session(&o);
	} else {
		ecmg_session(&o);
		emmg_session(&o);
	}
	check(&o, cas_pcap_close(&o.pcap) == 0, "close pcap");
	return o.failed ? 2 : 0;
}
