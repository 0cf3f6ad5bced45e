/* cascron: the every-minute job (expiry, blocks, billing CSV pull,
 * retention, backups), and the CSV import/export and backup commands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "cascron.h"
#include "cli.h"
#include "conf.h"
#include "csv.h"
#include "db.h"
#include "log.h"

static const char usage[] =
	"usage: cascron [-n] [-f FILE] [--now T] [COMMAND]\n"
	"\n"
	"cascron is FreeCAS's every-minute job.  Without a command it makes one run:\n"
	"pulls billing.url (if set), expires cards whose finish has passed, sets\n"
	"renewed cards active again, lifts blocks that have ended, removes audit\n"
	"entries older than log.keep_days and makes a backup when backup.every has\n"
	"passed; then it prints one summary line on stdout.\n"
	"\n"
	"Commands:\n"
	"  import [--force] [--layout admin|operator] SRC\n"
	"            import a CSV (all or nothing) from SRC: a path, - (standard\n"
	"            input), or a file://, http:// or https:// URL; without\n"
	"            --layout, the header says which; an unchanged source is not\n"
	"            imported again unless --force\n"
	"  export [--layout admin|operator]\n"
	"            write every card as CSV to stdout (default layout: operator;\n"
	"            admin carries the card keys)\n"
	"  backup    make a backup now (into backup.dir, keeping backup.keep)\n"
	"\n"
	"  -f FILE   configuration file (default: $CAS_CONF, else ./cas.conf,\n"
	"            else /etc/freecas/cas.conf)\n"
	"  -n        check the configuration, print it (secrets masked), exit\n"
	"  --now T   take Unix time T as the current time (a testing aid)\n"
	"  -h        this help;  -V  version\n"
	"\n"
	"Exit codes: 0 ok, 1 invalid configuration, 2 CSV rejected or another run\n"
	"holds the lock, 100 usage, 111 system error (database, download, backup).\n";

/* How many card changes a run logs one by one; the audit log has them all. */
#define LOG_CARDS 100

enum command { CMD_RUN, CMD_IMPORT, CMD_EXPORT, CMD_BACKUP };

struct cron {
	struct cas_conf *conf;
	struct cas_db *db;
	const char *db_path;
	int64_t now;		/* the run's time */
	struct timespec t0;
	int exit_code;		/* the worst outcome so far */
	char summary[1024];
	size_t slen;
	/* import */
	const char *src;
	int force;
	enum cas_csv_layout layout;
	int layout_set;
	long logged;		/* card changes logged one by one */
};

static const struct cas_db_actor cron_actor = { "cron", NULL };

static void set_exit(struct cron *c, int code)
{
	if (code > c->exit_code)
		c->exit_code = code;
}

static void sum_add(struct cron *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends " key=value" items to the summary line. */
static void sum_add(struct cron *c, const char *fmt, ...)
{
	va_list ap;
	if (c->slen >= sizeof c->summary - 1)
		return;
	c->summary[c->slen++] = ' ';
	c->summary[c->slen] = '\0';
	va_start(ap, fmt);
	int n = vsnprintf(c->summary + c->slen, sizeof c->summary - c->slen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->slen += (size_t)n < sizeof c->summary - c->slen ? (size_t)n : sizeof c->summary - c->slen - 1;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

void cron_fmt_time(int64_t t, char *out, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, size, "%lld", (long long)t);
		return;
	}
	strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int64_t run_clock(void *ctx)
{
	return *(const int64_t *)ctx;
}

/* ---- billing import ---- */

/* Imports c->src: fetch (conditionally), skip what was imported already,
 * then the CSV, all or nothing.  `what` names the job in logs ("billing" for
 * billing.url, "import" for the command). */
static void job_import(struct cron *c, const char *what)
{
	char red[600], key[64], text[2048], err[1024];
	struct fetch_state prev;
	struct fetch_result res;
	enum fetch_kind kind;
	struct timespec t0;
	int have_prev = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fetch_redact(c->src, red, sizeof red);
	if (fetch_kind(c->src, &kind, err, sizeof err) < 0) {
		cas_log(CAS_LOG_ERROR, "%s %s: %s", what, red, err);
		sum_add(c, "%s=failed", what);
		set_exit(c, CAS_EXIT_CONFIG);
		return;
	}
	fetch_state_key(c->src, key, sizeof key);
	if (kind != FETCH_STDIN && cas_db_setting_get(c->db, key, text, sizeof text) == 0) {
		fetch_state_parse(text, &prev);
		have_prev = !c->force;
	}
	struct fetch_opts fo = {
		cas_conf_int(c->conf, "billing.timeout"),
		cas_conf_int(c->conf, "billing.max_bytes"),
		cas_conf_is_set(c->conf, "billing.ca_file") ? cas_conf_str(c->conf, "billing.ca_file") : NULL,
		have_prev && kind == FETCH_URL ? &prev : NULL,
	};
	if (fetch_source(c->src, &fo, &res, err, sizeof err) < 0) {
		cas_log(CAS_LOG_ERROR, "%s %s: unable to fetch: %s; nothing imported", what, red, err);
		sum_add(c, "%s=failed", what);
		set_exit(c, CAS_EXIT_SYSTEM);
		return;
	}
	if (res.outcome == FETCH_NOT_MODIFIED) {
		cas_log(CAS_LOG_DEBUG, "%s %s: not modified (HTTP 304)", what, red);
		sum_add(c, "%s=not-modified", what);
		goto out;
	}
	if (have_prev && strcmp(prev.hash, res.st.hash) == 0) {
		char when[64];
		cron_fmt_time(prev.imported, when, sizeof when);
		cas_log(kind == FETCH_URL ? CAS_LOG_DEBUG : CAS_LOG_INFO,
			"%s %s: unchanged since its import at %s; nothing imported%s", what, red, when,
			kind == FETCH_URL ? "" : " (--force imports it again)");
		sum_add(c, "%s=unchanged", what);
		/* new validators for the same body: remember them */
		if (strcmp(prev.etag, res.st.etag) != 0 || strcmp(prev.last_modified, res.st.last_modified) != 0) {
			res.st.imported = prev.imported;
			fetch_state_format(&res.st, red, text, sizeof text);
			if (cas_db_setting_set(c->db, key, text) < 0)
				cas_log(CAS_LOG_WARN, "%s %s: unable to remember the download: %s", what, red,
					cas_db_errmsg(c->db));
		}
		goto out;
	}
	struct cas_csv_opts co = {
		c->layout,
		(uint32_t)cas_conf_int(c->conf, "card.first_serial"),
		(uint32_t)cas_conf_int(c->conf, "card.last_serial"),
		c->now,
	};
	struct cas_csv_report *r = calloc(1, sizeof *r);
	if (r == NULL) {
		cas_log(CAS_LOG_ERROR, "%s %s: out of memory; nothing imported", what, red);
		sum_add(c, "%s=failed", what);
		set_exit(c, CAS_EXIT_SYSTEM);
		goto out;
	}
	int rc = cas_csv_import(c->db, res.body, res.len, &co, &cron_actor, r);
	if (rc == CAS_CSV_REJECTED) {
		for (size_t i = 0; i < r->kept; i++)
			cas_log(CAS_LOG_ERROR, "%s %s: %s", what, red, r->err[i].text);
		cas_log(CAS_LOG_ERROR, "%s %s: rejected (%zu error%s), nothing imported", what, red,
			r->nerrors, r->nerrors == 1 ? "" : "s");
		sum_add(c, "%s=rejected errors=%zu", what, r->nerrors);
		set_exit(c, CAS_EXIT_FAILED);
	} else if (rc != 0) {
		cas_log(CAS_LOG_ERROR, "%s %s: %s; nothing imported", what, red,
			r->fail[0] ? r->fail : cas_db_errmsg(c->db));
		sum_add(c, "%s=failed", what);
		set_exit(c, CAS_EXIT_SYSTEM);
	} else {
		cas_log(CAS_LOG_INFO, "%s %s: imported %zu rows, %s layout (%zu added, %zu updated, "
			"%zu unchanged) in %.3f s", what, red, r->rows, cas_csv_layout_name(r->layout),
			r->added, r->updated, r->unchanged, elapsed(&t0));
		sum_add(c, "%s=imported rows=%zu added=%zu updated=%zu", what, r->rows, r->added,
			r->updated);
		res.st.imported = c->now;
		fetch_state_format(&res.st, red, text, sizeof text);
		if (kind != FETCH_STDIN && cas_db_setting_set(c->db, key, text) < 0)
			cas_log(CAS_LOG_WARN, "%s %s: unable to remember the import (the next run imports "
				"it again): %s", what, red, cas_db_errmsg(c->db));
	}
	free(r);
out:
	fetch_result_free(&res);
}

/* ---- cards: renew, expire, unblock ---- */

static int log_change(void *ctx, const struct cas_audit *a)
{
	struct cron *c = ctx;
	char when[64];
	if (strcmp(a->who, cron_actor.who) != 0 || !a->has_serial || a->field == NULL)
		return 0;
	if (c->logged >= LOG_CARDS)
		return 1;	/* the rest is counted, not read */
	c->logged++;
	if (strcmp(a->field, "blocked_until") == 0) {
		cron_fmt_time(a->old_value ? strtoll(a->old_value, NULL, 10) : 0, when, sizeof when);
		cas_log(CAS_LOG_INFO, "card %lu unblocked (was blocked until %s)",
			(unsigned long)a->serial_no, when);
	} else if (strcmp(a->field, "status") == 0 && a->new_value &&
		   strcmp(a->new_value, "2") == 0) {
		cas_log(CAS_LOG_INFO, "card %lu expired", (unsigned long)a->serial_no);
	} else if (strcmp(a->field, "status") == 0) {
		cas_log(CAS_LOG_INFO, "card %lu active again (its finish was moved into the future)",
			(unsigned long)a->serial_no);
	} else {
		c->logged--;
	}
	return 0;
}

/* The highest audit id, so that the rows this run writes can be read back
 * with cas_db_audit_each().  A read-only query through the raw handle: db.h
 * has no call for it. */
static int audit_max_id(struct cas_db *db, int64_t *id)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;
	*id = 0;
	if (sqlite3_prepare_v2(cas_db_sqlite(db), "SELECT ifnull(max(id), 0) FROM audit", -1, &s,
			       NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		ret = 0;
	}
	sqlite3_finalize(s);
	return ret;
}

/* Renew, expire, unblock: one transaction, then one log line per card
 * changed (up to LOG_CARDS), read back from the audit rows it wrote. */
static void job_cards(struct cron *c)
{
	int64_t renewed = 0, expired = 0, unblocked = 0, max_id = 0;
	char err[700];
	if (cas_db_begin(c->db) < 0)
		goto fail;
	if (audit_max_id(c->db, &max_id) < 0 ||
	    cas_db_cards_renew(c->db, c->now, &cron_actor, &renewed) < 0 ||
	    cas_db_cards_expire(c->db, c->now, &cron_actor, &expired) < 0 ||
	    cas_db_cards_unblock(c->db, c->now, &cron_actor, &unblocked) < 0) {
		snprintf(err, sizeof err, "%s", cas_db_errmsg(c->db));
		cas_db_rollback(c->db);
		goto failed;
	}
	if (cas_db_commit(c->db) < 0)
		goto fail;
	if (renewed + expired + unblocked > 0) {
		c->logged = 0;
		cas_db_audit_each(c->db, max_id, 0, 0, log_change, c);
		if (renewed + expired + unblocked > c->logged)
			cas_log(CAS_LOG_INFO, "%lld more card changes not logged one by one (the audit "
				"log has every one)", (long long)(renewed + expired + unblocked - c->logged));
	}
	sum_add(c, "expired=%lld renewed=%lld unblocked=%lld", (long long)expired,
		(long long)renewed, (long long)unblocked);
	return;
fail:
	snprintf(err, sizeof err, "%s", cas_db_errmsg(c->db));
failed:
	cas_log(CAS_LOG_ERROR, "unable to update cards: %s; nothing changed", err);
	sum_add(c, "cards=failed");
	set_exit(c, CAS_EXIT_SYSTEM);
}

/* ---- retention ---- */

static void job_retention(struct cron *c)
{
	int days = (int)cas_conf_int(c->conf, "log.keep_days");
	int64_t n = 0;
	if (cas_db_audit_purge(c->db, c->now, days, &n) < 0) {
		cas_log(CAS_LOG_ERROR, "unable to remove old audit entries: %s", cas_db_errmsg(c->db));
		sum_add(c, "audit_removed=failed");
		set_exit(c, CAS_EXIT_SYSTEM);
		return;
	}
	if (n > 0)
		cas_log(CAS_LOG_INFO, "removed %lld audit %s older than %d days", (long long)n,
			n == 1 ? "entry" : "entries", days);
	sum_add(c, "audit_removed=%lld", (long long)n);
}

/* ---- backup ---- */

static void backup_dir(const struct cron *c, char *out, size_t size)
{
	if (cas_conf_is_set(c->conf, "backup.dir")) {
		snprintf(out, size, "%s", cas_conf_str(c->conf, "backup.dir"));
		return;
	}
	/* default: backup/ next to the database */
	const char *slash = strrchr(c->db_path, '/');
	if (slash == NULL)
		snprintf(out, size, "backup");
	else
		snprintf(out, size, "%.*s/backup", (int)(slash - c->db_path), c->db_path);
}

static void job_backup(struct cron *c, int force)
{
	char dir[4200], name[BACKUP_NAME_SIZE], err[800], msg[400];
	int keep = (int)cas_conf_int(c->conf, "backup.keep");
	int64_t every = cas_conf_int(c->conf, "backup.every") * 60, newest;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (keep == 0) {
		if (force) {
			cas_log(CAS_LOG_ERROR, "no backup: backup.keep is 0 (backups off)");
			set_exit(c, CAS_EXIT_CONFIG);
		}
		sum_add(c, "backup=off");
		return;
	}
	backup_dir(c, dir, sizeof dir);
	if (backup_newest(dir, c->db_path, c->now, &newest, err, sizeof err) < 0)
		goto fail;
	if (!force && newest != 0 && c->now - newest < every) {
		sum_add(c, "backup=none");
		return;
	}
	if (backup_make_name(c->db_path, c->now, name) < 0) {
		snprintf(err, sizeof err, "unable to back up: time %lld out of range", (long long)c->now);
		goto fail;
	}
	/* The audit row goes in first, so that the copy is the database as it
	 * is after the run, this row included. */
	struct cas_audit a;
	memset(&a, 0, sizeof a);
	a.who = cron_actor.who;
	snprintf(msg, sizeof msg, "backup %s", name);
	a.message = msg;
	if (cas_db_audit_add(c->db, &a) < 0) {
		snprintf(err, sizeof err, "unable to back up: %s", cas_db_errmsg(c->db));
		goto fail;
	}
	if (backup_write(c->db, dir, name, err, sizeof err) < 0) {
		snprintf(msg, sizeof msg, "backup %s failed", name);
		cas_db_audit_add(c->db, &a);
		goto fail;
	}
	int removed = 0;
	cas_log(CAS_LOG_INFO, "backup %s/%s written in %.3f s", dir, name, elapsed(&t0));
	if (backup_prune(dir, c->db_path, keep, &removed, err, sizeof err) < 0) {
		cas_log(CAS_LOG_ERROR, "%s", err);
		set_exit(c, CAS_EXIT_SYSTEM);
	} else if (removed > 0) {
		cas_log(CAS_LOG_INFO, "removed %d old backup%s (backup.keep = %d)", removed,
			removed == 1 ? "" : "s", keep);
	}
	sum_add(c, "backup=%s", name);
	return;
fail:
	cas_log(CAS_LOG_ERROR, "%s", err);
	sum_add(c, "backup=failed");
	set_exit(c, CAS_EXIT_SYSTEM);
}

/* ---- export ---- */

static int write_stdout(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	return fwrite(data, 1, len, stdout) == len ? 0 : -1;
}

static int cmd_export(struct cron *c)
{
	char err[700];
	size_t rows = 0;
	enum cas_csv_layout l = c->layout_set ? c->layout : CAS_CSV_OPERATOR;
	if (cas_csv_export(c->db, l, write_stdout, NULL, &rows, err, sizeof err) < 0 ||
	    fflush(stdout) != 0 || ferror(stdout)) {
		cas_log(CAS_LOG_ERROR, "export: %s", err[0] ? err : "unable to write the CSV");
		return CAS_EXIT_SYSTEM;
	}
	cas_log(CAS_LOG_INFO, "exported %zu cards, %s layout", rows, cas_csv_layout_name(l));
	return CAS_EXIT_OK;
}

/* ---- command line ---- */

static int usage_error(const char *fmt, const char *arg)
{
	cas_log_start("cascron", CAS_LOG_INFO, 0);
	cas_log(CAS_LOG_FATAL, fmt, arg);
	return CAS_EXIT_USAGE;
}

static int parse_time(const char *s, int64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	long long v = strtoll(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 4294967295LL)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	struct cas_cli cli = { .prog = "cascron", .usage = usage };
	struct cas_conf conf;
	struct cron c;
	struct cron_lock lock = { -1 };
	enum command cmd = CMD_RUN;
	int code, have_now = 0;
	memset(&c, 0, sizeof c);
	clock_gettime(CLOCK_MONOTONIC, &c.t0);
	if (cas_cli_parse(&cli, argc, argv, &code) < 0)
		return code;
	int i = cli.argi;
	while (i < argc && strcmp(argv[i], "--now") == 0) {
		if (i + 1 >= argc || parse_time(argv[i + 1], &c.now) < 0)
			return usage_error("usage: --now needs a Unix time 0..4294967295 (see cascron --help)%s", "");
		have_now = 1;
		i += 2;
	}
	if (i < argc) {
		const char *w = argv[i++];
		if (strcmp(w, "import") == 0)
			cmd = CMD_IMPORT;
		else if (strcmp(w, "export") == 0)
			cmd = CMD_EXPORT;
		else if (strcmp(w, "backup") == 0)
			cmd = CMD_BACKUP;
		else if (w[0] == '-')
			return usage_error("usage: unknown option '%s' (see cascron --help)", w);
		else
			return usage_error("usage: unknown command '%s' (see cascron --help)", w);
	}
	for (; i < argc; i++) {
		const char *a = argv[i];
		if ((cmd == CMD_IMPORT || cmd == CMD_EXPORT) && strcmp(a, "--layout") == 0) {
			if (i + 1 >= argc || cas_csv_layout_parse(argv[i + 1], &c.layout) < 0 ||
			    c.layout == CAS_CSV_AUTO)
				return usage_error("usage: --layout needs admin or operator%s", "");
			c.layout_set = 1;
			i++;
		} else if (cmd == CMD_IMPORT && strcmp(a, "--force") == 0) {
			c.force = 1;
		} else if (cmd == CMD_IMPORT && c.src == NULL && (a[0] != '-' || strcmp(a, "-") == 0)) {
			c.src = a;
		} else {
			return usage_error("usage: unexpected argument '%s' (see cascron --help)", a);
		}
	}
	if (cmd == CMD_IMPORT && c.src == NULL)
		return usage_error("usage: import needs a source: a path, -, or a URL%s", "");

	if (cas_cli_start(&cli, &conf, &code) < 0)
		return code;
	c.conf = &conf;
	c.db_path = cas_conf_str(&conf, "db");
	if (!have_now)
		c.now = (int64_t)time(NULL);
	/* billing.url has its configured layout; `import` without --layout
	 * takes the layout the file's header names. */
	if (!c.layout_set && cmd == CMD_RUN)
		cas_csv_layout_parse(cas_conf_str(&conf, "billing.layout"), &c.layout);
	else if (!c.layout_set)
		c.layout = CAS_CSV_AUTO;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cas_log(CAS_LOG_FATAL, "unable to start libcurl");
		cas_conf_free(&conf);
		return CAS_EXIT_SYSTEM;
	}
	code = CAS_EXIT_OK;
	if (cmd != CMD_EXPORT) {
		char lpath[4200], err[600];
		long holder = 0;
		if (cas_conf_is_set(&conf, "cron.lock"))
			snprintf(lpath, sizeof lpath, "%s", cas_conf_str(&conf, "cron.lock"));
		else
			snprintf(lpath, sizeof lpath, "%s.cron.lock", c.db_path);
		int r = cron_lock_take(&lock, lpath, &holder, err, sizeof err);
		if (r < 0) {
			cas_log(CAS_LOG_FATAL, "%s", err);
			code = CAS_EXIT_SYSTEM;
			goto out;
		}
		if (r == 1) {
			if (holder > 0)
				cas_log(CAS_LOG_WARN, "another cascron run (pid %ld) holds %s; this one does nothing",
					holder, lpath);
			else
				cas_log(CAS_LOG_WARN, "another cascron run holds %s; this one does nothing", lpath);
			code = CAS_EXIT_FAILED;
			goto out;
		}
	}
	if (cas_db_start(&conf, &c.db) < 0) {
		code = CAS_EXIT_SYSTEM;
		goto out;
	}
	if (have_now)
		cas_db_set_clock(c.db, run_clock, &c.now);
	switch (cmd) {
	case CMD_EXPORT:
		code = cmd_export(&c);
		goto out;
	case CMD_IMPORT:
		job_import(&c, "import");
		break;
	case CMD_BACKUP:
		job_backup(&c, 1);
		break;
	case CMD_RUN:
		if (cas_conf_is_set(&conf, "billing.url") && cas_conf_str(&conf, "billing.url")[0]) {
			c.src = cas_conf_str(&conf, "billing.url");
			job_import(&c, "billing");
		} else {
			sum_add(&c, "billing=none");
		}
		job_cards(&c);
		job_retention(&c);
		job_backup(&c, 0);
		break;
	}
	sum_add(&c, "time=%.3fs exit=%d", elapsed(&c.t0), c.exit_code);
	printf("cascron: summary:%s\n", c.summary);
	if (fflush(stdout) != 0 && c.exit_code == 0)
		c.exit_code = CAS_EXIT_SYSTEM;
	code = c.exit_code;
out:
	cas_db_close(c.db);
	cron_lock_release(&lock);
	curl_global_cleanup();
	cas_conf_free(&conf);
	return code;
}
