/* One MPEG section in 188-byte TS packets (ISO/IEC 13818-1 §2.4.3): the
 * exact packet bytes, continuity counters, multi-packet sections, and the
 * extractor's checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hex.h"
#include "ts.h"

#include "tvcas3_vectors.h"

/* A private section of len bytes: table_id, 0x70 | length, counting body. */
static void make_section(uint8_t *s, size_t len, uint8_t table)
{
	s[0] = table;
	s[1] = (uint8_t)(0x70 | ((len - 3) >> 8));
	s[2] = (uint8_t)(len - 3);
	for (size_t i = 3; i < len; i++)
		s[i] = (uint8_t)(i * 7 + 1);
}

static void test_packets_for(void **state)
{
	(void)state;
	assert_int_equal(cas_ts_packets_for(0), 0);
	assert_int_equal(cas_ts_packets_for(1), 1);
	assert_int_equal(cas_ts_packets_for(55), 1);
	assert_int_equal(cas_ts_packets_for(183), 1);
	assert_int_equal(cas_ts_packets_for(184), 2);
	assert_int_equal(cas_ts_packets_for(183 + 184), 2);
	assert_int_equal(cas_ts_packets_for(183 + 184 + 1), 3);
	assert_int_equal(cas_ts_packets_for(4098), 23);
}

/* The TVCAS 3 ECM in one packet, byte for byte. */
static void test_ecm_one_packet(void **state)
{
	(void)state;
	uint8_t sec[55], pkt[188], want[188];
	assert_int_equal(cas_hex_decode(V_ECM[4].section, 110, sec, 55), 0);
	uint8_t cc = 7;
	assert_int_equal(cas_ts_packetize(sec, 55, CAS_TS_PID_PLACEHOLDER, &cc, pkt, sizeof pkt), 188);
	assert_int_equal(cc, 8);

	/* sync, PUSI + PID 1FFF, payload only + CC 7, pointer_field 0 */
	memset(want, 0xFF, sizeof want);
	want[0] = 0x47;
	want[1] = 0x5F;
	want[2] = 0xFF;
	want[3] = 0x17;
	want[4] = 0x00;
	memcpy(want + 5, sec, 55);
	assert_memory_equal(pkt, want, 188);
	/* tvcas3.md §2.1: the datagram's ciphertext starts at packet byte 12 */
	assert_memory_equal(pkt + 12, sec + 7, 48);

	uint8_t back[4098];
	uint16_t pid = 0;
	assert_int_equal(cas_ts_extract(pkt, 188, back, sizeof back, &pid), 55);
	assert_int_equal(pid, 0x1FFF);
	assert_memory_equal(back, sec, 55);
}

static void test_cc_wraps_and_pid(void **state)
{
	(void)state;
	uint8_t sec[62], pkt[188];
	assert_int_equal(cas_hex_decode(V_EMM[0].section, 124, sec, 62), 0);
	uint8_t cc = 15;
	assert_int_equal(cas_ts_packetize(sec, 62, 0x0100, &cc, pkt, sizeof pkt), 188);
	assert_int_equal(pkt[1], 0x41);
	assert_int_equal(pkt[2], 0x00);
	assert_int_equal(pkt[3], 0x1F);
	assert_int_equal(cc, 0);
	assert_int_equal(cas_ts_packetize(sec, 62, 0x0100, &cc, pkt, sizeof pkt), 188);
	assert_int_equal(pkt[3], 0x10);
	assert_int_equal(cc, 1);
	/* only the low 4 bits of *cc count */
	cc = 0xF3;
	assert_int_equal(cas_ts_packetize(sec, 62, 0x0100, &cc, pkt, sizeof pkt), 188);
	assert_int_equal(pkt[3], 0x13);
	assert_int_equal(cc, 4);
}

static void test_multi_packet(void **state)
{
	(void)state;
	uint8_t sec[400], pkts[3 * 188], back[4098];
	make_section(sec, sizeof sec, 0x82);
	uint8_t cc = 14;
	assert_int_equal(cas_ts_packetize(sec, sizeof sec, 0x0ABC, &cc, pkts, sizeof pkts), 3 * 188);
	assert_int_equal(cc, 1);
	for (int i = 0; i < 3; i++) {
		const uint8_t *p = pkts + i * 188;
		assert_int_equal(p[0], 0x47);
		assert_int_equal(p[1], (i == 0 ? 0x40 : 0x00) | 0x0A);
		assert_int_equal(p[2], 0xBC);
		assert_int_equal(p[3], 0x10 | ((14 + i) & 15));
	}
	assert_int_equal(pkts[4], 0);
	assert_memory_equal(pkts + 5, sec, 183);
	assert_memory_equal(pkts + 188 + 4, sec + 183, 184);
	assert_memory_equal(pkts + 2 * 188 + 4, sec + 367, 33);
	for (size_t i = 2 * 188 + 4 + 33; i < sizeof pkts; i++)
		assert_int_equal(pkts[i], 0xFF);

	uint16_t pid;
	assert_int_equal(cas_ts_extract(pkts, sizeof pkts, back, sizeof back, &pid), 400);
	assert_int_equal(pid, 0x0ABC);
	assert_memory_equal(back, sec, 400);
}

static void test_round_trip_lengths(void **state)
{
	(void)state;
	static uint8_t sec[CAS_TS_SECTION_MAX], pkts[23 * 188], back[CAS_TS_SECTION_MAX];
	static const size_t lens[] = { 3, 4, 55, 62, 182, 183, 184, 366, 367, 368, 369,
				       1000, 4000, CAS_TS_SECTION_MAX };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t len = lens[i];
		make_section(sec, len, 0x80);
		uint8_t cc = (uint8_t)i;
		long n = cas_ts_packetize(sec, len, 0x0020, &cc, pkts, sizeof pkts);
		assert_int_equal(n, (long)(cas_ts_packets_for(len) * 188));
		assert_int_equal(cc, (i + cas_ts_packets_for(len)) & 15);
		assert_int_equal(cas_ts_extract(pkts, (size_t)n, back, sizeof back, NULL), (long)len);
		assert_memory_equal(back, sec, len);
	}
}

static void test_packetize_errors(void **state)
{
	(void)state;
	uint8_t sec[400], pkts[3 * 188];
	make_section(sec, sizeof sec, 0x82);
	uint8_t cc = 5;
	/* too small a buffer: nothing written, cc unchanged */
	memset(pkts, 0xAB, sizeof pkts);
	assert_int_equal(cas_ts_packetize(sec, sizeof sec, 0x100, &cc, pkts, 3 * 188 - 1), -1);
	assert_int_equal(cc, 5);
	/* length other than section_length + 3 */
	assert_int_equal(cas_ts_packetize(sec, sizeof sec - 1, 0x100, &cc, pkts, sizeof pkts), -1);
	assert_int_equal(cas_ts_packetize(sec, 2, 0x100, &cc, pkts, sizeof pkts), -1);
	assert_int_equal(cas_ts_packetize(sec, 0, 0x100, &cc, pkts, sizeof pkts), -1);
	assert_int_equal(cas_ts_packetize(NULL, 55, 0x100, &cc, pkts, sizeof pkts), -1);
	/* PID out of range */
	assert_int_equal(cas_ts_packetize(sec, sizeof sec, 0x2000, &cc, pkts, sizeof pkts), -1);
	assert_int_equal(cc, 5);
}

static long packetize_400(uint8_t *sec, uint8_t *pkts)
{
	make_section(sec, 400, 0x82);
	uint8_t cc = 0;
	return cas_ts_packetize(sec, 400, 0x0101, &cc, pkts, 3 * 188);
}

static void test_extract_errors(void **state)
{
	(void)state;
	uint8_t sec[400], pkts[3 * 188], bad[3 * 188], back[4098];
	assert_int_equal(packetize_400(sec, pkts), 3 * 188);

	/* not whole packets; empty */
	assert_int_equal(cas_ts_extract(pkts, 187, back, sizeof back, NULL), -1);
	assert_int_equal(cas_ts_extract(pkts, 0, back, sizeof back, NULL), -1);
	/* truncated: the section needs 3 packets */
	assert_int_equal(cas_ts_extract(pkts, 2 * 188, back, sizeof back, NULL), -1);
	/* output too small */
	assert_int_equal(cas_ts_extract(pkts, sizeof pkts, back, 399, NULL), -1);

	struct { size_t off; uint8_t val; const char *what; } cases[] = {
		{ 188, 0x46, "sync byte" },
		{ 1, 0x01, "no payload_unit_start on the first packet" },
		{ 188 + 1, 0x41, "payload_unit_start on a continuation" },
		{ 188 + 2, 0x02, "PID change" },
		{ 188 + 3, 0x13, "continuity counter jump" },
		{ 3, 0x90, "scrambled" },
		{ 1, 0xC1, "transport_error_indicator" },
		{ 188 + 3, 0x21, "adaptation field only, no payload" },
		{ 3, 0x00, "reserved adaptation_field_control" },
		{ 4, 0xC0, "pointer_field past the packet" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(bad, pkts, sizeof bad);
		bad[cases[i].off] = cases[i].val;
		if (cas_ts_extract(bad, sizeof bad, back, sizeof back, NULL) != -1)
			fail_msg("accepted: %s", cases[i].what);
	}

	/* a stuffing packet: no section starts */
	memset(bad, 0xFF, 188);
	bad[0] = 0x47;
	bad[1] = 0x5F;
	bad[2] = 0xFF;
	bad[3] = 0x10;
	bad[4] = 0x00;
	assert_int_equal(cas_ts_extract(bad, 188, back, sizeof back, NULL), -1);

	/* a packet beyond the end of the section */
	uint8_t sec55[55], four[2 * 188];
	assert_int_equal(cas_hex_decode(V_ECM[0].section, 110, sec55, 55), 0);
	uint8_t cc = 0;
	assert_int_equal(cas_ts_packetize(sec55, 55, 0x1FFF, &cc, four, sizeof four), 188);
	memcpy(four + 188, four, 188);
	four[188 + 1] = 0x1F;		/* continuation, PUSI 0 */
	four[188 + 3] = 0x11;
	assert_int_equal(cas_ts_extract(four, sizeof four, back, sizeof back, NULL), -1);
}

/* Lenient where the standard allows: an adaptation field and a non-zero
 * pointer_field are skipped. */
static void test_extract_adaptation_and_pointer(void **state)
{
	(void)state;
	uint8_t sec[55], pkt[188], back[4098];
	assert_int_equal(cas_hex_decode(V_ECM[1].section, 110, sec, 55), 0);
	memset(pkt, 0xFF, sizeof pkt);
	pkt[0] = 0x47;
	pkt[1] = 0x40;
	pkt[2] = 0x21;
	pkt[3] = 0x35;		/* adaptation field + payload, CC 5 */
	pkt[4] = 7;		/* adaptation_field_length */
	pkt[5] = 0x00;		/* flags; the rest is stuffing */
	pkt[12] = 3;		/* pointer_field: 3 bytes of a previous section */
	pkt[13] = 0x11;
	pkt[14] = 0x22;
	pkt[15] = 0x33;
	memcpy(pkt + 16, sec, 55);
	uint16_t pid;
	assert_int_equal(cas_ts_extract(pkt, 188, back, sizeof back, &pid), 55);
	assert_int_equal(pid, 0x0021);
	assert_memory_equal(back, sec, 55);

	/* the section does not fit after the adaptation field */
	pkt[4] = 150;
	assert_int_equal(cas_ts_extract(pkt, 188, back, sizeof back, &pid), -1);
	/* the adaptation field runs past the packet */
	pkt[4] = 200;
	assert_int_equal(cas_ts_extract(pkt, 188, back, sizeof back, &pid), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packets_for),
		cmocka_unit_test(test_ecm_one_packet),
		cmocka_unit_test(test_cc_wraps_and_pid),
		cmocka_unit_test(test_multi_packet),
		cmocka_unit_test(test_round_trip_lengths),
		cmocka_unit_test(test_packetize_errors),
		cmocka_unit_test(test_extract_errors),
		cmocka_unit_test(test_extract_adaptation_and_pointer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
