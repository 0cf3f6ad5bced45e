/*
 * cardtool: changes cards through the database layer (libcas db.h), as
 * casapid, cascron or a CSV import would, for the emmgd tests and benchmark.
 *
 *   cardtool -c CONF create FIRST COUNT [field=value ...]
 *   cardtool -c CONF set SERIAL field=value ...
 *   cardtool -c CONF touch SERIAL
 *   cardtool -c CONF delete SERIAL
 *   cardtool -c CONF key SERIAL           prints the card key (hex)
 *   cardtool -c CONF gen                  prints the emmg generators rows
 *   cardtool -c CONF churn SECONDS MS FIRST COUNT
 *                                          sets a new AC on a random card of
 *                                          FIRST..FIRST+COUNT-1 every MS ms
 * Fields: ac (hex), start, finish (Unix seconds), status, blocked (Unix
 * seconds, 0 = none), pair, type.  create defaults: ac 1, start = now - 1
 * day, finish = now + 30 days, status 1, type 1, pair 0; random keys.
 * set/touch/delete/churn print "changed SERIAL AC MS" with the Unix time in
 * ms just before the change is committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "hex.h"
#include "log.h"
#include "mkey.h"
#include "rand.h"

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int apply_field(struct cas_card *c, const char *kv, unsigned *fields)
{
	const char *eq = strchr(kv, '=');
	if (eq == NULL)
		return -1;
	size_t n = (size_t)(eq - kv);
	const char *v = eq + 1;
	if (n == 2 && strncmp(kv, "ac", 2) == 0) {
		c->access_criteria = (uint32_t)strtoul(v, NULL, 16);
		*fields |= CAS_CARD_F_AC;
	} else if (n == 5 && strncmp(kv, "start", 5) == 0) {
		c->start = strtoll(v, NULL, 10);
		*fields |= CAS_CARD_F_START;
	} else if (n == 6 && strncmp(kv, "finish", 6) == 0) {
		c->finish = strtoll(v, NULL, 10);
		*fields |= CAS_CARD_F_FINISH;
	} else if (n == 6 && strncmp(kv, "status", 6) == 0) {
		c->status = atoi(v);
		*fields |= CAS_CARD_F_STATUS;
	} else if (n == 7 && strncmp(kv, "blocked", 7) == 0) {
		c->blocked_until = strtoll(v, NULL, 10);
		*fields |= CAS_CARD_F_BLOCKED;
	} else if (n == 4 && strncmp(kv, "pair", 4) == 0) {
		c->pair = atoi(v);
		*fields |= CAS_CARD_F_PAIR;
	} else if (n == 4 && strncmp(kv, "type", 4) == 0) {
		c->type = atoi(v);
		*fields |= CAS_CARD_F_TYPE;
	} else {
		return -1;
	}
	return 0;
}

static int gen_print(void *ctx, const struct cas_generator *g)
{
	(void)ctx;
	if (g->kind != CAS_GEN_EMMG)
		return 0;
	printf("gen name=%s state=%s emms=%lld bytes=%lld errors=%lld queue_len=%lld cycle_ms=%lld "
	       "bandwidth=%lld channels=%lld streams=%lld pid=%lld updated=%lld settings=\"%s\"\n",
	       g->name, g->state, (long long)g->emms, (long long)g->bytes, (long long)g->errors,
	       (long long)g->queue_len, (long long)g->cycle_ms, (long long)g->bandwidth,
	       (long long)g->channels, (long long)g->streams, (long long)g->pid,
	       (long long)g->updated, g->settings);
	return 0;
}

static int set_card(struct cas_db *db, uint32_t serial, int argc, char **argv, int ai)
{
	static const struct cas_db_actor who = { "test", NULL };
	struct cas_card c;
	unsigned fields = 0;
	if (cas_db_card_get(db, serial, &c) != 0) {
		fprintf(stderr, "cardtool: card %u: %s\n", serial, cas_db_errmsg(db));
		return 2;
	}
	for (; ai < argc; ai++)
		if (apply_field(&c, argv[ai], &fields) < 0) {
			fprintf(stderr, "cardtool: bad field '%s'\n", argv[ai]);
			return 100;
		}
	int64_t t = real_ms();
	if (cas_db_card_update(db, &c, fields, &who, NULL) != 0) {
		fprintf(stderr, "cardtool: card %u: %s\n", serial, cas_db_errmsg(db));
		return 2;
	}
	printf("changed %u %08X %lld\n", serial, c.access_criteria, (long long)t);
	cas_card_wipe(&c);
	return 0;
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	static const struct cas_db_actor who = { "test", NULL };
	const char *conf_path = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt == 'c')
			conf_path = optarg;
		else
			return 100;
	}
	if (conf_path == NULL || optind >= argc) {
		fprintf(stderr, "usage: cardtool -c CONF create|set|touch|delete|key|gen|churn ...\n");
		return 100;
	}
	cas_log_start("cardtool", CAS_LOG_WARN, 0);
	struct cas_conf conf;
	if (cas_conf_load(&conf, conf_path) < 0) {
		fprintf(stderr, "cardtool: %s\n", conf.err);
		return 1;
	}
	struct cas_db *db;
	if (cas_db_start(&conf, &db) < 0)
		return 111;
	cas_rand_init();
	const char *cmd = argv[optind];
	int ai = optind + 1;
	int rc = 0;
	int64_t now = time(NULL);
	if (strcmp(cmd, "create") == 0 && argc - ai >= 2) {
		uint32_t first = (uint32_t)strtoul(argv[ai], NULL, 10);
		size_t count = strtoul(argv[ai + 1], NULL, 10);
		struct cas_card proto;
		memset(&proto, 0, sizeof proto);
		proto.access_criteria = 1;
		proto.start = now - 86400;
		proto.finish = now + 30 * 86400;
		proto.status = CAS_CARD_ACTIVE;
		proto.type = CAS_CARD_PROTECT_ON;
		unsigned fields = 0;
		for (int i = ai + 2; i < argc; i++)
			if (apply_field(&proto, argv[i], &fields) < 0) {
				fprintf(stderr, "cardtool: bad field '%s'\n", argv[i]);
				return 100;
			}
		const size_t chunk = 100000;
		struct cas_card *cards = calloc(chunk, sizeof *cards);
		if (cards == NULL)
			return 111;
		for (size_t done = 0; done < count && rc == 0;) {
			size_t n = count - done < chunk ? count - done : chunk;
			for (size_t i = 0; i < n; i++) {
				cards[i] = proto;
				cards[i].serial_no = first + (uint32_t)(done + i);
				cas_rand_bytes(cards[i].key, sizeof cards[i].key);
			}
			if (cas_db_cards_insert(db, cards, n, &who) != 0) {
				fprintf(stderr, "cardtool: %s\n", cas_db_errmsg(db));
				rc = 2;
			}
			done += n;
		}
		for (size_t i = 0; i < chunk; i++)
			cas_card_wipe(&cards[i]);
		free(cards);
		if (rc == 0)
			printf("created %zu cards from %u\n", count, first);
	} else if (strcmp(cmd, "set") == 0 && argc - ai >= 1) {
		rc = set_card(db, (uint32_t)strtoul(argv[ai], NULL, 10), argc, argv, ai + 1);
	} else if (strcmp(cmd, "touch") == 0 && argc - ai >= 1) {
		uint32_t serial = (uint32_t)strtoul(argv[ai], NULL, 10);
		int64_t t = real_ms();
		if (cas_db_card_touch(db, serial, &who, "test") != 0) {
			fprintf(stderr, "cardtool: %s\n", cas_db_errmsg(db));
			rc = 2;
		} else {
			printf("changed %u - %lld\n", serial, (long long)t);
		}
	} else if (strcmp(cmd, "delete") == 0 && argc - ai >= 1) {
		uint32_t serial = (uint32_t)strtoul(argv[ai], NULL, 10);
		int64_t t = real_ms();
		if (cas_db_card_delete(db, serial, &who) != 0) {
			fprintf(stderr, "cardtool: %s\n", cas_db_errmsg(db));
			rc = 2;
		} else {
			printf("changed %u 00000000 %lld\n", serial, (long long)t);
		}
	} else if (strcmp(cmd, "key") == 0 && argc - ai >= 1) {
		struct cas_card c;
		if (cas_db_card_get(db, (uint32_t)strtoul(argv[ai], NULL, 10), &c) != 0) {
			fprintf(stderr, "cardtool: %s\n", cas_db_errmsg(db));
			rc = 2;
		} else {
			char hex[33];
			cas_hex_encode(c.key, 16, hex);
			printf("%s\n", hex);
			cas_card_wipe(&c);
		}
	} else if (strcmp(cmd, "gen") == 0) {
		if (cas_db_gen_each(db, gen_print, NULL) < 0) {
			fprintf(stderr, "cardtool: %s\n", cas_db_errmsg(db));
			rc = 2;
		}
	} else if (strcmp(cmd, "churn") == 0 && argc - ai >= 4) {
		double secs = atof(argv[ai]);
		int ms = atoi(argv[ai + 1]);
		uint32_t first = (uint32_t)strtoul(argv[ai + 2], NULL, 10);
		uint32_t count = (uint32_t)strtoul(argv[ai + 3], NULL, 10);
		int64_t end = real_ms() + (int64_t)(secs * 1000);
		uint32_t k = 0;
		while (real_ms() < end && rc == 0) {
			uint32_t serial = first + cas_rand_uniform(count);
			char ac[32];
			snprintf(ac, sizeof ac, "ac=%08X", 0x10000000u + (++k));
			char *args[1] = { ac };
			rc = set_card(db, serial, 1, args, 0);
			usleep((useconds_t)ms * 1000);
		}
	} else {
		fprintf(stderr, "cardtool: unknown command or missing arguments: %s\n", cmd);
		rc = 100;
	}
	cas_db_close(db);
	cas_conf_free(&conf);
	return rc;
}
