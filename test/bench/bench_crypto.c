/*
 * Crypto core throughput on one core: 3DES (2-key EDE, ECB), single DES,
 * MD5, and the tvcas3 builders (ECM with random filler, EMM with a key
 * schedule per card).  Goals: 3DES >= 15 MB/s, EMM >= 200,000 builds/s.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "md5.h"
#include "rand.h"
#include "tdes.h"
#include "tvcas3.h"

#define RUN_SECONDS 1.0

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t buf[64 * 1024];
static volatile uint8_t sink;

static void report(const char *what, double value, const char *unit, double goal)
{
	if (goal > 0)
		printf("%-28s %12.1f %-10s (goal >= %.0f: %s)\n", what, value, unit, goal,
		       value >= goal ? "ok" : "BELOW GOAL");
	else
		printf("%-28s %12.1f %s\n", what, value, unit);
}

static void bench_tdes(void)
{
	static const uint8_t key[16] = { 0x7E, 0x33, 0xA2, 0x78, 0xB3, 0x61, 0x7A, 0x30,
					 0x9B, 0x18, 0x22, 0x2F, 0x37, 0x2A, 0x23, 0x19 };
	struct cas_tdes_key ks;
	cas_tdes_set_key2(&ks, key);
	for (int dir = 0; dir < 2; dir++) {
		double t0 = now_s(), t;
		size_t bytes = 0;
		do {
			if (dir == 0)
				cas_tdes_ecb_encrypt(&ks, buf, buf, sizeof buf);
			else
				cas_tdes_ecb_decrypt(&ks, buf, buf, sizeof buf);
			bytes += sizeof buf;
		} while ((t = now_s() - t0) < RUN_SECONDS);
		report(dir == 0 ? "3des_ecb_encrypt" : "3des_ecb_decrypt", bytes / t / 1e6, "MB/s", 15);
	}
	cas_tdes_wipe(&ks);

	struct cas_des_key dk;
	cas_des_set_key(&dk, key);
	double t0 = now_s(), t;
	size_t bytes = 0;
	do {
		for (size_t i = 0; i < sizeof buf; i += 8)
			cas_des_encrypt_block(&dk, buf + i, buf + i);
		bytes += sizeof buf;
	} while ((t = now_s() - t0) < RUN_SECONDS);
	report("des_ecb_encrypt", bytes / t / 1e6, "MB/s", 0);

	t0 = now_s();
	size_t n = 0;
	uint8_t k16[16];
	memcpy(k16, key, 16);
	do {
		for (int i = 0; i < 1000; i++) {
			k16[0] = (uint8_t)i;
			cas_tdes_set_key2(&ks, k16);
		}
		n += 1000;
	} while ((t = now_s() - t0) < RUN_SECONDS);
	sink = (uint8_t)ks.k1.sk[0];
	report("3des_key2_setup", n / t, "setups/s", 0);
	cas_tdes_wipe(&ks);
}

static void bench_md5(void)
{
	uint8_t d[16];
	double t0 = now_s(), t;
	size_t bytes = 0;
	do {
		cas_md5(buf, sizeof buf, d);
		buf[0] = d[0];
		bytes += sizeof buf;
	} while ((t = now_s() - t0) < RUN_SECONDS);
	report("md5", bytes / t / 1e6, "MB/s", 0);
}

static int bench_ecm(void)
{
	uint8_t key[32];
	cas_rand_bytes(key, sizeof key);
	struct cas_tvcas3_ecm_key k;
	cas_tvcas3_ecm_key_init(&k, key);
	struct cas_cp_cw cws[2] = { { .cp = 0 }, { .cp = 1 } };
	cas_rand_bytes(cws[0].cw, 8);
	cas_rand_bytes(cws[1].cw, 8);
	static const uint8_t ac[4] = { 0, 0, 0, 1 };
	uint8_t filler[CAS_TVCAS3_FILLER_LEN] = { 0 };
	for (int fixed = 0; fixed < 2; fixed++) {
		struct cas_ecm_req req = { .cws = cws, .n_cws = 2, .ac = ac, .ac_len = 4,
					   .now = 1710000000 };
		if (fixed) {
			req.filler = filler;
			req.filler_len = sizeof filler;
		}
		uint8_t out[CAS_TVCAS3_ECM_LEN];
		double t0 = now_s(), t;
		size_t n = 0;
		do {
			for (int i = 0; i < 1000; i++) {
				req.cp = (uint16_t)i;
				cws[0].cp = (uint16_t)i;
				cws[1].cp = (uint16_t)(i + 1);
				if (cas_tvcas3_ecm_build(&k, &req, out) < 0) {
					fprintf(stderr, "bench_crypto: ECM build failed\n");
					return -1;
				}
			}
			n += 1000;
		} while ((t = now_s() - t0) < RUN_SECONDS);
		sink = out[54];
		report(fixed ? "ecm_build (fixed filler)" : "ecm_build (random filler)", n / t,
		       "ECMs/s", 0);
	}
	cas_tvcas3_ecm_key_wipe(&k);
	return 0;
}

static int bench_emm(void)
{
	struct cas_rights c = { .serial = 2100000000u, .ac = 1, .start = 1704067200,
			      .finish = 1735689599, .pair = 0, .type = 1 };
	cas_rand_bytes(c.key, sizeof c.key);
	uint8_t out[CAS_TVCAS3_EMM_LEN];
	double t0 = now_s(), t;
	size_t n = 0;
	do {
		for (int i = 0; i < 1000; i++) {
			c.serial++;
			c.key[0] = (uint8_t)i;	/* a new card: a new key schedule */
			c.start++;
			if (cas_tvcas3_emm_build(&c, out) < 0) {
				fprintf(stderr, "bench_crypto: EMM build failed\n");
				return -1;
			}
		}
		n += 1000;
	} while ((t = now_s() - t0) < RUN_SECONDS);
	sink = out[61];
	report("emm_build", n / t, "EMMs/s", 200000);
	return 0;
}

int main(void)
{
	if (cas_rand_init() < 0) {
		fprintf(stderr, "bench_crypto: unable to initialise libsodium\n");
		return 111;
	}
	cas_rand_bytes(buf, sizeof buf);
	bench_tdes();
	bench_md5();
	if (bench_ecm() < 0 || bench_emm() < 0)
		return 1;
	return 0;
}
