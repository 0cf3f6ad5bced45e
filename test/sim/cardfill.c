/*
 * cardfill: puts test cards into a FreeCAS database through libcas (so the
 * card keys are wrapped with the master key exactly as the programs do),
 * for the cascron tests and benchmarks.
 *
 *   cardfill -f CONF FIRST COUNT START FINISH [BLOCKED_UNTIL [STATUS]]
 *
 * Inserts COUNT cards with serials FIRST, FIRST+1, ... (one transaction per
 * 100,000 cards), names "card SERIAL", access criteria 00000001, random
 * keys, the given window, block and status (default 1, active).  Audit
 * rows say who = "cardfill".  Prints "cardfill: N cards in S s".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "rand.h"

#define BATCH 100000

static int parse_ll(const char *s, long long *out)
{
	char *end;
	if (*s == '\0')
		return -1;
	*out = strtoll(s, &end, 10);
	return *end == '\0' ? 0 : -1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	static const char usage[] =
		"usage: cardfill -f CONF FIRST COUNT START FINISH [BLOCKED_UNTIL [STATUS]]\n";
	struct cas_cli cli = { .prog = "cardfill", .usage = usage };
	struct cas_conf conf;
	struct cas_db *db = NULL;
	long long v[6] = { 0, 0, 0, 0, 0, CAS_CARD_ACTIVE };
	int code;
	if (cas_cli_parse(&cli, argc, argv, &code) < 0)
		return code;
	int nargs = argc - cli.argi;
	if (nargs < 4 || nargs > 6) {
		fputs(usage, stderr);
		return CAS_EXIT_USAGE;
	}
	for (int i = 0; i < nargs; i++) {
		if (parse_ll(argv[cli.argi + i], &v[i]) < 0) {
			fprintf(stderr, "cardfill: not a number: %s\n", argv[cli.argi + i]);
			return CAS_EXIT_USAGE;
		}
	}
	if (cas_cli_start(&cli, &conf, &code) < 0)
		return code;
	if (cas_db_start(&conf, &db) < 0) {
		cas_conf_free(&conf);
		return CAS_EXIT_SYSTEM;
	}
	struct cas_card *cards = calloc(BATCH, sizeof *cards);
	const struct cas_db_actor who = { "cardfill", NULL };
	int ret = CAS_EXIT_OK;
	double t0 = now_s();
	if (cards == NULL) {
		fprintf(stderr, "cardfill: out of memory\n");
		ret = CAS_EXIT_SYSTEM;
		goto out;
	}
	for (long long done = 0; done < v[1];) {
		size_t n = (size_t)(v[1] - done < BATCH ? v[1] - done : BATCH);
		for (size_t i = 0; i < n; i++) {
			struct cas_card *c = &cards[i];
			memset(c, 0, sizeof *c);
			c->serial_no = (uint32_t)(v[0] + done + (long long)i);
			snprintf(c->name, sizeof c->name, "card %lu", (unsigned long)c->serial_no);
			cas_rand_bytes(c->key, sizeof c->key);
			c->access_criteria = 1;
			c->type = CAS_CARD_PROTECT_ON;
			c->start = v[2];
			c->finish = v[3];
			c->blocked_until = v[4];
			c->status = (int)v[5];
		}
		if (cas_db_cards_insert(db, cards, n, &who) != 0) {
			fprintf(stderr, "cardfill: %s\n", cas_db_errmsg(db));
			ret = CAS_EXIT_FAILED;
			goto out;
		}
		done += (long long)n;
	}
	printf("cardfill: %lld cards in %.2f s\n", v[1], now_s() - t0);
out:
	if (cards) {
		for (size_t i = 0; i < BATCH; i++)
			cas_card_wipe(&cards[i]);
		free(cards);
	}
	cas_db_close(db);
	cas_conf_free(&conf);
	return ret;
}
