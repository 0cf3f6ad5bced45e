/* Database figures: creating 1,000,000 cards (keys wrapped), point lookups
 * by serial, the emmgd selections, single audited updates.
 * Usage: bench_db [CARDS] (default 1000000).  Goals: create <= 10 s,
 * lookup <= 20 us on average.  Exits 1 if a goal is missed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "db.h"
#include "mkey.h"

#define BATCH 10000
#define FIRST_SERIAL 2100000000u

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift: a cheap, repeatable spread of lookups (not for keys) */
static uint32_t xs(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static int count_cb(void *ctx, const struct cas_card *c)
{
	(void)c;
	(*(long *)ctx)++;
	return 0;
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

int main(int argc, char **argv)
{
	long ncards = argc > 1 ? atol(argv[1]) : 1000000;
	char dir[] = "/tmp/bench_db.XXXXXX";
	char path[128], cmd[160];
	struct cas_mkey mk;
	uint8_t master[32];
	struct cas_db *db = NULL;
	const struct cas_db_actor who = { "casprog", NULL };
	int rc = 1;
	struct cas_card *batch = calloc(BATCH, sizeof *batch);

	if (batch == NULL || ncards <= 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "bench_db: setup failed\n");
		return 111;
	}
	snprintf(path, sizeof path, "%s/cas.db", dir);
	for (int i = 0; i < 32; i++)
		master[i] = (uint8_t)(i * 13 + 1);
	if (cas_mkey_from_bytes(&mk, master) < 0 || cas_db_open(&db, path, &mk, NULL) < 0) {
		fprintf(stderr, "bench_db: %s\n", cas_db_errmsg(db));
		goto out;
	}
	time_t t0 = time(NULL);

	/* 1. create: one transaction, batches of BATCH cards, random keys,
	 *    each wrapped with its own random nonce */
	double t = now_s();
	if (cas_db_begin(db) < 0)
		goto fail;
	for (long done = 0; done < ncards; done += BATCH) {
		size_t n = (size_t)(ncards - done < BATCH ? ncards - done : BATCH);
		for (size_t i = 0; i < n; i++) {
			struct cas_card *c = &batch[i];
			memset(c, 0, sizeof *c);
			c->serial_no = FIRST_SERIAL + (uint32_t)(done + (long)i);
			snprintf(c->name, sizeof c->name, "card %lu", (unsigned long)c->serial_no);
			randombytes_buf(c->key, sizeof c->key);	/* as casprog issues them */
			c->access_criteria = 0x1;
			c->type = CAS_CARD_PROTECT_ON;
			c->status = CAS_CARD_ACTIVE;
			c->start = t0 - 86400;
			/* spread the finish dates over a year, as a real base */
			c->finish = t0 + (int64_t)(c->serial_no % 365) * 86400;
		}
		if (cas_db_cards_insert(db, batch, n, &who) < 0)
			goto fail;
	}
	if (cas_db_commit(db) < 0)
		goto fail;
	double create_s = now_s() - t;
	printf("create: %ld cards in %.2f s (%.0f cards/s, %.2f us/card, keys wrapped) [goal <= 10 s]\n",
	       ncards, create_s, (double)ncards / create_s, create_s * 1e6 / (double)ncards);

	/* 2. point lookups by serial, random order, key unwrapped */
	long lookups = 200000;
	uint32_t seed = 2463534242u;
	struct cas_card c;
	t = now_s();
	for (long i = 0; i < lookups; i++) {
		uint32_t s = FIRST_SERIAL + xs(&seed) % (uint32_t)ncards;
		if (cas_db_card_get(db, s, &c) != 0) {
			fprintf(stderr, "bench_db: lookup %lu: %s\n", (unsigned long)s, cas_db_errmsg(db));
			goto out;
		}
	}
	double lookup_us = (now_s() - t) * 1e6 / (double)lookups;
	printf("lookup: %.2f us per card by serial (average of %ld random lookups) [goal <= 20 us]\n",
	       lookup_us, lookups);

	/* 3. emmgd: the on-air set and the change feed */
	long n = 0;
	t = now_s();
	if (cas_db_cards_on_air(db, (int64_t)t0, 7, count_cb, &n) < 0)
		goto fail;
	printf("on air: %ld cards read (keys unwrapped) in %.2f s\n", n, now_s() - t);
	int64_t max = 0;
	cas_db_change_max(db, &max);
	n = 0;
	t = now_s();
	if (cas_db_cards_changed_since(db, max - 1000, count_cb, NULL, &n) < 0)
		goto fail;
	printf("changed since: %ld cards after change %lld in %.2f ms\n", n, (long long)(max - 1000),
	       (now_s() - t) * 1e3);

	/* 4. single audited updates, each its own durable transaction */
	long updates = 200;
	t = now_s();
	for (long i = 0; i < updates; i++) {
		c.serial_no = FIRST_SERIAL + xs(&seed) % (uint32_t)ncards;
		c.finish = t0 + 400 * 86400 + i;
		if (cas_db_card_update(db, &c, CAS_CARD_F_FINISH, &who, NULL) < 0)
			goto fail;
	}
	printf("update: %.2f ms per audited update (own transaction, synchronous=FULL)\n",
	       (now_s() - t) * 1e3 / (double)updates);
	cas_card_wipe(&c);

	cas_db_close(db);
	db = NULL;
	printf("file: %.1f MB for %ld cards (%.0f bytes/card)\n", (double)file_size(path) / 1e6,
	       ncards, (double)file_size(path) / (double)ncards);
	rc = 0;
	if (ncards >= 1000000 && create_s > 10.0) {
		printf("bench_db: create goal missed\n");
		rc = 1;
	}
	if (lookup_us > 20.0) {
		printf("bench_db: lookup goal missed\n");
		rc = 1;
	}
	goto out;
fail:
	fprintf(stderr, "bench_db: %s\n", cas_db_errmsg(db));
out:
	cas_db_close(db);
	cas_mkey_clear(&mk);
	free(batch);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
