/*
 * Benchmark of the card logic (libcas/card.c):
 *   - ECM decisions per second: cas_card_ecm on valid ECMs of two
 *     interleaved channels (decrypt, checks, anti-sharing tracker), on
 *     refused ones (expired), and the full APDU path (DD A2 + DD CA);
 *   - one full ECM exchange replayed byte by byte through the card's T=0
 *     engine, with its time on the line at 9600 baud: every character is
 *     12 etu (8E2) of 1/9600 s, procedure bytes and status words included
 *     (conax-card.md §1.2), plus the card's own processing time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "card.h"
#include "hex.h"
#include "profile.h"
#include "t0host.h"
#include "tvcas3.h"

int main(void);

static const char BIN0[] =
	"7D2B7500004BBE8C54564341532E434F4D202020202020659200806774857F0000000161417F4C0001"
	"007E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE07C8BA92E8EA422E"
	"00EFCB68329AA4A9";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define NECM 20000

static uint8_t ecms[NECM][CAS_TVCAS3_ECM_LEN];

static void build(const struct cas_tvcas3_ecm_key *k, uint32_t t0)
{
	static const uint8_t filler[23];
	uint8_t ac[4] = { 0, 0, 0, 1 };
	for (unsigned i = 0; i < NECM; i++) {
		unsigned chan = i % 2, cp = i / 2;
		struct cas_cp_cw cws[2];
		for (unsigned j = 0; j < 2; j++) {
			cws[j].cp = (uint16_t)(cp + j);
			memset(cws[j].cw, 0, 8);
			cws[j].cw[0] = (uint8_t)chan;
			cas_put_be32(cws[j].cw + 2, cp + j);
		}
		struct cas_ecm_req req = { (uint16_t)cp, cws, 2, ac, 4, t0 + 10 * cp + 3 * chan, filler, 23 };
		if (cas_tvcas3_ecm_build(k, &req, ecms[i]) < 0)
			abort();
	}
}

int main(void)
{
	static struct cas_card_chip c;
	uint8_t bin[90], key[32], odd[8], even[8];
	struct cas_tvcas3_ecm_key k;
	if (cas_hex_decode(BIN0, strlen(BIN0), bin, 90) < 0)
		return 1;
	memcpy(key, bin + 42, 32);
	cas_tvcas3_ecm_key_init(&k, key);

	/* 1. decisions: released (two channels, tracker active) */
	build(&k, 1710000000u);
	cas_card_init_bin(&c, bin);
	unsigned ok = 0;
	double t0 = now_s();
	for (unsigned i = 0; i < NECM; i++)
		ok += cas_card_ecm(&c, ecms[i], CAS_TVCAS3_ECM_LEN, odd, even) == CAS_CARD_EV_ECM_OK;
	double dt = now_s() - t0;
	if (ok != NECM || c.p.blocked) {
		fprintf(stderr, "bench_card: %u of %u ECMs released\n", ok, NECM);
		return 1;
	}
	printf("card: %.0f ECM decisions/s released (2 interleaved channels, %u ECMs, %.2f us each)\n",
	       NECM / dt, NECM, dt / NECM * 1e6);

	/* refused: after the subscription (expired) */
	build(&k, 1740000000u);
	cas_card_init_bin(&c, bin);
	t0 = now_s();
	for (unsigned i = 0; i < NECM; i++)
		ok += cas_card_ecm(&c, ecms[i], CAS_TVCAS3_ECM_LEN, odd, even) == CAS_CARD_EV_ECM_EXPIRED;
	dt = now_s() - t0;
	printf("card: %.0f ECM decisions/s refused (expired)\n", NECM / dt);

	/* the APDU path: DD A2 + DD CA 00 00 22 */
	build(&k, 1710000000u);
	cas_card_init_bin(&c, bin);
	uint8_t apdu[5 + 58], resp[CAS_CARD_RESP_MAX];
	static const uint8_t head[8] = { 0xDD, 0xA2, 0x00, 0x00, 0x3A, 0x14, 0x38, 0x00 };
	static const uint8_t rd[5] = { 0xDD, 0xCA, 0x00, 0x00, 0x22 };
	memcpy(apdu, head, 8);
	t0 = now_s();
	for (unsigned i = 0; i < NECM; i++) {
		memcpy(apdu + 8, ecms[i], CAS_TVCAS3_ECM_LEN);
		cas_card_apdu(&c, apdu, sizeof apdu, resp, sizeof resp);
		if (cas_card_apdu(&c, rd, 5, resp, sizeof resp) != 36)
			return 1;
	}
	dt = now_s() - t0;
	printf("card: %.0f ECM exchanges/s through cas_card_apdu (DD A2 + DD CA)\n", NECM / dt);

	/* 2. one exchange byte by byte through the T=0 engine */
	cas_card_init_bin(&c, bin);
	uint8_t out[CAS_CARD_T0_OUT_MAX], atr[8];
	unsigned long to_card = 0, from_card = 0, proc = 0;
	cas_card_t0_reset(&c, atr, sizeof atr);
	memcpy(apdu + 8, ecms[0], CAS_TVCAS3_ECM_LEN);
	unsigned rounds = 2000;
	t0 = now_s();
	for (unsigned r = 0; r < rounds; r++) {
		memcpy(apdu + 8, ecms[r], CAS_TVCAS3_ECM_LEN);
		unsigned long a = 0, b = 0, p = 0;
		for (size_t i = 0; i < sizeof apdu; i++) {
			size_t o = cas_card_t0_rx(&c, apdu[i], out, sizeof out);
			a++;
			b += o;
			if (i == 4)
				p += o;		/* ACK */
		}
		for (size_t i = 0; i < sizeof rd; i++) {
			size_t o = cas_card_t0_rx(&c, rd[i], out, sizeof out);
			a++;
			b += o;
			if (i == 4)
				p++;		/* ACK CA */
		}
		to_card = a;
		from_card = b;
		proc = p;
	}
	dt = (now_s() - t0) / rounds;
	unsigned long chars = to_card + from_card;
	printf("card: one ECM exchange = %lu characters to the card + %lu from it "
	       "(%lu procedure bytes, 2 status words, 34 answer bytes)\n",
	       to_card, from_card, proc);
	printf("card: at 9600 baud (12 etu/char): %.1f ms on the line + %.3f ms in the card = %.1f ms "
	       "per ECM (%.1f ms for a refusal)\n",
	       cas_t0_line_ms(chars), dt * 1e3, cas_t0_line_ms(chars) + dt * 1e3,
	       cas_t0_line_ms(chars - 30));
	cas_card_chip_wipe(&c);
	cas_tvcas3_ecm_key_wipe(&k);
	return 0;
}
