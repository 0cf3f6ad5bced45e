/* PSI long-form sections (ISO/IEC 13818-1 §2.4.4): the MPEG-2 CRC_32, the
 * section builder and parser, CA_descriptor lookup.
 *
 * Golden bytes: the CRC-32/MPEG-2 check value of "123456789" (0x0376E6E7,
 * the CRC catalogue's check value); the PAT is the one ffmpeg's mpegts
 * muxer writes for its default stream (transport_stream_id 1, program 1 ->
 * PMT PID 0x1000, CRC 2AB104B2); the CAT CRC was computed with this
 * independent Python bit-by-bit CRC:
 *   def crc(d):
 *       c = 0xFFFFFFFF
 *       for x in d:
 *           for i in range(8):
 *               bit = ((c >> 31) ^ (x >> (7 - i))) & 1
 *               c = ((c << 1) & 0xFFFFFFFF) ^ (0x04C11DB7 if bit else 0)
 *       return c
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hex.h"
#include "psi.h"

static void unhex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(cas_hex_decode(s, strlen(s), out, n), 0);
}

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(cas_psi_crc32((const uint8_t *)"123456789", 9), 0x0376E6E7);
	assert_int_equal(cas_psi_crc32(NULL, 0), 0xFFFFFFFFu);
	uint8_t pat[16];
	unhex("00B00D0001C100000001F0002AB104B2", pat, sizeof pat);
	assert_int_equal(cas_psi_crc32(pat, 12), 0x2AB104B2);
	/* over a whole section, CRC included, the remainder is 0 */
	assert_int_equal(cas_psi_crc32(pat, 16), 0);
}

static void test_build_pat_cat(void **state)
{
	(void)state;
	uint8_t out[64], want[32];
	const uint8_t pat_body[] = { 0x00, 0x01, 0xF0, 0x00 };
	assert_int_equal(cas_psi_section(CAS_PSI_TABLE_PAT, 1, 0, pat_body, sizeof pat_body,
					 out, sizeof out), 16);
	unhex("00B00D0001C100000001F0002AB104B2", want, 16);
	assert_memory_equal(out, want, 16);

	const uint8_t ca[] = { 0x09, 0x04, 0x0B, 0x00, 0xE1, 0x02 };
	assert_int_equal(cas_psi_section(CAS_PSI_TABLE_CAT, 0xFFFF, 0, ca, sizeof ca,
					 out, sizeof out), 18);
	unhex("01B00FFFFFC1000009040B00E102620AFB4F", want, 18);
	assert_memory_equal(out, want, 18);

	/* version bits */
	assert_int_equal(cas_psi_section(CAS_PSI_TABLE_PAT, 1, 31, pat_body, 4, out, sizeof out), 16);
	assert_int_equal(out[5], 0xFF);
}

static void test_build_errors(void **state)
{
	(void)state;
	uint8_t out[2048], body[1100];
	memset(body, 0, sizeof body);
	assert_int_equal(cas_psi_section(0, 0, 32, body, 4, out, sizeof out), -1);
	assert_int_equal(cas_psi_section(0, 0, 0, body, 4, out, 15), -1);
	assert_int_equal(cas_psi_section(0, 0, 0, body, 4, out, 16), 16);
	/* section_length at most 1021: body at most 1012 */
	assert_int_equal(cas_psi_section(2, 1, 0, body, 1012, out, sizeof out), 1024);
	assert_int_equal(cas_psi_section(2, 1, 0, body, 1013, out, sizeof out), -1);
	assert_int_equal(cas_psi_section(2, 1, 0, NULL, 1, out, sizeof out), -1);
	assert_int_equal(cas_psi_section(2, 1, 0, NULL, 0, out, sizeof out), 12);
}

static void test_parse(void **state)
{
	(void)state;
	uint8_t pkt[188];
	struct cas_psi_hdr h;
	memset(pkt, 0xFF, sizeof pkt);
	unhex("01B00FFFFFC1000009040B00E102620AFB4F", pkt, 18);
	/* stuffing after the section is ignored */
	assert_int_equal(cas_psi_parse(pkt, sizeof pkt, &h), 18);
	assert_int_equal(h.table_id, CAS_PSI_TABLE_CAT);
	assert_int_equal(h.id_ext, 0xFFFF);
	assert_int_equal(h.version, 0);
	assert_int_equal(h.current, 1);
	assert_int_equal(h.section_number, 0);
	assert_int_equal(h.last_section_number, 0);
	assert_ptr_equal(h.body, pkt + 8);
	assert_int_equal(h.body_len, 6);
	uint16_t pid = 0;
	assert_int_equal(cas_psi_find_ca(h.body, h.body_len, 0x0B00, &pid), 0);
	assert_int_equal(pid, 0x102);
	assert_int_equal(cas_psi_find_ca(h.body, h.body_len, 0x0B01, &pid), 1);

	/* one bit flipped anywhere: CRC error */
	for (size_t i = 0; i < 18; i++) {
		pkt[i] ^= 0x10;
		assert_int_equal(cas_psi_parse(pkt, sizeof pkt, &h), -1);
		pkt[i] ^= 0x10;
	}
	/* shorter than section_length says */
	assert_int_equal(cas_psi_parse(pkt, 17, &h), -1);
	assert_int_equal(cas_psi_parse(pkt, 2, &h), -1);
	/* section_syntax_indicator 0 (a private short section) */
	const uint8_t ecm[] = { 0x80, 0x70, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(cas_psi_parse(ecm, sizeof ecm, &h), -1);
	/* section_length below the 9 bytes of header and CRC */
	const uint8_t tiny[] = { 0x00, 0xB0, 0x04, 0, 0, 0, 0 };
	assert_int_equal(cas_psi_parse(tiny, sizeof tiny, &h), -1);
}

static void test_find_ca(void **state)
{
	(void)state;
	uint16_t pid = 0;
	/* another descriptor first, then a CA_descriptor with private data */
	const uint8_t loop[] = { 0x0A, 0x04, 'e', 'n', 'g', 0x00,
				 0x09, 0x06, 0x0B, 0x00, 0xFF, 0xFF, 0x01, 0x02,
				 0x09, 0x04, 0x4A, 0xE6, 0xE0, 0x30 };
	assert_int_equal(cas_psi_find_ca(loop, sizeof loop, 0x0B00, &pid), 0);
	assert_int_equal(pid, 0x1FFF);
	assert_int_equal(cas_psi_find_ca(loop, sizeof loop, 0x4AE6, &pid), 0);
	assert_int_equal(pid, 0x0030);
	assert_int_equal(cas_psi_find_ca(loop, 0, 0x0B00, &pid), 1);
	/* a descriptor running past the loop */
	assert_int_equal(cas_psi_find_ca(loop, sizeof loop - 1, 0x4AE6, &pid), -1);
	/* a CA_descriptor too short to hold a PID is skipped */
	const uint8_t shortca[] = { 0x09, 0x02, 0x0B, 0x00 };
	assert_int_equal(cas_psi_find_ca(shortca, sizeof shortca, 0x0B00, &pid), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_build_pat_cat),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_find_ca),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
