/* Database figures: creating 1,000,000 cards (keys wrapped), point lookups
 * by serial, the emmgd selections, single audited updates, cascron's jobs
 * (expiry sweep with every card due, renewal, unblocking).
 * Usage: bench_db [CARDS] (default 1000000).  Goals (1,000,000 cards):
 * create <= 10 s, lookup <= 20 us on average, expiry sweep < 2 s.  Exits 1
 * if a goal is missed.  Each figure is wall time and the CPU time (user +
 * sys) of this process: on a shared machine the wall time depends on the
 * other load, the CPU time much less. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

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

/* user + sys CPU seconds of this process */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A timed phase: wall and CPU seconds since phase_start(). */
struct phase {
	double wall, cpu;
};

static void phase_start(struct phase *p)
{
	p->wall = now_s();
	p->cpu = cpu_s();
}

static void phase_end(struct phase *p)
{
	p->wall = now_s() - p->wall;
	p->cpu = cpu_s() - p->cpu;
}

/* Runs SQL on the raw handle (the set-up an operator would do by hand). */
static int raw_exec(struct cas_db *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(cas_db_sqlite(db), sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench_db: %s: %s\n", sql, err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
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
	struct phase ph;
	phase_start(&ph);
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
	phase_end(&ph);
	double create_s = ph.wall;
	printf("create: %ld cards in %.2f s, CPU %.2f s (%.0f cards/s, %.2f us/card, keys wrapped) "
	       "[goal <= 10 s]\n", ncards, create_s, ph.cpu, (double)ncards / create_s,
	       create_s * 1e6 / (double)ncards);

	/* 2. point lookups by serial, random order, key unwrapped */
	long lookups = 200000;
	uint32_t seed = 2463534242u;
	struct cas_card c;
	double t = now_s();
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

	/* 5. cascron: every card's finish has passed (the updates above moved
	 *    200 of them 400 days on), all expire in one sweep */
	int64_t changed = 0;
	int64_t sweep_at = (int64_t)t0 + 401 * 86400;
	/* the sweep starts with the creation's 270 MB on disk: the kernel
	 * writing them back behind it would be timed as the sweep's */
	sync();
	phase_start(&ph);
	if (cas_db_cards_expire(db, sweep_at, &who, &changed) < 0)
		goto fail;
	phase_end(&ph);
	double expire_s = ph.wall;
	printf("expiry sweep: %lld of %ld cards expired in %.2f s, CPU %.2f s (audited, new change_no "
	       "each) [goal < 2 s]\n", (long long)changed, ncards, expire_s, ph.cpu);

	/* 6. one card in ten renewed by hand (finish moved on), then set
	 *    active again; then one in ten blocked until the sweep time, and
	 *    the block lifted */
	char sql[200];
	snprintf(sql, sizeof sql, "UPDATE cards SET finish = %lld WHERE serial_no %% 10 = 0",
		 (long long)sweep_at + 30 * 86400);
	if (raw_exec(db, sql) < 0)
		goto out;
	phase_start(&ph);
	if (cas_db_cards_renew(db, sweep_at, &who, &changed) < 0)
		goto fail;
	phase_end(&ph);
	printf("renewal: %lld cards active again in %.2f s, CPU %.2f s\n", (long long)changed,
	       ph.wall, ph.cpu);
	snprintf(sql, sizeof sql, "UPDATE cards SET blocked_until = %lld WHERE serial_no %% 10 = 1",
		 (long long)sweep_at - 60);
	if (raw_exec(db, sql) < 0)
		goto out;
	phase_start(&ph);
	if (cas_db_cards_unblock(db, sweep_at, &who, &changed) < 0)
		goto fail;
	phase_end(&ph);
	printf("unblock: %lld blocks lifted in %.2f s, CPU %.2f s\n", (long long)changed, ph.wall,
	       ph.cpu);

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
	if (ncards >= 1000000 && expire_s >= 2.0) {
		printf("bench_db: expiry sweep goal missed\n");
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
