/*
 * The tvcas3 profile against every vector of reference/tvcas3-vectors.json
 * (tvcas3_vectors.h): ECMs decrypted and rebuilt byte for byte, EMMs and
 * BINs byte for byte, plus the error paths and the profile table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "hex.h"
#include "profile.h"
#include "rand.h"
#include "tdes.h"
#include "tvcas3.h"

#include "tvcas3_vectors.h"

static void unhex(const char *text, uint8_t *out, size_t n)
{
	assert_int_equal(cas_hex_decode(text, strlen(text), out, n), 0);
}

static uint32_t hex_u32(const char *text)
{
	uint8_t b[4];
	unhex(text, b, 4);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static struct cas_tvcas3_ecm_key ecm_key;
static uint8_t ecm_key_raw[32];

static int setup(void **state)
{
	(void)state;
	if (cas_rand_init() < 0 || cas_hex_decode(V_ECM_KEY, 64, ecm_key_raw, 32) < 0)
		return -1;
	cas_tvcas3_ecm_key_init(&ecm_key, ecm_key_raw);
	return 0;
}

static void test_sum8(void **state)
{
	(void)state;
	static const uint8_t a[] = { 0xFF, 0x02 };
	assert_int_equal(cas_tvcas3_sum8(a, 2), 0x01);
	assert_int_equal(cas_tvcas3_sum8(a, 0), 0);
	uint8_t pt[48];
	for (size_t i = 0; i < sizeof V_ECM / sizeof V_ECM[0]; i++) {
		unhex(V_ECM[i].pt, pt, 48);
		uint8_t sum;
		unhex(V_ECM[i].sum, &sum, 1);
		assert_int_equal(cas_tvcas3_sum8(pt, 47), sum);
	}
}

/* ---- ECM ---- */

static void check_ecm_parse(const char *section_hex, const char *pt_hex, unsigned table,
			    uint32_t time, const char *cw_odd, const char *cw_even, uint32_t ac)
{
	uint8_t sec[55], pt[48], cw[8];
	unhex(section_hex, sec, 55);
	unhex(pt_hex, pt, 48);
	struct cas_tvcas3_ecm e;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, sec, 55, &e), CAS_TVCAS3_OK);
	assert_memory_equal(e.pt, pt, 48);
	assert_int_equal(e.table_id, table);
	assert_int_equal(e.time, time);
	unhex(cw_odd, cw, 8);
	assert_memory_equal(e.cw_odd, cw, 8);
	unhex(cw_even, cw, 8);
	assert_memory_equal(e.cw_even, cw, 8);
	assert_int_equal(e.ac, ac);
	assert_true(e.checksum_ok);
}

static void test_ecm_key_halves(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof V_ECM / sizeof V_ECM[0]; i++) {
		uint8_t half[16];
		unhex(V_ECM[i].key16, half, 16);
		assert_memory_equal(half, ecm_key_raw + (V_ECM[i].table == 0x81 ? 16 : 0), 16);
	}
}

static void test_ecm_vectors_decrypt(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof V_ECM / sizeof V_ECM[0]; i++) {
		const struct v_ecm *v = &V_ECM[i];
		check_ecm_parse(v->section, v->pt, v->table, v->time, v->cw4, v->cw12,
				hex_u32(v->ac));
	}
	for (size_t i = 0; i < sizeof V_SCS_ECM / sizeof V_SCS_ECM[0]; i++) {
		const struct v_scs_ecm *v = &V_SCS_ECM[i];
		int odd = v->cp & 1;
		/* offset 4 = the CW of the odd CP, whichever of n, n+1 it is */
		check_ecm_parse(v->section, v->pt, odd ? 0x81 : 0x80, v->time,
				odd ? v->cw_n : v->cw_n1, odd ? v->cw_n1 : v->cw_n, hex_u32(v->ac));
	}
}

/* Rebuilds each ECM with the vector's filler: the section must match. */
static void test_ecm_vectors_rebuild(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof V_ECM / sizeof V_ECM[0]; i++) {
		const struct v_ecm *v = &V_ECM[i];
		uint16_t cp = (uint16_t)(v->table == 0x80 ? 1000 + 2 * i : 1001 + 2 * i);
		uint8_t odd[8], even[8], ac[4], filler[23], want[55], out[55];
		unhex(v->cw4, odd, 8);
		unhex(v->cw12, even, 8);
		unhex(v->ac, ac, 4);
		unhex(v->filler, filler, 23);
		unhex(v->section, want, 55);
		struct cas_cp_cw cws[2];
		/* CP n and n + 1, each CW under the CP number of its parity */
		cws[0].cp = cp;
		memcpy(cws[0].cw, cp & 1 ? odd : even, 8);
		cws[1].cp = (uint16_t)(cp + 1);
		memcpy(cws[1].cw, cp & 1 ? even : odd, 8);
		struct cas_ecm_req req = {
			.cp = cp, .cws = cws, .n_cws = 2, .ac = ac, .ac_len = 4,
			.now = v->time, .filler = filler, .filler_len = 23,
		};
		assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), 0);
		assert_memory_equal(out, want, 55);
		/* the item order does not matter */
		struct cas_cp_cw swapped[2] = { cws[1], cws[0] };
		req.cws = swapped;
		memset(out, 0, sizeof out);
		assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), 0);
		assert_memory_equal(out, want, 55);
	}
	for (size_t i = 0; i < sizeof V_SCS_ECM / sizeof V_SCS_ECM[0]; i++) {
		const struct v_scs_ecm *v = &V_SCS_ECM[i];
		uint8_t ac[4], pt[48], want[55], out[55];
		struct cas_cp_cw cws[2] = { { .cp = (uint16_t)v->cp }, { .cp = (uint16_t)(v->cp + 1) } };
		unhex(v->cw_n, cws[0].cw, 8);
		unhex(v->cw_n1, cws[1].cw, 8);
		unhex(v->ac, ac, 4);
		unhex(v->pt, pt, 48);
		unhex(v->section, want, 55);
		struct cas_ecm_req req = {
			.cp = (uint16_t)v->cp, .cws = cws, .n_cws = 2, .ac = ac, .ac_len = 4,
			.now = v->time, .filler = pt + 24, .filler_len = 23,
		};
		assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), 0);
		assert_memory_equal(out, want, 55);
	}
}

static struct cas_ecm_req basic_req(struct cas_cp_cw cws[2], uint16_t cp)
{
	for (int i = 0; i < 2; i++) {
		cws[i].cp = (uint16_t)(cp + i);
		memset(cws[i].cw, (cp + i) & 1 ? 0x0D : 0xE0, 8);
	}
	struct cas_ecm_req req = { .cp = cp, .cws = cws, .n_cws = 2, .now = 1710000000 };
	return req;
}

/* Random filler: sections differ, decrypted fields do not. */
static void test_ecm_random_filler(void **state)
{
	(void)state;
	struct cas_cp_cw cws[2];
	struct cas_ecm_req req = basic_req(cws, 42);
	static const uint8_t ac[4] = { 0, 0, 0, 5 };
	req.ac = ac;
	req.ac_len = 4;
	uint8_t a[55], b[55];
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, a), 0);
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, b), 0);
	assert_memory_equal(a, b, 7);
	assert_memory_not_equal(a + 7 + 24, b + 7 + 24, 24);	/* blocks 4..6 hold filler */
	struct cas_tvcas3_ecm ea, eb;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, a, 55, &ea), CAS_TVCAS3_OK);
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, b, 55, &eb), CAS_TVCAS3_OK);
	assert_memory_equal(ea.pt, eb.pt, 24);
	assert_memory_not_equal(ea.pt + 24, eb.pt + 24, 23);
	assert_int_equal(ea.ac, 5);
	assert_int_equal(ea.table_id, 0x80);
	assert_int_equal(ea.time, 1710000000);
}

static void test_ecm_cp_wraps(void **state)
{
	(void)state;
	/* CP 65535 (odd) and its successor 0 (even) */
	struct cas_cp_cw cws[2] = { { .cp = 0 }, { .cp = 65535 } };
	memset(cws[0].cw, 0xEE, 8);
	memset(cws[1].cw, 0x0D, 8);
	struct cas_ecm_req req = { .cp = 65535, .cws = cws, .n_cws = 2, .now = 1 };
	uint8_t out[55];
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), 0);
	assert_int_equal(out[0], 0x81);
	struct cas_tvcas3_ecm e;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, out, 55, &e), CAS_TVCAS3_OK);
	assert_memory_equal(e.cw_odd, cws[1].cw, 8);
	assert_memory_equal(e.cw_even, cws[0].cw, 8);
	assert_int_equal(e.time, 1);
}

static void test_ecm_access_criteria(void **state)
{
	(void)state;
	struct cas_cp_cw cws[2];
	struct cas_ecm_req req = basic_req(cws, 8);
	static const uint8_t ac6[6] = { 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC };
	uint8_t out[55];
	struct cas_tvcas3_ecm e;
	struct { const uint8_t *ac; size_t len; uint32_t want; } cases[] = {
		{ NULL, 0, 0 }, { ac6, 3, 0 }, { ac6, 4, 0x12345678 }, { ac6, 6, 0x12345678 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		req.ac = cases[i].ac;
		req.ac_len = cases[i].len;
		assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), 0);
		assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, out, 55, &e), CAS_TVCAS3_OK);
		assert_int_equal(e.ac, cases[i].want);
	}
}

static void test_ecm_build_errors(void **state)
{
	(void)state;
	struct cas_cp_cw cws[3];
	struct cas_ecm_req req = basic_req(cws, 10);
	uint8_t out[55], filler[24] = { 0 };

	req.n_cws = 1;			/* only CP 10 */
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);
	req.n_cws = 2;
	req.cp = 9;			/* needs 9 and 10: 9 is missing */
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);
	req.cp = 11;			/* needs 11 and 12 */
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);
	req.cp = 10;
	req.cws = NULL;
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);
	req.cws = cws;
	req.now = -1;
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);
	req.now = (int64_t)UINT32_MAX + 1;
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);
	req.now = UINT32_MAX;
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), 0);
	req.filler = filler;
	req.filler_len = 24;
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);
	req.filler_len = 22;
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), -1);

	/* three CWs (n - 1, n, n + 1): the ECM takes n and n + 1 */
	cws[2] = cws[1];
	cws[1] = cws[0];
	cws[0].cp = 9;
	memset(cws[0].cw, 0x99, 8);
	req.filler = NULL;
	req.filler_len = 0;
	req.n_cws = 3;
	assert_int_equal(cas_tvcas3_ecm_build(&ecm_key, &req, out), 0);
	struct cas_tvcas3_ecm e;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, out, 55, &e), CAS_TVCAS3_OK);
	assert_memory_equal(e.cw_even, cws[1].cw, 8);
	assert_memory_equal(e.cw_odd, cws[2].cw, 8);
}

static void test_ecm_parse_errors(void **state)
{
	(void)state;
	uint8_t sec[56], bad[56];
	unhex(V_ECM[0].section, sec, 55);
	struct cas_tvcas3_ecm e;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, sec, 54, &e), CAS_TVCAS3_EFORMAT);
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, sec, 56, &e), CAS_TVCAS3_EFORMAT);
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, NULL, 55, &e), CAS_TVCAS3_EFORMAT);
	struct { size_t off; uint8_t val; } hdr[] = {
		{ 0, 0x82 }, { 0, 0x00 }, { 2, 0x35 }, { 1, 0x71 }, { 3, 0x71 }, { 4, 0x31 },
	};
	for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
		memcpy(bad, sec, 55);
		bad[hdr[i].off] = hdr[i].val;
		assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, bad, 55, &e), CAS_TVCAS3_EFORMAT);
	}
	/* the 64 21 constant is not checked (tvcas3.md §2.1) */
	memcpy(bad, sec, 55);
	bad[5] = 0x00;
	bad[6] = 0x00;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, bad, 55, &e), CAS_TVCAS3_OK);
	/* a flipped ciphertext bit garbles one block: checksum fails */
	memcpy(bad, sec, 55);
	bad[7 + 8] ^= 0x01;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, bad, 55, &e), CAS_TVCAS3_ECHECKSUM);
	assert_false(e.checksum_ok);
	/* the wrong key half (table switched) */
	memcpy(bad, sec, 55);
	bad[0] = 0x81;
	assert_int_equal(cas_tvcas3_ecm_parse(&ecm_key, bad, 55, &e), CAS_TVCAS3_ECHECKSUM);
}

/* ---- EMM ---- */

static void card_from_vector(const struct v_emm *v, struct cas_rights *c)
{
	memset(c, 0, sizeof *c);
	c->serial = v->serial;
	unhex(v->key, c->key, 16);
	c->ac = hex_u32(v->ac);
	c->start = v->start;
	c->finish = v->finish;
	c->pair = v->pair;
	c->type = v->type;
}

static void test_emm_vectors(void **state)
{
	(void)state;
	int dummies = 0;
	for (size_t i = 0; i < sizeof V_EMM / sizeof V_EMM[0]; i++) {
		const struct v_emm *v = &V_EMM[i];
		struct cas_rights c;
		card_from_vector(v, &c);
		uint8_t pt[48], want_pt[48], sec[62], want[62];
		unhex(v->pt, want_pt, 48);
		unhex(v->section, want, 62);
		assert_int_equal(cas_tvcas3_emm_plaintext(&c, pt), 0);
		assert_memory_equal(pt, want_pt, 48);
		assert_int_equal(cas_tvcas3_emm_build(&c, sec), 0);
		assert_memory_equal(sec, want, 62);

		struct cas_tvcas3_emm e;
		assert_int_equal(cas_tvcas3_emm_parse(c.key, sec, 62, &e), CAS_TVCAS3_OK);
		assert_memory_equal(e.pt, want_pt, 48);
		assert_int_equal(e.serial, v->serial);
		assert_int_equal(e.ac, c.ac);
		assert_int_equal(e.start, (uint32_t)v->start);
		assert_int_equal(e.finish_plus1, (uint32_t)v->finish + 1);
		uint8_t cd[2];
		unhex(v->cstart, cd, 2);
		assert_memory_equal(e.cdate_start, cd, 2);
		unhex(v->cfinish, cd, 2);
		assert_memory_equal(e.cdate_finish, cd, 2);
		assert_int_equal(e.pair, v->pair > 0);
		assert_int_equal(e.protect, v->type == 1);

		uint32_t serial = 0;
		assert_int_equal(cas_tvcas3_emm_address(sec, 62, &serial), CAS_TVCAS3_OK);
		assert_int_equal(serial, v->serial);

		if (v->dummy) {
			dummies++;
			struct cas_rights d;
			cas_tvcas3_dummy_card(v->now, &d);
			assert_int_equal(d.serial, CAS_TVCAS3_DUMMY_SERIAL);
			assert_memory_equal(d.key, c.key, 16);
			assert_int_equal(d.ac, c.ac);
			assert_int_equal(d.start, c.start);
			assert_int_equal(d.finish, c.finish);
			assert_int_equal(d.pair, 0);
			assert_int_equal(d.type, 0);
			memset(sec, 0, sizeof sec);
			assert_int_equal(cas_tvcas3_emm_build_dummy(v->now, sec), 0);
			assert_memory_equal(sec, want, 62);
		}
	}
	assert_int_equal(dummies, 1);
}

static void test_emm_build_limits(void **state)
{
	(void)state;
	struct cas_rights c;
	card_from_vector(&V_EMM[0], &c);
	uint8_t sec[62];
	struct { int64_t start, finish; int ok; } cases[] = {
		{ 0, 1735689599, 0 },				/* 1970: no Conax date */
		{ -1, 1735689599, 0 },
		{ 631152000, 1735689599, 1 },			/* 1990-01-01 */
		{ 631151999, 1735689599, 0 },			/* 1989-12-31 */
		{ 1704067200, 3155759999, 1 },			/* 2069-12-31 23:59:59 */
		{ 1704067200, 3155760000, 0 },			/* 2070 */
		{ 1704067200, (int64_t)UINT32_MAX, 0 },		/* finish + 1 overflows */
		{ (int64_t)UINT32_MAX + 1, 1735689599, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		c.start = cases[i].start;
		c.finish = cases[i].finish;
		assert_int_equal(cas_tvcas3_emm_build(&c, sec), cases[i].ok ? 0 : -1);
	}
	/* pair and type map to 0/1 flags */
	card_from_vector(&V_EMM[0], &c);
	c.pair = 7;
	c.type = 2;
	assert_int_equal(cas_tvcas3_emm_build(&c, sec), 0);
	struct cas_tvcas3_emm e;
	assert_int_equal(cas_tvcas3_emm_parse(c.key, sec, 62, &e), CAS_TVCAS3_OK);
	assert_int_equal(e.pair, 1);
	assert_int_equal(e.protect, 0);
}

/* Encrypts a hand-made plaintext as an EMM for serial under key. */
static void emm_from_plaintext(const uint8_t pt[48], uint32_t serial, const uint8_t key[16],
			       uint8_t sec[62])
{
	static const uint8_t hdr[14] = { 0x82, 0x70, 0x3B, 0, 0, 0, 0, 0, 0, 0,
					 0x70, 0x32, 0x64, 0x10 };
	memcpy(sec, hdr, 14);
	sec[6] = (uint8_t)(serial >> 24);
	sec[7] = (uint8_t)(serial >> 16);
	sec[8] = (uint8_t)(serial >> 8);
	sec[9] = (uint8_t)serial;
	struct cas_tdes_key ks;
	cas_tdes_set_key2(&ks, key);
	assert_int_equal(cas_tdes_ecb_encrypt(&ks, pt, sec + 14, 48), 0);
}

static void test_emm_parse_errors(void **state)
{
	(void)state;
	struct cas_rights c;
	card_from_vector(&V_EMM[2], &c);
	uint8_t sec[63], bad[63], pt[48];
	unhex(V_EMM[2].section, sec, 62);
	unhex(V_EMM[2].pt, pt, 48);
	struct cas_tvcas3_emm e;

	assert_int_equal(cas_tvcas3_emm_parse(c.key, sec, 61, &e), CAS_TVCAS3_EFORMAT);
	assert_int_equal(cas_tvcas3_emm_parse(c.key, sec, 63, &e), CAS_TVCAS3_EFORMAT);
	assert_int_equal(cas_tvcas3_emm_parse(c.key, NULL, 62, &e), CAS_TVCAS3_EFORMAT);
	static const size_t hdr_off[] = { 0, 1, 2, 3, 4, 5, 10, 11, 12, 13 };
	for (size_t i = 0; i < sizeof hdr_off / sizeof hdr_off[0]; i++) {
		uint32_t serial;
		memcpy(bad, sec, 62);
		bad[hdr_off[i]] ^= 0x01;
		assert_int_equal(cas_tvcas3_emm_parse(c.key, bad, 62, &e), CAS_TVCAS3_EFORMAT);
		assert_int_equal(cas_tvcas3_emm_address(bad, 62, &serial), CAS_TVCAS3_EFORMAT);
	}

	/* another card's key */
	uint8_t other[16];
	unhex(V_EMM[0].key, other, 16);
	assert_int_equal(cas_tvcas3_emm_parse(other, sec, 62, &e), CAS_TVCAS3_ECHECKSUM);

	/* addressed to another serial than the plaintext says */
	memcpy(bad, sec, 62);
	bad[9] ^= 0x01;
	assert_int_equal(cas_tvcas3_emm_parse(c.key, bad, 62, &e), CAS_TVCAS3_ESERIAL);
	assert_int_equal(e.serial, c.serial ^ 1);

	/* c1 wrong, final sum right */
	uint8_t p2[48];
	memcpy(p2, pt, 48);
	p2[23]++;
	p2[24]--;
	emm_from_plaintext(p2, c.serial, c.key, bad);
	assert_int_equal(cas_tvcas3_emm_parse(c.key, bad, 62, &e), CAS_TVCAS3_ECHECKSUM);
	/* c1 right, final sum wrong */
	memcpy(p2, pt, 48);
	p2[47]++;
	emm_from_plaintext(p2, c.serial, c.key, bad);
	assert_int_equal(cas_tvcas3_emm_parse(c.key, bad, 62, &e), CAS_TVCAS3_ECHECKSUM);
	/* the unmodified plaintext through the same path is accepted */
	emm_from_plaintext(pt, c.serial, c.key, bad);
	assert_memory_equal(bad, sec, 62);
	assert_int_equal(cas_tvcas3_emm_parse(c.key, bad, 62, &e), CAS_TVCAS3_OK);
}

/* ---- BIN ---- */

static void bin_inputs(const struct v_bin *v, struct cas_rights *c, struct cas_bin_opts *o,
		       uint8_t key32[32])
{
	memset(c, 0, sizeof *c);
	c->serial = v->serial;
	unhex(v->key, c->key, 16);
	c->ac = hex_u32(v->ac);
	c->start = v->start;
	c->finish = v->finish;
	c->pair = v->pair;
	c->type = v->type;
	unhex(v->ecm_key, key32, 32);
	uint8_t ident[2];
	unhex(v->ident, ident, 2);
	o->ecm_key = key32;
	o->ecm_key_len = 32;
	o->ca_system_id = (uint16_t)(ident[0] << 8 | ident[1]);
	o->trademark = v->trademark;
}

static void test_bin_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof V_BIN / sizeof V_BIN[0]; i++) {
		const struct v_bin *v = &V_BIN[i];
		struct cas_rights c;
		struct cas_bin_opts o;
		uint8_t key32[32], bin[90], want[90];
		bin_inputs(v, &c, &o, key32);
		unhex(v->bin, want, 90);
		assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), 0);
		assert_memory_equal(bin, want, 90);

		struct cas_tvcas3_bin b;
		assert_int_equal(cas_tvcas3_bin_parse(bin, 90, &b), CAS_TVCAS3_OK);
		assert_int_equal(b.serial, v->serial);
		assert_int_equal(b.caid_lo, 0x00);
		uint8_t md5[16];
		unhex(v->md5_ecm_key, md5, 16);
		assert_memory_equal(b.shared, md5, 3);
		assert_true(b.shared_ok);
		assert_string_equal(b.trademark, v->trademark);
		assert_int_equal(b.start, (uint32_t)v->start);
		assert_int_equal(b.finish, (uint32_t)v->finish);	/* raw */
		assert_int_equal(b.ac, c.ac);
		assert_int_equal(b.pair, v->pair != 0);
		assert_int_equal(b.protect, v->type == 1);
		assert_memory_equal(b.ecm_key, key32, 32);
		assert_memory_equal(b.card_key, c.key, 16);
		/* Conax dates at 35..38 of the reference file */
		assert_memory_equal(b.cdate_start, want + 35, 2);
		assert_memory_equal(b.cdate_finish, want + 37, 2);
	}
}

static void test_bin_options_and_errors(void **state)
{
	(void)state;
	struct cas_rights c;
	struct cas_bin_opts o;
	uint8_t key32[32], bin[90];
	bin_inputs(&V_BIN[0], &c, &o, key32);

	o.ca_system_id = 0x0B01;		/* "0B01" -> 01 */
	assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), 0);
	assert_int_equal(bin[4], 0x01);
	o.ca_system_id = 0x0500;		/* not 0Bxx -> 00 */
	assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), 0);
	assert_int_equal(bin[4], 0x00);

	o.trademark = "0123456789ABCDEFGHIJ";	/* cut to 15 */
	assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), 0);
	assert_memory_equal(bin + 8, "0123456789ABCDE", 15);
	assert_int_equal(bin[23], 0x65);	/* start follows */
	o.trademark = NULL;			/* all spaces */
	assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), 0);
	assert_memory_equal(bin + 8, "               ", 15);
	struct cas_tvcas3_bin b;
	assert_int_equal(cas_tvcas3_bin_parse(bin, 90, &b), CAS_TVCAS3_OK);
	assert_string_equal(b.trademark, "");

	o.ecm_key_len = 16;
	assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), -1);
	o.ecm_key_len = 32;
	o.ecm_key = NULL;
	assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), -1);
	o.ecm_key = key32;
	c.finish = 3155760000;			/* 2070 */
	assert_int_equal(cas_tvcas3_bin_build(&c, &o, bin), -1);

	assert_int_equal(cas_tvcas3_bin_parse(bin, 89, &b), CAS_TVCAS3_EFORMAT);
	assert_int_equal(cas_tvcas3_bin_parse(bin, 91, &b), CAS_TVCAS3_EFORMAT);
	assert_int_equal(cas_tvcas3_bin_parse(NULL, 90, &b), CAS_TVCAS3_EFORMAT);
	/* a file whose shared address does not match its key */
	uint8_t want[90];
	unhex(V_BIN[0].bin, want, 90);
	want[5] ^= 0xFF;
	assert_int_equal(cas_tvcas3_bin_parse(want, 90, &b), CAS_TVCAS3_OK);
	assert_false(b.shared_ok);
}

/* ---- the profile table ---- */

static void test_profile_lookup(void **state)
{
	(void)state;
	const struct cas_profile *p = cas_profile_find("tvcas3");
	assert_non_null(p);
	assert_ptr_equal(p, &cas_tvcas3_profile);
	assert_string_equal(p->name, "tvcas3");
	assert_int_equal(p->ecm_key_len, 32);
	assert_int_equal(p->ecm_max_len, 55);
	assert_int_equal(p->emm_max_len, 62);
	assert_int_equal(p->bin_len, 90);
	assert_null(cas_profile_find("TVCAS3"));
	assert_null(cas_profile_find("hardened"));
	assert_null(cas_profile_find(""));
	assert_null(cas_profile_find(NULL));
	assert_ptr_equal(cas_profile_at(0), p);
	assert_null(cas_profile_at(1));

	/* every profile is a choice of the config key, and the default works */
	struct cas_conf conf;
	assert_int_equal(cas_conf_init(&conf), 0);
	assert_ptr_equal(cas_profile_find(cas_conf_str(&conf, "profile")), p);
	for (size_t i = 0; cas_profile_at(i) != NULL; i++)
		assert_int_equal(cas_conf_set(&conf, "profile", cas_profile_at(i)->name, 0), 0);
	assert_int_equal(cas_conf_set(&conf, "profile", "nosuch", 0), -1);
	cas_conf_free(&conf);
}

static void test_profile_calls(void **state)
{
	(void)state;
	const struct cas_profile *p = cas_profile_find("tvcas3");
	void *ctx = NULL;
	assert_int_equal(p->ecm_key_new(ecm_key_raw, 16, &ctx), -1);
	assert_int_equal(p->ecm_key_new(NULL, 32, &ctx), -1);
	assert_int_equal(p->ecm_key_new(ecm_key_raw, 32, &ctx), 0);
	assert_non_null(ctx);

	const struct v_scs_ecm *v = &V_SCS_ECM[1];
	uint8_t ac[4], pt[48], want[55], out[64];
	struct cas_cp_cw cws[2] = { { .cp = (uint16_t)v->cp }, { .cp = (uint16_t)(v->cp + 1) } };
	unhex(v->cw_n, cws[0].cw, 8);
	unhex(v->cw_n1, cws[1].cw, 8);
	unhex(v->ac, ac, 4);
	unhex(v->pt, pt, 48);
	unhex(v->section, want, 55);
	struct cas_ecm_req req = {
		.cp = (uint16_t)v->cp, .cws = cws, .n_cws = 2, .ac = ac, .ac_len = 4,
		.now = v->time, .filler = pt + 24, .filler_len = 23,
	};
	assert_int_equal(p->ecm_build(ctx, &req, out, 54), -1);
	assert_int_equal(p->ecm_build(ctx, &req, out, sizeof out), 55);
	assert_memory_equal(out, want, 55);
	req.n_cws = 1;
	assert_int_equal(p->ecm_build(ctx, &req, out, sizeof out), -1);
	p->ecm_key_free(ctx);
	p->ecm_key_free(NULL);

	struct cas_rights c;
	card_from_vector(&V_EMM[1], &c);
	uint8_t emm[62];
	unhex(V_EMM[1].section, emm, 62);
	assert_int_equal(p->emm_build(&c, 1700000000, out, 61), -1);
	assert_int_equal(p->emm_build(&c, 1700000000, out, sizeof out), 62);
	assert_memory_equal(out, emm, 62);
	uint32_t serial;
	assert_int_equal(p->emm_address(out, 62, &serial), 0);
	assert_int_equal(serial, 2100000000u);
	assert_int_equal(p->emm_address(out, 61, &serial), -1);

	const struct v_emm *d = &V_EMM[3];
	unhex(d->section, emm, 62);
	assert_int_equal(p->emm_dummy(d->now, out, 61), -1);
	assert_int_equal(p->emm_dummy(d->now, out, sizeof out), 62);
	assert_memory_equal(out, emm, 62);

	struct cas_bin_opts o;
	uint8_t key32[32], bin[100], wantbin[90];
	bin_inputs(&V_BIN[1], &c, &o, key32);
	unhex(V_BIN[1].bin, wantbin, 90);
	assert_int_equal(p->bin_build(&c, &o, bin, 89), -1);
	assert_int_equal(p->bin_build(&c, &o, bin, sizeof bin), 90);
	assert_memory_equal(bin, wantbin, 90);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum8),
		cmocka_unit_test(test_ecm_key_halves),
		cmocka_unit_test(test_ecm_vectors_decrypt),
		cmocka_unit_test(test_ecm_vectors_rebuild),
		cmocka_unit_test(test_ecm_random_filler),
		cmocka_unit_test(test_ecm_cp_wraps),
		cmocka_unit_test(test_ecm_access_criteria),
		cmocka_unit_test(test_ecm_build_errors),
		cmocka_unit_test(test_ecm_parse_errors),
		cmocka_unit_test(test_emm_vectors),
		cmocka_unit_test(test_emm_build_limits),
		cmocka_unit_test(test_emm_parse_errors),
		cmocka_unit_test(test_bin_vectors),
		cmocka_unit_test(test_bin_options_and_errors),
		cmocka_unit_test(test_profile_lookup),
		cmocka_unit_test(test_profile_calls),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
