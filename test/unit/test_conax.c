/* Host-side Conax answer parsers (conax.h) against the answers documented
 * in reference/tvcas3.md §6 (the FreeCAS / TVCAS 3 card) and
 * reference/conax-card.md §2.3-§2.6 (OSCam's INS 82 command, the Digitenne
 * card's addresses, Conax date examples), plus malformed answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "conax.h"
#include "hex.h"

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;
	assert_true(n <= cap);
	assert_int_equal(cas_hex_decode(s, strlen(s), out, n), 0);
	return n;
}

/* tvcas3.md §6: 20 01 40, 28 02 0B 00, 2F 02 00 2C, 30 01 02, 23 01 02 */
static void test_init_tvcas(void **state)
{
	(void)state;
	uint8_t b[64];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	size_t n = unhex("20014028020B002F02002C300102230102", b, sizeof b);
	assert_int_equal(cas_conax_parse_init(b, n, &c), 0);
	assert_true(c.has_version);
	assert_int_equal(c.version, 0x40);
	assert_true(c.has_caid);
	assert_int_equal(c.caid, 0x0B00);
	/* a CAID other than 0B00 overrides it (conax-card.md §2.3) */
	memset(&c, 0, sizeof c);
	n = unhex("28020B0220010A", b, sizeof b);
	assert_int_equal(cas_conax_parse_init(b, n, &c), 0);
	assert_int_equal(c.caid, 0x0B02);
	assert_int_equal(c.version, 10);
	/* empty answer: nothing known, not an error */
	memset(&c, 0, sizeof c);
	assert_int_equal(cas_conax_parse_init(b, 0, &c), 0);
	assert_false(c.has_version);
	assert_false(c.has_caid);
}

static void test_init_malformed(void **state)
{
	(void)state;
	uint8_t b[16];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	size_t n = unhex("200240", b, sizeof b);	/* length past the end */
	assert_int_equal(cas_conax_parse_init(b, n, &c), -1);
	n = unhex("20", b, sizeof b);		/* tag without length */
	assert_int_equal(cas_conax_parse_init(b, n, &c), -1);
}

/* tvcas3.md §6 for BIN #1: UA 7D2B7500 (2100000000), SA 4B BE 8C */
static void test_addr_tvcas(void **state)
{
	(void)state;
	uint8_t b[64];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	size_t n = unhex("221809040B00E03023070000007D2B75002307000000004BBE8C", b, sizeof b);
	assert_int_equal(cas_conax_parse_addr(b, n, &c), 0);
	assert_true(c.has_serial);
	assert_int_equal(c.serial, 2100000000u);
	assert_int_equal(c.n_sa, 1);
	assert_memory_equal(c.sa[0], "\x4B\xBE\x8C", 3);
}

/* conax-card.md §2.4: the Digitenne card, hex serial 551F0EC6
 * (1428098758), SA 002A8F87 */
static void test_addr_digitenne(void **state)
{
	(void)state;
	uint8_t b[64];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	size_t n = unhex("221809040B00E0302307000000551F0EC62307000000002A8F87", b, sizeof b);
	assert_int_equal(cas_conax_parse_addr(b, n, &c), 0);
	assert_int_equal(c.serial, 1428098758u);
	assert_int_equal(c.n_sa, 1);
	assert_memory_equal(c.sa[0], "\x2A\x8F\x87", 3);
}

static void test_addr_malformed(void **state)
{
	(void)state;
	uint8_t b[64];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	/* not 22 */
	size_t n = unhex("231809040B00E030", b, sizeof b);
	assert_int_equal(cas_conax_parse_addr(b, n, &c), -1);
	/* 22 LL longer than the answer */
	n = unhex("221809040B00E030", b, sizeof b);
	assert_int_equal(cas_conax_parse_addr(b, n, &c), -1);
	/* inner 23 07 cut short */
	n = unhex("2206230700007D2B", b, sizeof b);
	assert_int_equal(cas_conax_parse_addr(b, n, &c), -1);
	assert_false(c.has_serial);
	/* no unique address at all: parses, has_serial stays 0 */
	n = unhex("2209230700000000112233", b, sizeof b);
	assert_int_equal(cas_conax_parse_addr(b, n, &c), 0);
	assert_false(c.has_serial);
	assert_int_equal(c.n_sa, 1);
}

/* tvcas3.md §6 record for BIN #1: name "TVCAS.COM", 2024-01-01 (61 41) ..
 * 2024-12-31 (7F 4C), AC 00000001, then the counters 00 FF FF 00 */
static void test_subs_tvcas(void **state)
{
	(void)state;
	uint8_t b[64];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	size_t n = unhex("322F1010010F54564341532E434F4D202020202020"
			 "3002614130027F4C200400000001"
			 "3002614130027F4C200403E6E600", b, sizeof b);
	assert_int_equal(n, 49);
	assert_int_equal(cas_conax_parse_subs(b, n, &c), 0);
	assert_int_equal(c.n_pk, 1);
	assert_int_equal(c.pk[0].id, 0x1010);
	assert_string_equal(c.pk[0].name, "TVCAS.COM");
	assert_int_equal(c.pk[0].n, 1);
	assert_int_equal(c.pk[0].e[0].dates, 2);
	assert_memory_equal(c.pk[0].e[0].start, "\x61\x41", 2);
	assert_memory_equal(c.pk[0].e[0].end, "\x7F\x4C", 2);
	assert_true(c.pk[0].e[0].has_classes);
	assert_int_equal(c.pk[0].e[0].classes, 1);
	assert_true(c.counters);
	assert_int_equal(c.emm_count, 3);
	assert_int_equal(c.emm_sum_calc, 0xE6);
	assert_int_equal(c.emm_sum_recv, 0xE6);
}

/* An ordinary Conax card: two package records, one with two periods; the
 * second period's dates differ, so nothing is taken for counters.  OSCam's
 * 90 04 classes tag is read like 20 04. */
static void test_subs_generic(void **state)
{
	(void)state;
	uint8_t b[128];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	size_t n = unhex("3218" "0001" "01064261736963" "2E"
			 "3002414130024F4C" "200400000003"
			 "3223" "0002" "0103585858"
			 "3002614130027F4C" "9004000000F0"
			 "300241413002414C" "200480000000", b, sizeof b);
	assert_int_equal(cas_conax_parse_subs(b, n, &c), 0);
	assert_int_equal(c.n_pk, 2);
	assert_false(c.counters);
	assert_int_equal(c.pk[0].id, 1);
	assert_string_equal(c.pk[0].name, "Basic.");
	assert_int_equal(c.pk[0].n, 1);
	assert_int_equal(c.pk[0].e[0].classes, 3);
	assert_int_equal(c.pk[1].id, 2);
	assert_string_equal(c.pk[1].name, "XXX");
	assert_int_equal(c.pk[1].n, 2);
	assert_int_equal(c.pk[1].e[0].classes, 0xF0);
	assert_memory_equal(c.pk[1].e[1].start, "\x41\x41", 2);
	assert_memory_equal(c.pk[1].e[1].end, "\x41\x4C", 2);
	assert_int_equal(c.pk[1].e[1].classes, 0x80000000u);
}

static void test_subs_malformed(void **state)
{
	(void)state;
	uint8_t b[64];
	struct cas_conax_card c;
	memset(&c, 0, sizeof c);
	/* record longer than the answer */
	size_t n = unhex("322F1010010F5456", b, sizeof b);
	assert_int_equal(cas_conax_parse_subs(b, n, &c), -1);
	/* nested TLV running past its record */
	memset(&c, 0, sizeof c);
	n = unhex("32051010300561", b, sizeof b);
	assert_int_equal(cas_conax_parse_subs(b, n, &c), -1);
	/* record without an id */
	memset(&c, 0, sizeof c);
	n = unhex("320110", b, sizeof b);
	assert_int_equal(cas_conax_parse_subs(b, n, &c), -1);
	/* more records than kept: the rest is skipped, not an error */
	memset(&c, 0, sizeof c);
	uint8_t many[10 * 4];
	for (int i = 0; i < 10; i++) {
		many[4 * i] = 0x32;
		many[4 * i + 1] = 2;
		many[4 * i + 2] = 0;
		many[4 * i + 3] = (uint8_t)i;
	}
	assert_int_equal(cas_conax_parse_subs(many, sizeof many, &c), 0);
	assert_int_equal(c.n_pk, CAS_CONAX_MAX_PKG);
	assert_int_equal(c.pk[7].id, 7);
}

/* conax-card.md §2.4: 11 0F 01 B0 0F FF FF FB 00 00 09 04 [CAID] E0 30 2B */
static void test_addr_cmd(void **state)
{
	(void)state;
	uint8_t cmd[CAS_CONAX_ADDR_CMD_LEN], want[CAS_CONAX_ADDR_CMD_LEN];
	cas_conax_addr_cmd(0x0B00, cmd);
	unhex("110F01B00FFFFFFB000009040B00E0302B", want, sizeof want);
	assert_memory_equal(cmd, want, sizeof want);
	cas_conax_addr_cmd(0x0B01, cmd);
	assert_int_equal(cmd[12], 0x0B);
	assert_int_equal(cmd[13], 0x01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_tvcas),
		cmocka_unit_test(test_init_malformed),
		cmocka_unit_test(test_addr_tvcas),
		cmocka_unit_test(test_addr_digitenne),
		cmocka_unit_test(test_addr_malformed),
		cmocka_unit_test(test_subs_tvcas),
		cmocka_unit_test(test_subs_generic),
		cmocka_unit_test(test_subs_malformed),
		cmocka_unit_test(test_addr_cmd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
