/*
 * Fuzz target for the tvcas3 parsers and the TS extractor: the input is
 * fed as an ECM section, an EMM section, a BIN file and TS packets.  Round
 * trips that must hold are checked with abort():
 *   - an extracted section packetizes back and extracts to the same bytes;
 *   - an ECM built from the input's bytes parses back to the same fields;
 *   - a BIN that parses and has a valid shared address rebuilds identically
 *     when its dates are in range.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "ts.h"
#include "tvcas3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The default TVCAS 3 ecm_key and a card key (tvcas3.md §9), so that the
 * seed corpus decrypts. */
static const uint8_t ECM_KEY[32] = {
	0x7E, 0x33, 0xA2, 0x78, 0xB3, 0x61, 0x7A, 0x30, 0x9B, 0x18, 0x22, 0x2F, 0x37, 0x2A, 0x23, 0x19,
	0x07, 0xAC, 0x67, 0xE0, 0x8A, 0x5F, 0x12, 0xC3, 0xF7, 0x47, 0x69, 0xDE, 0x83, 0x74, 0xC7, 0xAE,
};
static const uint8_t CARD_KEY[16] = {
	0x07, 0xC8, 0xBA, 0x92, 0xE8, 0xEA, 0x42, 0x2E, 0x00, 0xEF, 0xCB, 0x68, 0x32, 0x9A, 0xA4, 0xA9,
};

static void fuzz_ts(const uint8_t *data, size_t size)
{
	static uint8_t sec[CAS_TS_SECTION_MAX], pk[23 * CAS_TS_PACKET_LEN], back[CAS_TS_SECTION_MAX];
	uint16_t pid;
	size_t whole = size - size % CAS_TS_PACKET_LEN;
	long n = cas_ts_extract(data, size, sec, sizeof sec, &pid);
	if (whole != size && n >= 0)
		abort();			/* accepted a partial packet */
	if (n < 0)
		return;
	uint8_t cc = 3;
	long m = cas_ts_packetize(sec, (size_t)n, pid, &cc, pk, sizeof pk);
	if (m < 0)
		return;				/* e.g. section_length disagrees */
	if (cas_ts_extract(pk, (size_t)m, back, sizeof back, NULL) != n ||
	    memcmp(back, sec, (size_t)n) != 0)
		abort();
}

static void fuzz_ecm(const struct cas_tvcas3_ecm_key *k, const uint8_t *data, size_t size)
{
	struct cas_tvcas3_ecm e;
	int rc = cas_tvcas3_ecm_parse(k, data, size, &e);
	if (rc != CAS_TVCAS3_EFORMAT && size != CAS_TVCAS3_ECM_LEN)
		abort();

	/* Build an ECM from the input's bytes and read it back. */
	if (size < 2 + 16 + 4 + 4 + CAS_TVCAS3_FILLER_LEN)
		return;
	struct cas_cp_cw cws[2];
	uint16_t cp = (uint16_t)(data[0] << 8 | data[1]);
	cws[0].cp = cp;
	cws[1].cp = (uint16_t)(cp + 1);
	memcpy(cws[0].cw, data + 2, 8);
	memcpy(cws[1].cw, data + 10, 8);
	struct cas_ecm_req req = {
		.cp = cp, .cws = cws, .n_cws = 2, .ac = data + 18, .ac_len = 4,
		.now = (int64_t)((uint32_t)data[22] << 24 | (uint32_t)data[23] << 16 |
				 (uint32_t)data[24] << 8 | data[25]),
		.filler = data + 26, .filler_len = CAS_TVCAS3_FILLER_LEN,
	};
	uint8_t out[CAS_TVCAS3_ECM_LEN];
	if (cas_tvcas3_ecm_build(k, &req, out) != 0)
		abort();
	if (cas_tvcas3_ecm_parse(k, out, sizeof out, &e) != CAS_TVCAS3_OK ||
	    e.time != (uint32_t)req.now ||
	    memcmp(e.cw_odd, cws[cp & 1 ? 0 : 1].cw, 8) != 0 ||
	    memcmp(e.cw_even, cws[cp & 1 ? 1 : 0].cw, 8) != 0 ||
	    memcmp(e.pt + 24, req.filler, CAS_TVCAS3_FILLER_LEN) != 0)
		abort();
}

static void fuzz_emm(const uint8_t *data, size_t size)
{
	uint32_t serial;
	struct cas_tvcas3_emm e;
	int a = cas_tvcas3_emm_address(data, size, &serial);
	int rc = cas_tvcas3_emm_parse(CARD_KEY, data, size, &e);
	if ((a == CAS_TVCAS3_OK) != (rc != CAS_TVCAS3_EFORMAT))
		abort();
	if (rc == CAS_TVCAS3_OK) {
		/* a valid EMM for the card: the row it carries, built again,
		 * must read back the same */
		struct cas_rights c = {
			.serial = e.serial, .ac = e.ac, .start = e.start,
			.finish = (int64_t)e.finish_plus1 - 1, .pair = e.pair, .type = e.protect ? 1 : 2,
		};
		memcpy(c.key, CARD_KEY, 16);
		uint8_t out[CAS_TVCAS3_EMM_LEN];
		struct cas_tvcas3_emm e2;
		if (cas_tvcas3_emm_build(&c, out) != 0)
			return;		/* dates outside 1990..2069 */
		if (cas_tvcas3_emm_parse(CARD_KEY, out, sizeof out, &e2) != CAS_TVCAS3_OK ||
		    e2.serial != e.serial || e2.ac != e.ac || e2.start != e.start ||
		    e2.finish_plus1 != e.finish_plus1 || e2.pair != (e.pair != 0) ||
		    e2.protect != (e.protect != 0))
			abort();
	}
}

static void fuzz_bin(const uint8_t *data, size_t size)
{
	struct cas_tvcas3_bin b;
	if (cas_tvcas3_bin_parse(data, size, &b) != CAS_TVCAS3_OK)
		return;
	if (size != CAS_TVCAS3_BIN_LEN)
		abort();
	/* rebuild from the parsed fields; must equal the input wherever the
	 * input is a file FreeCAS could have written */
	struct cas_rights c = {
		.serial = b.serial, .ac = b.ac, .start = b.start, .finish = b.finish,
		.pair = b.pair, .type = b.protect ? 1 : 2,
	};
	memcpy(c.key, b.card_key, 16);
	struct cas_bin_opts o = {
		.ecm_key = b.ecm_key, .ecm_key_len = 32,
		.ca_system_id = (uint16_t)(0x0B00 | b.caid_lo), .trademark = b.trademark,
	};
	uint8_t out[CAS_TVCAS3_BIN_LEN];
	if (cas_tvcas3_bin_build(&c, &o, out) == 0 && b.shared_ok && b.pair <= 1 &&
	    b.protect <= 1 && data[41] == 0 && memcmp(out + 35, data + 35, 4) == 0 &&
	    memcmp(out + 8, data + 8, 15) == 0 && memcmp(out, data, sizeof out) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cas_tvcas3_ecm_key k;
	static int ready;
	if (!ready) {
		cas_tvcas3_ecm_key_init(&k, ECM_KEY);
		ready = 1;
	}
	fuzz_ts(data, size);
	fuzz_ecm(&k, data, size);
	fuzz_emm(data, size);
	fuzz_bin(data, size);
	return 0;
}
