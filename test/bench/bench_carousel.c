/*
 * bench_carousel: emmgd's carousel with 1,000,000 cards on one core.
 *   - cards taken in per second (cas_carousel_apply: index, probe build);
 *   - EMMs built per second through cas_carousel_next (the background
 *     cycle: effective rights, 3DES key schedule, MD5 filler, 3DES), the
 *     goal being >= 200,000;
 *   - EMMs built per second with changes and repetitions in the queue;
 *   - memory: RSS growth for the 1,000,000 cards (goal < 200 MB for the
 *     whole daemon).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carousel.h"
#include "profile.h"
#include "rand.h"
#include "tvcas3.h"

#define N 1000000u
#define T0_MS 1720000000000LL

int main(void);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

int main(void)
{
	if (cas_rand_init() < 0)
		return 1;
	struct cas_carousel_params par = { 7, 3, 20000, 0, 0 };
	struct cas_carousel *c = cas_carousel_new(&cas_tvcas3_profile, 1, &par);
	if (c == NULL)
		return 1;
	long rss0 = rss_kb();
	struct cas_carousel_update u;
	memset(&u, 0, sizeof u);
	u.start = T0_MS / 1000 - 86400;
	u.finish = T0_MS / 1000 + 30 * 86400;
	u.edited = T0_MS / 1000;
	u.status = 1;
	u.type = 1;
	double t = now_s();
	for (uint32_t i = 0; i < N; i++) {
		u.serial = 2100000000u + i;
		cas_rand_bytes(u.key, sizeof u.key);
		u.ac = i;
		if (cas_carousel_apply(c, &u, CAS_CAROUSEL_LOADED, T0_MS) < 0)
			return 1;
	}
	double apply = now_s() - t;
	long rss1 = rss_kb();

	uint8_t sec[256];
	struct cas_carousel_pick pick;
	t = now_s();
	for (uint32_t i = 0; i < N; i++)
		if (cas_carousel_next(c, 0, T0_MS + i / 1000, sec, sizeof sec, &pick) != CAS_TVCAS3_EMM_LEN)
			return 1;
	double build = now_s() - t;

	/* 100,000 changes: each goes out first, then 3 repetitions later. */
	for (uint32_t i = 0; i < 100000; i++) {
		u.serial = 2100000000u + i * 7;
		u.ac = 0x80000000u | i;
		cas_carousel_apply(c, &u, CAS_CAROUSEL_CHANGED, T0_MS + 1000);
	}
	t = now_s();
	for (uint32_t i = 0; i < 400000; i++)
		if (cas_carousel_next(c, 0, T0_MS + 1000 + (int64_t)i * 200, sec, sizeof sec, &pick) <= 0)
			return 1;
	double mixed = now_s() - t;

	printf("carousel_apply (1M cards)       %10.0f cards/s   (%.2f s)\n", N / apply, apply);
	printf("carousel_emm_build (1 core)     %10.0f EMMs/s    (goal >= 200000: %s)\n", N / build,
	       N / build >= 200000 ? "ok" : "MISSED");
	printf("carousel_emm_build (changes)    %10.0f EMMs/s\n", 400000 / mixed);
	printf("carousel_memory (1M cards)      %10.1f MB        (RSS growth; daemon goal < 200 MB)\n",
	       (double)(rss1 - rss0) / 1024.0);
	cas_carousel_free(c);
	return 0;
}
