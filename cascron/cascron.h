#ifndef CASCRON_H
#define CASCRON_H
/* cascron's parts: the lock, the billing download, the backups. */
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* ---- lock.c: two runs never overlap ---------------------------------- */

struct cron_lock {
	int fd;		/* -1 when not held */
};

/* Takes the lock file `path` (created 0600, folder too) without waiting,
 * and writes our pid into it.  Returns 0 when taken, 1 when another process
 * holds it (*holder = its pid, 0 if unknown), -1 with err set.  The lock
 * goes with the process: a run that dies leaves no stale lock. */
int cron_lock_take(struct cron_lock *l, const char *path, long *holder, char *err, size_t errsize);
void cron_lock_release(struct cron_lock *l);

/* ---- fetch.c: the billing CSV from a file or a URL -------------------- */

#define FETCH_ETAG_SIZE 512
#define FETCH_DATE_SIZE 128
#define FETCH_HASH_SIZE 65	/* BLAKE2b-256 of the body, lower-case hex */

/* What we remember of the last import from one source (settings table). */
struct fetch_state {
	char etag[FETCH_ETAG_SIZE];		/* ETag of the response, "" = none */
	char last_modified[FETCH_DATE_SIZE];	/* Last-Modified, as sent */
	char hash[FETCH_HASH_SIZE];		/* of the body imported */
	int64_t imported;			/* when (Unix seconds), 0 = never */
};

struct fetch_opts {
	long timeout;			/* seconds for the whole transfer */
	long long max_bytes;		/* largest body accepted */
	const char *ca_file;		/* CA certificates for https, NULL = the system's */
	const struct fetch_state *prev;	/* conditional request, or NULL */
};

enum fetch_outcome {
	FETCH_BODY = 0,		/* a body: res->body, res->len */
	FETCH_NOT_MODIFIED,	/* HTTP 304 */
};

struct fetch_result {
	enum fetch_outcome outcome;
	char *body;		/* NUL-terminated copy, malloc'ed */
	size_t len;
	long http_code;		/* 0 for files */
	struct fetch_state st;	/* the response's ETag/Last-Modified and the body's hash */
};

/* Kinds of source. */
enum fetch_kind { FETCH_PATH, FETCH_STDIN, FETCH_URL };

/* Classifies src: "-" is standard input, http://, https:// and file:// are
 * URLs (any case), another "scheme://" is refused, the rest is a path.
 * Returns -1 with err set for a refused scheme. */
int fetch_kind(const char *src, enum fetch_kind *kind, char *err, size_t errsize);

/* Reads the source.  Returns 0, or -1 with err set ("HTTP 404 Not Found",
 * "Operation timed out after 1000 milliseconds with 0 bytes received",
 * "No such file or directory", ...). */
int fetch_source(const char *src, const struct fetch_opts *o, struct fetch_result *res,
		 char *err, size_t errsize);
void fetch_result_free(struct fetch_result *res);

/* The source as it may appear in logs: no password, no query string (a
 * billing URL may carry a token there). */
void fetch_redact(const char *src, char *out, size_t size);

/* The settings key for a source ("cascron.source." + a hash of src, so the
 * key holds no secret) and the state's text form. */
void fetch_state_key(const char *src, char *out, size_t size);
void fetch_state_format(const struct fetch_state *st, const char *redacted, char *out, size_t size);
int fetch_state_parse(const char *text, struct fetch_state *st);

/* ---- backup.c: copies of the database -------------------------------- */

#define BACKUP_NAME_SIZE 300

/* The newest backup of database `db_path` in `dir` made at `now` or
 * before: *when = its time (from the name), 0 if there is none.  (Backups
 * named after `now` are ignored: after the clock was set back, backups go
 * on.)  Returns -1 with err set if the folder cannot be read (a missing
 * folder has no backup). */
int backup_newest(const char *dir, const char *db_path, int64_t now, int64_t *when, char *err,
		  size_t errsize);

/* The name of a backup of database `db_path` made at `now`:
 * STEM-YYYYmmdd-HHMMSS.db (UTC), e.g. cas-20250101-000000.db for
 * ./var/cas.db.  name has BACKUP_NAME_SIZE bytes.  -1 if now is out of
 * range. */
int backup_make_name(const char *db_path, int64_t now, char *name);

/* Writes the backup DIR/NAME (folder created) through cas_db_backup():
 * a temporary file, then rename. */
int backup_write(struct cas_db *db, const char *dir, const char *name, char *err, size_t errsize);

/* Keeps the `keep` newest backups of the database in dir, removes the
 * others and any leftover temporary file.  *removed gets their number. */
int backup_prune(const char *dir, const char *db_path, int keep, int *removed, char *err,
		 size_t errsize);

/* ---- run.c ------------------------------------------------------------ */

/* "2025-01-01 00:00:00 UTC" */
void cron_fmt_time(int64_t t, char *out, size_t size);

#endif
