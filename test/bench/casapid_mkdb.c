/* Bench helper for test/bench/casapid.sh: fills the database of a casapid
 * configuration with N cards (serials 2100000000..), through the db layer's
 * bulk insert, as fast as it goes.
 * Usage: casapid_mkdb CONF N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "cli.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "rand.h"

#define BATCH 10000

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	struct cas_conf conf;
	struct cas_db *db;
	const struct cas_db_actor who = { "casprog", NULL };
	if (argc != 3) {
		fprintf(stderr, "usage: casapid_mkdb CONF N\n");
		return CAS_EXIT_USAGE;
	}
	long n = atol(argv[2]);
	cas_log_start("casapid_mkdb", CAS_LOG_WARN, 0);
	if (cas_conf_load(&conf, argv[1]) < 0) {
		fprintf(stderr, "casapid_mkdb: %s\n", conf.err);
		return CAS_EXIT_CONFIG;
	}
	if (cas_rand_init() < 0 || cas_db_start(&conf, &db) < 0)
		return CAS_EXIT_SYSTEM;
	/* a throw-away bench database: no fsync while building it */
	sqlite3_exec(cas_db_sqlite(db), "PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; "
		     "PRAGMA cache_size = -262144", NULL, NULL, NULL);
	struct cas_card *b = calloc(BATCH, sizeof *b);
	if (b == NULL)
		return CAS_EXIT_SYSTEM;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = cas_db_begin(db);
	for (long done = 0; rc == 0 && done < n; done += BATCH) {
		long k = n - done < BATCH ? n - done : BATCH;
		for (long i = 0; i < k; i++) {
			struct cas_card *c = &b[i];
			long s = done + i;
			memset(c, 0, sizeof *c);
			c->serial_no = 2100000000u + (uint32_t)s;
			snprintf(c->name, sizeof c->name, "Subscriber %ld", s);
			snprintf(c->info, sizeof c->info, "Street %ld, flat %ld", s % 997, s % 211);
			cas_rand_bytes(c->key, sizeof c->key);
			c->access_criteria = 1u << (s % 8);
			c->type = CAS_CARD_PROTECT_ON;
			c->start = 1735689600 + s % 86400;
			c->finish = 1767225599 + s % 86400;
			c->status = CAS_CARD_ACTIVE;
		}
		rc = cas_db_cards_insert(db, b, (size_t)k, &who);
	}
	if (rc == 0)
		rc = cas_db_commit(db);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != 0) {
		fprintf(stderr, "casapid_mkdb: %s\n", cas_db_errmsg(db));
		return CAS_EXIT_SYSTEM;
	}
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("database: %ld cards in %.1f s\n", n, s);
	for (long i = 0; i < BATCH; i++)
		cas_card_wipe(&b[i]);
	free(b);
	cas_db_close(db);
	cas_conf_free(&conf);
	return 0;
}
