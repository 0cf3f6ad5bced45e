/*
 * casprog create: new cards in the database with fresh random keys, and one
 * personalisation file per card (reference/tvcas3.md §5), all or nothing:
 *
 *   1. every check first (options, ecm_key, date range, serial range, no
 *      file in the way), before anything is written;
 *   2. one transaction: the cards are inserted in batches, each card's file
 *      written to NAME.tmp (0600, fsync);
 *   3. every NAME.tmp linked to NAME (link() never replaces a file), the
 *      folder synced, then COMMIT.
 * Any failure removes every file of the run and rolls the insert back; a
 * failed COMMIT removes the files too.  The serials are printed only after
 * the COMMIT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "casprog.h"
#include "cdate.h"
#include "db.h"
#include "fs.h"
#include "hex.h"
#include "log.h"
#include "rand.h"

#define BATCH 1000
#define MAX_COUNT 1000000
#define CONAX_FIRST INT64_C(631152000)		/* 1990-01-01T00:00:00Z */
#define CONAX_LAST INT64_C(3155759999)		/* 2069-12-31T23:59:59Z */

struct create_opts {
	uint64_t count;
	int has_first;
	uint32_t first;
	uint32_t ac;
	int64_t start, finish;
	int has_start, has_finish;
	const char *start_arg, *finish_arg;
	const char *out;
};

struct run {
	const struct cas_conf *conf;
	const char *dir;
	struct cas_db *db;
	uint32_t first;
	uint64_t done;			/* cards whose NAME.tmp exists */
	uint64_t linked;		/* cards whose NAME exists */
};

static int path_of(const struct run *r, uint32_t serial, int tmp, char *out, size_t cap)
{
	char name[32];
	cp_bin_name(serial, name);
	int n = snprintf(out, cap, "%s/%s%s", r->dir, name, tmp ? ".tmp" : "");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Removes the files of the run: NAME.tmp of every card written, NAME of
 * every card linked. */
static void remove_files(struct run *r)
{
	char path[4200];
	for (uint64_t i = 0; i < r->done; i++) {
		if (path_of(r, (uint32_t)(r->first + i), 1, path, sizeof path) == 0)
			unlink(path);
		if (i < r->linked && path_of(r, (uint32_t)(r->first + i), 0, path, sizeof path) == 0)
			unlink(path);
	}
}

static int write_tmp(const char *path, const uint8_t *bin, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cas_log(CAS_LOG_FATAL, "unable to create %s: %s", path, strerror(errno));
		return -1;
	}
	/* a stale temp file keeps its old mode through O_TRUNC */
	if (fchmod(fd, 0600) < 0 || write(fd, bin, len) != (ssize_t)len || fsync(fd) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		cas_log(CAS_LOG_FATAL, "unable to sync folder %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int parse_args(struct cp_ctx *ctx, struct create_opts *o, int *code)
{
	enum { O_FIRST = 0x100, O_AC, O_START, O_FINISH, O_OUT };
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "first", required_argument, NULL, O_FIRST },
		{ "ac", required_argument, NULL, O_AC },
		{ "start", required_argument, NULL, O_START },
		{ "finish", required_argument, NULL, O_FINISH },
		{ "out", required_argument, NULL, O_OUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;
	memset(o, 0, sizeof *o);
	o->count = 1;
	*code = CAS_EXIT_USAGE;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(ctx->argc, ctx->argv, ":n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(ctx->cli->usage, stdout);
			*code = CAS_EXIT_OK;
			return -1;
		case 'n':
			if (cp_parse_uint(optarg, 1, MAX_COUNT, &o->count) < 0) {
				cp_usage("-n wants a number of cards 1..%d, not '%s'", MAX_COUNT, optarg);
				return -1;
			}
			break;
		case O_FIRST:
			if (cp_parse_uint(optarg, 1, UINT32_MAX, &v) < 0) {
				cp_usage("--first wants a serial number, not '%s'", optarg);
				return -1;
			}
			o->has_first = 1;
			o->first = (uint32_t)v;
			break;
		case O_AC: {
			uint8_t b[4];
			if (cas_hex_decode(optarg, strlen(optarg), b, 4) < 0) {
				cp_usage("--ac wants 8 hex digits (the access criteria mask), not '%s'", optarg);
				return -1;
			}
			o->ac = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
			break;
		}
		case O_START:
		case O_FINISH: {
			int64_t t;
			if (cp_parse_time(optarg, &t) < 0) {
				cp_usage("--%s wants Unix seconds or a date YYYY-MM-DD[THH:MM:SS] (UTC), not '%s'",
					 c == O_START ? "start" : "finish", optarg);
				return -1;
			}
			if (c == O_START) {
				o->start = t;
				o->has_start = 1;
				o->start_arg = optarg;
			} else {
				o->finish = t;
				o->has_finish = 1;
				o->finish_arg = optarg;
			}
			break;
		}
		case O_OUT:
			if (*optarg == '\0') {
				cp_usage("--out needs a folder");
				return -1;
			}
			o->out = optarg;
			break;
		case ':':
			cp_usage("%s needs a value (casprog create)", ctx->argv[optind - 1]);
			return -1;
		default:
			cp_usage("unknown option '%s' for casprog create", ctx->argv[optind - 1]);
			return -1;
		}
	}
	/* a unique address needs a non-zero top byte (conax-card.md §2.4) */
	if (o->has_first && o->first >> 24 == 0) {
		cp_usage("--first %u: a card serial needs a non-zero top byte (at least 16777216)", o->first);
		return -1;
	}
	if (o->has_first && (uint64_t)o->first + o->count - 1 > UINT32_MAX) {
		cp_usage("--first %u: %llu cards would pass serial 4294967295", o->first,
			 (unsigned long long)o->count);
		return -1;
	}
	if (optind < ctx->argc) {
		cp_usage("unexpected argument '%s' for casprog create", ctx->argv[optind]);
		return -1;
	}
	/* Both ends must have a Conax date (tvcas3.md §5): 1990..2069. */
	int64_t now = (int64_t)time(NULL);
	if (!o->has_start)
		o->start = now;
	if (!o->has_finish)
		o->finish = o->start;
	const char *names[2] = { "start", "finish" };
	const int64_t vals[2] = { o->start, o->finish };
	const char *args[2] = { o->start_arg, o->finish_arg };
	for (int i = 0; i < 2; i++) {
		if (vals[i] < CONAX_FIRST || vals[i] > CONAX_LAST) {
			char t[32];
			cp_time_text(vals[i], t);
			cp_usage("--%s %s (%s) is outside the Conax date range 1990-01-01..2069-12-31",
				 names[i], args[i] != NULL ? args[i] : "now", t);
			return -1;
		}
	}
	if (o->finish < o->start) {
		cp_usage("--finish %s is before --start %s", o->finish_arg != NULL ? o->finish_arg : "(default)",
			 o->start_arg != NULL ? o->start_arg : "now");
		return -1;
	}
	return 0;
}

/* Fills one batch of cards: serials, fresh keys, the rights of the run. */
static void fill_batch(struct cas_card *cards, size_t n, uint32_t first, const struct create_opts *o)
{
	for (size_t i = 0; i < n; i++) {
		struct cas_card *c = &cards[i];
		memset(c, 0, sizeof *c);
		c->serial_no = (uint32_t)(first + i);
		cas_rand_bytes(c->key, sizeof c->key);
		c->access_criteria = o->ac;
		c->pair = 0;
		c->type = CAS_CARD_PROTECT_ON;	/* as TVCAS 3's "add card" */
		c->start = o->start;
		c->finish = o->finish;
		c->status = CAS_CARD_ACTIVE;
	}
}

/* Writes NAME.tmp for each card of the batch. */
static int write_batch(struct run *r, const struct cas_card *cards, size_t n)
{
	uint8_t bin[CP_BIN_MAX];
	char path[4200], why[256];
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		const struct cas_card *c = &cards[i];
		struct cas_rights pc = {
			.serial = c->serial_no,
			.ac = c->access_criteria,
			.start = c->start,
			.finish = c->finish,
			.pair = c->pair,
			.type = c->type,
		};
		memcpy(pc.key, c->key, sizeof pc.key);
		long len = cp_bin_build(r->conf, &pc, bin, sizeof bin, why, sizeof why);
		sodium_memzero(pc.key, sizeof pc.key);
		if (len < 0) {
			cas_log(CAS_LOG_FATAL, "%s", why);
			goto out;
		}
		if (path_of(r, c->serial_no, 1, path, sizeof path) < 0) {
			cas_log(CAS_LOG_FATAL, "folder name too long: %s", r->dir);
			goto out;
		}
		/* counted before the write: a partial NAME.tmp is removed too */
		r->done++;
		if (write_tmp(path, bin, (size_t)len) < 0)
			goto out;
	}
	rc = 0;
out:
	sodium_memzero(bin, sizeof bin);
	return rc;
}

int cp_create(struct cp_ctx *ctx)
{
	struct create_opts o;
	struct cas_conf conf;
	struct run r;
	struct cas_card *cards = NULL;
	char path[4200], tmp[4200], err[512];
	int rc;

	if (parse_args(ctx, &o, &rc) < 0)
		return rc;
	if (cp_load_conf(ctx, &conf, &rc) < 0)
		return rc;
	memset(&r, 0, sizeof r);
	r.conf = &conf;
	r.dir = o.out != NULL ? o.out : cas_conf_str(&conf, "card.dir");
	rc = CAS_EXIT_CONFIG;
	if (!cas_conf_is_set(&conf, "ecm_key")) {
		cas_log(CAS_LOG_FATAL, "ecm_key is not set in %s: casprog create needs it for the personalisation files",
			conf.path != NULL ? conf.path : "the configuration");
		goto out;
	}
	uint64_t lo = (uint64_t)cas_conf_int(&conf, "card.first_serial");
	uint64_t hi = (uint64_t)cas_conf_int(&conf, "card.last_serial");
	if (lo > hi) {
		cas_log(CAS_LOG_FATAL, "card.first_serial %llu is above card.last_serial %llu",
			(unsigned long long)lo, (unsigned long long)hi);
		goto out;
	}
	rc = CAS_EXIT_SYSTEM;
	if (cas_rand_init() < 0) {
		cas_log(CAS_LOG_FATAL, "unable to initialise the random number generator");
		goto out;
	}
	if (cas_fs_mkdir_p(r.dir, err, sizeof err) < 0) {
		cas_log(CAS_LOG_FATAL, "%s", err);
		goto out;
	}
	if (cas_db_start(&conf, &r.db) < 0)
		goto out;
	if (cas_db_begin(r.db) < 0) {
		cas_log(CAS_LOG_FATAL, "%s", cas_db_errmsg(r.db));
		goto out;
	}

	/* The serials: --first, else the next after the highest in use in
	 * card.first_serial..card.last_serial (TVCAS 3: max + 1). */
	uint64_t first;
	if (o.has_first) {
		first = o.first;
	} else {
		uint32_t max;
		int m = cas_db_card_max_serial(r.db, (uint32_t)lo, (uint32_t)hi, &max);
		if (m < 0) {
			cas_log(CAS_LOG_FATAL, "%s", cas_db_errmsg(r.db));
			goto out;
		}
		first = m == CAS_DB_NOTFOUND ? lo : (uint64_t)max + 1;
		if (first >> 24 == 0) {
			cas_log(CAS_LOG_FATAL, "card.first_serial %llu: a card serial needs a non-zero top byte (at least 16777216)",
				(unsigned long long)first);
			rc = CAS_EXIT_CONFIG;
			goto out;
		}
		if (first + o.count - 1 > hi) {
			if (first > hi)
				cas_log(CAS_LOG_FATAL, "no serial left: card.last_serial %llu is in use",
					(unsigned long long)hi);
			else
				cas_log(CAS_LOG_FATAL, "only %llu serials left up to card.last_serial %llu, %llu cards asked",
					(unsigned long long)(hi - first + 1), (unsigned long long)hi,
					(unsigned long long)o.count);
			rc = CAS_EXIT_FAILED;
			goto out;
		}
	}
	r.first = (uint32_t)first;
	if (o.has_first) {
		/* a taken serial is named before anything else is looked at */
		uint32_t max;
		int m = cas_db_card_max_serial(r.db, r.first, (uint32_t)(first + o.count - 1), &max);
		if (m < 0) {
			cas_log(CAS_LOG_FATAL, "%s", cas_db_errmsg(r.db));
			goto out;
		}
		if (m == 0) {
			cas_log(CAS_LOG_FATAL, "serial %u is taken (--first %u, %llu card%s); nothing created", max,
				r.first, (unsigned long long)o.count, o.count == 1 ? "" : "s");
			rc = CAS_EXIT_FAILED;
			goto out;
		}
	}

	/* Nothing in the way: an existing file is never replaced. */
	for (uint64_t i = 0; i < o.count; i++) {
		struct stat sb;
		if (path_of(&r, (uint32_t)(first + i), 0, path, sizeof path) < 0) {
			cas_log(CAS_LOG_FATAL, "folder name too long: %s", r.dir);
			goto out;
		}
		if (lstat(path, &sb) == 0) {
			cas_log(CAS_LOG_FATAL, "%s already exists: casprog create replaces no file (card %llu); nothing created",
				path, (unsigned long long)(first + i));
			rc = CAS_EXIT_FAILED;
			goto out;
		}
	}

	cards = calloc(o.count < BATCH ? o.count : BATCH, sizeof *cards);
	if (cards == NULL) {
		cas_log(CAS_LOG_FATAL, "out of memory");
		goto out;
	}
	struct cas_db_actor who = { "casprog", NULL };
	for (uint64_t off = 0; off < o.count; off += BATCH) {
		size_t n = o.count - off < BATCH ? (size_t)(o.count - off) : BATCH;
		fill_batch(cards, n, (uint32_t)(first + off), &o);
		int ins = cas_db_cards_insert(r.db, cards, n, &who);
		if (ins != 0) {
			cas_log(CAS_LOG_FATAL, "%s; nothing created", cas_db_errmsg(r.db));
			rc = ins == CAS_DB_EXISTS ? CAS_EXIT_FAILED : CAS_EXIT_SYSTEM;
			goto wipe;
		}
		int w = write_batch(&r, cards, n);
		for (size_t i = 0; i < n; i++)
			cas_card_wipe(&cards[i]);
		if (w < 0)
			goto out;
	}
	for (uint64_t i = 0; i < o.count; i++) {
		uint32_t s = (uint32_t)(first + i);
		if (path_of(&r, s, 1, tmp, sizeof tmp) < 0 || path_of(&r, s, 0, path, sizeof path) < 0)
			goto out;
		if (link(tmp, path) < 0) {
			cas_log(CAS_LOG_FATAL, "unable to create %s: %s", path, strerror(errno));
			rc = errno == EEXIST ? CAS_EXIT_FAILED : CAS_EXIT_SYSTEM;
			goto out;
		}
		r.linked++;
	}
	for (uint64_t i = 0; i < o.count; i++)
		if (path_of(&r, (uint32_t)(first + i), 1, tmp, sizeof tmp) == 0)
			unlink(tmp);
	if (sync_dir(r.dir) < 0)
		goto out;
	if (cas_db_commit(r.db) < 0) {
		cas_log(CAS_LOG_FATAL, "%s", cas_db_errmsg(r.db));
		goto out;
	}
	r.done = 0;	/* committed: the files stay */
	for (uint64_t i = 0; i < o.count; i++) {
		uint32_t s = (uint32_t)(first + i);
		path_of(&r, s, 0, path, sizeof path);
		printf("%u %s\n", s, path);
	}
	if (fflush(stdout) != 0)
		cas_log(CAS_LOG_ERROR, "unable to write to stdout: %s", strerror(errno));
	cas_log(CAS_LOG_INFO, "%llu card%s created (%u..%u), personalisation files in %s",
		(unsigned long long)o.count, o.count == 1 ? "" : "s", r.first,
		(uint32_t)(first + o.count - 1), r.dir);
	rc = CAS_EXIT_OK;
	goto out;
wipe:
	for (size_t i = 0; i < BATCH && cards != NULL && i < o.count; i++)
		cas_card_wipe(&cards[i]);
out:
	if (r.done > 0)
		remove_files(&r);
	if (r.db != NULL) {
		cas_db_rollback(r.db);
		cas_db_close(r.db);
	}
	free(cards);
	cas_conf_free(&conf);
	return rc;
}
