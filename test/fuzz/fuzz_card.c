/*
 * Fuzz target: the card logic (libcas/card.c) against arbitrary commands,
 * on a personalised card (BIN #1 of reference/tvcas3-vectors.json) and on
 * a blank one.
 *
 * Input: byte 0 picks the card (bit 0: blank; bit 1: refusal 90 12), then
 * records "kind len bytes...":
 *   kind % 4 == 0  an APDU for cas_card_apdu
 *   kind % 4 == 1  raw bytes for the T=0 engine, one at a time
 *   kind % 4 == 2  an ECM plaintext (first 47 bytes; the harness adds the
 *                  checksum, encrypts with the ECM key of table 0x80 | (kind>>2 & 1)
 *                  and sends DD A2), so that valid ECMs reach the decision
 *   kind % 4 == 3  an EMM plaintext for this card (the harness sets the
 *                  serial, both checksums, encrypts with the card key and
 *                  sends DD 84)
 * Checks: every answer has a status word and fits its bounds, a CASE_IN
 * command never returns data, the card never releases CWs while blocked or
 * outside its window, and the persistent image survives save/load intact.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "card.h"
#include "tdes.h"
#include "tvcas3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t BIN0[90] = {
	0x7D, 0x2B, 0x75, 0x00, 0x00, 0x4B, 0xBE, 0x8C, 0x54, 0x56, 0x43, 0x41, 0x53, 0x2E, 0x43,
	0x4F, 0x4D, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x65, 0x92, 0x00, 0x80, 0x67, 0x74, 0x85,
	0x7F, 0x00, 0x00, 0x00, 0x01, 0x61, 0x41, 0x7F, 0x4C, 0x00, 0x01, 0x00, 0x7E, 0x33, 0xA2,
	0x78, 0xB3, 0x61, 0x7A, 0x30, 0x9B, 0x18, 0x22, 0x2F, 0x37, 0x2A, 0x23, 0x19, 0x07, 0xAC,
	0x67, 0xE0, 0x8A, 0x5F, 0x12, 0xC3, 0xF7, 0x47, 0x69, 0xDE, 0x83, 0x74, 0xC7, 0xAE, 0x07,
	0xC8, 0xBA, 0x92, 0xE8, 0xEA, 0x42, 0x2E, 0x00, 0xEF, 0xCB, 0x68, 0x32, 0x9A, 0xA4, 0xA9,
};

static void check(int ok)
{
	if (!ok)
		abort();
}

static void run_apdu(struct cas_card_chip *c, const uint8_t *apdu, size_t len)
{
	uint8_t resp[CAS_CARD_RESP_MAX];
	int was_blocked = c->p.blocked;
	uint32_t start = c->p.start, finish = c->p.finish;
	size_t r = cas_card_apdu(c, apdu, len, resp, sizeof resp);
	check(r >= 2 && r <= CAS_CARD_RESP_MAX);
	if (len >= 2 && cas_card_ins_case(apdu[0], apdu[1]) == CAS_CARD_CASE_IN)
		check(r == 2);
	if (c->last.ev == CAS_CARD_EV_ECM_OK) {
		check(!was_blocked || c->last.block_ended);
		check(start < c->last.time && c->last.time < finish);
	}
	/* a Conax answer never exceeds the pending buffer */
	check(c->pending_len <= CAS_CARD_PENDING_MAX && c->pending_pos <= c->pending_len);
}

static void send_wrapped(struct cas_card_chip *c, uint8_t ins, uint8_t tag, const uint8_t *sec,
			 size_t n)
{
	uint8_t apdu[5 + 2 + 1 + 64];
	size_t off = 0;
	apdu[off++] = 0xDD;
	apdu[off++] = ins;
	apdu[off++] = 0;
	apdu[off++] = 0;
	size_t lc = 2 + (tag == 0x14 ? 1 : 0) + n;
	apdu[off++] = (uint8_t)lc;
	apdu[off++] = tag;
	apdu[off++] = (uint8_t)(lc - 2);
	if (tag == 0x14)
		apdu[off++] = 0x00;
	memcpy(apdu + off, sec, n);
	run_apdu(c, apdu, off + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cas_card_chip c, d;
	struct cas_buf b;
	if (size < 1)
		return 0;
	cas_buf_init(&b, data, size);
	uint8_t mode = cas_buf_get_u8(&b);
	if (mode & 1)
		cas_card_init_blank(&c);
	else
		check(cas_card_init_bin(&c, BIN0) == 0);
	if (mode & 2)
		c.opt.deny = CAS_CARD_DENY_9012;
	uint8_t atr[CAS_CARD_ATR_LEN];
	check(cas_card_t0_reset(&c, atr, sizeof atr) == CAS_CARD_ATR_LEN);

	while (cas_buf_left(&b) >= 2) {
		uint8_t kind = cas_buf_get_u8(&b);
		uint8_t len = cas_buf_get_u8(&b);
		const uint8_t *p = cas_buf_get_ptr(&b, len);
		if (p == NULL)
			break;
		switch (kind % 4) {
		case 0:
			run_apdu(&c, p, len);
			break;
		case 1:
			for (size_t i = 0; i < len; i++) {
				uint8_t out[CAS_CARD_T0_OUT_MAX];
				size_t o = cas_card_t0_rx(&c, p[i], out, sizeof out);
				check(o <= CAS_CARD_T0_OUT_MAX);
			}
			break;
		case 2: {
			if (c.p.life == CAS_CARD_BLANK)
				break;
			uint8_t pt[48] = { 0 }, sec[55];
			memcpy(pt, p, len < 47 ? len : 47);
			pt[47] = cas_tvcas3_sum8(pt, 47);
			int odd = (kind >> 2) & 1;
			static const uint8_t hdr[7] = { 0x80, 0x70, 0x34, 0x70, 0x32, 0x64, 0x21 };
			memcpy(sec, hdr, 7);
			sec[0] = (uint8_t)(0x80 | odd);
			struct cas_tdes_key k;
			cas_tdes_set_key2(&k, c.p.bin + 42 + 16 * odd);
			cas_tdes_ecb_encrypt(&k, pt, sec + 7, 48);
			send_wrapped(&c, 0xA2, 0x14, sec, sizeof sec);
			break;
		}
		default: {
			if (c.p.life == CAS_CARD_BLANK)
				break;
			uint8_t pt[48] = { 0 }, sec[62];
			memcpy(pt, p, len < 47 ? len : 47);
			memcpy(pt, c.p.bin, 4);
			pt[23] = cas_tvcas3_sum8(pt, 23);
			pt[47] = cas_tvcas3_sum8(pt, 47);
			static const uint8_t h1[6] = { 0x82, 0x70, 0x3B, 0x00, 0x00, 0x00 };
			static const uint8_t h2[4] = { 0x70, 0x32, 0x64, 0x10 };
			memcpy(sec, h1, 6);
			memcpy(sec + 6, c.p.bin, 4);
			memcpy(sec + 10, h2, 4);
			struct cas_tdes_key k;
			cas_tdes_set_key2(&k, c.p.bin + 74);
			cas_tdes_ecb_encrypt(&k, pt, sec + 14, 48);
			send_wrapped(&c, 0x84, 0x12, sec, sizeof sec);
			break;
		}
		}
	}

	/* the persistent image round-trips */
	uint8_t img[CAS_CARD_IMAGE_LEN], img2[CAS_CARD_IMAGE_LEN];
	check(cas_card_save(&c, img, sizeof img) == sizeof img);
	cas_card_init_blank(&d);
	check(cas_card_load(&d, img, sizeof img) == 0);
	check(cas_card_save(&d, img2, sizeof img2) == sizeof img2);
	check(memcmp(img, img2, sizeof img) == 0);
	check(cas_card_serial(&c) == cas_card_serial(&d));
	return 0;
}
