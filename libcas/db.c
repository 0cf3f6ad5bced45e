/* The SQLite access layer (see db.h). */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "fs.h"
#include "hex.h"
#include "log.h"
#include "schema.h"

#define DEFAULT_BUSY_MS 5000
#define CHECK_SETTING "db.master_key_check"

/* Every statement the library runs, prepared once per connection on first
 * use and kept (SQLITE_PREPARE_PERSISTENT). */
#define CARD_COLS "serial_no, name, info, key, access_criteria, pair, pair_host, type, " \
		  "start, finish, status, blocked_until, created, edited, change_no"
/* The columns of the two tables behind the view cards (006_card_state). */
#define DATA_COLS "serial_no, name, info, key, pair, pair_host, type, start, created"
#define STATE_COLS "serial_no, access_criteria, finish, status, blocked_until, edited, change_no"
/* A write that sets edited (for large_objects; not a card field). */
#define LARGE_EDITED 0x80000000u
/* The card fields card_state holds (edited and change_no change with any). */
#define STATE_FIELDS (CAS_CARD_F_AC | CAS_CARD_F_FINISH | CAS_CARD_F_STATUS | CAS_CARD_F_BLOCKED)
#define GEN_COLS "kind, name, peer, state, settings, pid, started, last_seen, updated, " \
		 "channels, streams, cw_provisions, ecms, emms, bytes, errors, queue_len, cycle_ms, bandwidth"

enum stmt_id {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
	ST_SEQ_NEXT, ST_SEQ_GET,
	ST_CARD_INSERT, ST_STATE_INSERT, ST_CARD_INSERT_ROWS, ST_STATE_INSERT_ROWS, ST_CARD_GET,
	ST_CARD_GET_ROWS, ST_CARD_UPDATE, ST_STATE_UPDATE, ST_CARD_TOUCH, ST_CARD_DELETE, ST_STATE_DELETE,
	ST_TOMB_TIME, ST_TOMB_ANY, ST_TOMB_DELETE, ST_CARD_COUNT, ST_CARD_MAX_SERIAL, ST_CARD_FIRST,
	ST_CARDS_ALL, ST_CARDS_RANGE, ST_CARDS_CHANGED, ST_CARDS_ON_AIR,
	ST_CARDS_EXPIRED, ST_CARDS_BLOCK_ENDED,
	ST_AUDIT_INSERT, ST_AUDIT_INSERT_ROWS, ST_AUDIT_EACH, ST_AUDIT_EACH_SERIAL, ST_AUDIT_PURGE,
	ST_SET_GET, ST_SET_PUT, ST_SET_DEL,
	ST_GEN_UPSERT, ST_GEN_COUNTERS, ST_GEN_GET, ST_GEN_DELETE, ST_GEN_EACH,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT cas_op",
	[ST_RELEASE] = "RELEASE cas_op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO cas_op",
	[ST_SEQ_NEXT] = "UPDATE seq SET value = value + ?1 WHERE name = 'card_change' RETURNING value",
	[ST_SEQ_GET] = "SELECT value FROM seq WHERE name = 'card_change'",
	/* A card is a row of card_data and one of card_state (schema
	 * 006_card_state); each pair of statements takes the parameters of
	 * bind_card(), in CARD_COLS order. */
	[ST_CARD_INSERT] = "INSERT INTO card_data (" DATA_COLS ") VALUES "
			   "(?1, ?2, ?3, ?4, ?6, ?7, ?8, ?9, ?13)",
	[ST_STATE_INSERT] = "INSERT INTO card_state (" STATE_COLS ") VALUES (?1, ?5, ?10, ?11, ?12, ?14, ?15)",
	[ST_CARD_INSERT_ROWS] = "INSERT INTO card_data (" DATA_COLS ") SELECT " DATA_COLS " FROM cas_card_rows",
	[ST_STATE_INSERT_ROWS] = "INSERT INTO card_state (" STATE_COLS ") SELECT " STATE_COLS
				 " FROM cas_card_rows",
	[ST_CARD_GET] = "SELECT " CARD_COLS " FROM cards WHERE serial_no = ?1",
	/* The cards of cas_card_rows that exist, in its order, with their place in it. */
	[ST_CARD_GET_ROWS] = "SELECT c.serial_no, c.name, c.info, c.key, c.access_criteria, c.pair, "
			     "c.pair_host, c.type, c.start, c.finish, c.status, c.blocked_until, "
			     "c.created, c.edited, c.change_no, v.rowid FROM cas_card_rows AS v "
			     "JOIN cards AS c ON c.serial_no = v.serial_no",
	[ST_CARD_UPDATE] = "UPDATE card_data SET name = ?2, info = ?3, key = ?4, pair = ?6, "
			   "pair_host = ?7, type = ?8, start = ?9, created = ?13 WHERE serial_no = ?1",
	[ST_STATE_UPDATE] = "UPDATE card_state SET access_criteria = ?5, finish = ?10, status = ?11, "
			    "blocked_until = ?12, edited = ?14, change_no = ?15 WHERE serial_no = ?1",
	[ST_CARD_TOUCH] = "UPDATE card_state SET edited = ?2, change_no = ?3 WHERE serial_no = ?1",
	/* card_state's trigger leaves the tombstone */
	[ST_STATE_DELETE] = "DELETE FROM card_state WHERE serial_no = ?1",
	[ST_CARD_DELETE] = "DELETE FROM card_data WHERE serial_no = ?1",
	[ST_TOMB_TIME] = "UPDATE cards_deleted SET deleted = ?2 WHERE serial_no = ?1",
	[ST_TOMB_ANY] = "SELECT EXISTS (SELECT 1 FROM cards_deleted)",
	[ST_TOMB_DELETE] = "DELETE FROM cards_deleted WHERE serial_no = ?1",
	[ST_CARD_COUNT] = "SELECT count(*) FROM card_state",
	[ST_CARD_MAX_SERIAL] = "SELECT max(serial_no) FROM card_data WHERE serial_no BETWEEN ?1 AND ?2",
	[ST_CARD_FIRST] = "SELECT serial_no, key FROM card_data ORDER BY serial_no LIMIT 1",
	[ST_CARDS_ALL] = "SELECT " CARD_COLS " FROM cards ORDER BY serial_no",
	[ST_CARDS_RANGE] = "SELECT " CARD_COLS " FROM cards WHERE serial_no BETWEEN ?1 AND ?2 "
			   "ORDER BY serial_no",
	/* Cards and tombstones merged in change_no order, in one snapshot. */
	[ST_CARDS_CHANGED] = "SELECT " CARD_COLS ", 0 AS gone FROM cards WHERE change_no > ?1 "
			     "UNION ALL SELECT serial_no, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
			     "NULL, NULL, NULL, NULL, NULL, NULL, change_no, 1 FROM cards_deleted "
			     "WHERE change_no > ?1 ORDER BY change_no",
	/* ?2 = now - off_days (?1, now, is not needed) */
	[ST_CARDS_ON_AIR] = "SELECT " CARD_COLS " FROM cards WHERE finish >= ?2 OR edited >= ?2 "
			    "ORDER BY edited DESC",
	[ST_CARDS_EXPIRED] = "SELECT " CARD_COLS " FROM cards WHERE status = 1 AND finish < ?1 "
			     "ORDER BY finish, serial_no",
	[ST_CARDS_BLOCK_ENDED] = "SELECT " CARD_COLS " FROM cards "
				 "WHERE blocked_until != 0 AND blocked_until <= ?1 "
				 "ORDER BY blocked_until, serial_no",
	[ST_AUDIT_INSERT] = "INSERT INTO audit (time, who, addr, serial_no, field, old_value, "
			    "new_value, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_AUDIT_INSERT_ROWS] = "INSERT INTO audit (time, who, addr, serial_no, field, old_value, "
				 "new_value, message) SELECT ?1, ?2, ?3, serial_no, field, old_value, "
				 "new_value, message FROM cas_audit_rows",
	[ST_AUDIT_EACH] = "SELECT id, time, who, addr, serial_no, field, old_value, new_value, "
			  "message FROM audit WHERE id > ?1 ORDER BY id",
	[ST_AUDIT_EACH_SERIAL] = "SELECT id, time, who, addr, serial_no, field, old_value, "
				 "new_value, message FROM audit WHERE serial_no = ?2 AND id > ?1 "
				 "ORDER BY id",
	[ST_AUDIT_PURGE] = "DELETE FROM audit WHERE time < ?1",
	[ST_SET_GET] = "SELECT value FROM settings WHERE key = ?1",
	[ST_SET_PUT] = "INSERT INTO settings (key, value, updated) VALUES (?1, ?2, ?3) "
		       "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
	[ST_SET_DEL] = "DELETE FROM settings WHERE key = ?1",
	[ST_GEN_UPSERT] = "INSERT INTO generators (" GEN_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			  "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) "
			  "ON CONFLICT (kind, name) DO UPDATE SET peer = excluded.peer, "
			  "state = excluded.state, settings = excluded.settings, pid = excluded.pid, "
			  "started = excluded.started, last_seen = excluded.last_seen, "
			  "updated = excluded.updated, channels = excluded.channels, "
			  "streams = excluded.streams, cw_provisions = excluded.cw_provisions, "
			  "ecms = excluded.ecms, emms = excluded.emms, bytes = excluded.bytes, "
			  "errors = excluded.errors, queue_len = excluded.queue_len, "
			  "cycle_ms = excluded.cycle_ms, bandwidth = excluded.bandwidth",
	[ST_GEN_COUNTERS] = "UPDATE generators SET state = ?3, last_seen = ?4, updated = ?5, "
			    "channels = ?6, streams = ?7, cw_provisions = ?8, ecms = ?9, emms = ?10, "
			    "bytes = ?11, errors = ?12, queue_len = ?13, cycle_ms = ?14, "
			    "bandwidth = ?15 WHERE kind = ?1 AND name = ?2",
	[ST_GEN_GET] = "SELECT " GEN_COLS " FROM generators WHERE kind = ?1 AND name = ?2",
	[ST_GEN_DELETE] = "DELETE FROM generators WHERE kind = ?1 AND name = ?2",
	[ST_GEN_EACH] = "SELECT " GEN_COLS " FROM generators ORDER BY kind, name",
};

struct cas_db {
	sqlite3 *sql;
	char *path;
	struct cas_mkey mk;
	sqlite3_stmt *stmt[ST_COUNT];
	unsigned char busy[ST_COUNT];	/* statement in use by a running iterator */
	cas_db_clock_fn *clock;
	void *clock_ctx;
	uint32_t *bulk;		/* a bulk job's selection, by serial (cas_bulk_n()) */
	size_t bulk_n, bulk_hint;
	struct card_rows *rows;	/* the cards being inserted (cas_card_rows) */
	struct audit_rows *audit;	/* the audit rows being written (cas_audit_rows) */
	struct large_job *large;	/* between cas_db_large_begin() and _end() */
	char err[600];
};

/* The cards an insert reads through the virtual table cas_card_rows. */
struct card_rows {
	const struct cas_card *cards;
	const uint8_t *wrapped;	/* CAS_MKEY_WRAPPED_SIZE bytes per card */
	size_t n;
	int64_t t, first;	/* created (when the card has none) and edited; first change_no */
};

/* The audit rows of cas_db_cards_update(), written by one INSERT ... SELECT
 * from the virtual table cas_audit_rows.  Values live in `text`; NO_TEXT
 * stands for NULL. */
#define NO_TEXT SIZE_MAX
struct audit_entry {
	uint32_t serial;
	const char *field;	/* a static name */
	const char *message;	/* static or NULL */
	size_t old_off, new_off;	/* into text, or NO_TEXT */
};

struct audit_rows {
	struct audit_entry *e;
	size_t n, cap;
	char *text;
	size_t len, tcap;
};


/* A statement borrowed from the cache, or a private one when the cached one
 * is in use (an iterator's callback running the same query). */
struct stmt_ref {
	sqlite3_stmt *s;
	int id;
	int temp;
};

static int seterr(struct cas_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bulk_n_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv);
static const sqlite3_module card_rows_module;
static const sqlite3_module audit_rows_module;
static int large_prepare(struct cas_db *db, unsigned fields);
static int single_int64(struct cas_db *db, int id, int64_t *out, const char *what);

static int seterr(struct cas_db *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(db->err, sizeof db->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* "WHAT: sqlite's message" */
static int sqlerr(struct cas_db *db, const char *what)
{
	return seterr(db, "%s: %s", what, sqlite3_errmsg(db->sql));
}

static int64_t now(struct cas_db *db)
{
	return db->clock ? db->clock(db->clock_ctx) : (int64_t)time(NULL);
}

static int64_t default_clock(void *ctx)
{
	(void)ctx;
	return (int64_t)time(NULL);
}

void cas_db_set_clock(struct cas_db *db, cas_db_clock_fn *fn, void *ctx)
{
	db->clock = fn ? fn : default_clock;
	db->clock_ctx = ctx;
}

const char *cas_db_errmsg(const struct cas_db *db)
{
	return db ? db->err : "out of memory";
}

struct sqlite3 *cas_db_sqlite(struct cas_db *db)
{
	return db->sql;
}

static int acquire(struct cas_db *db, int id, struct stmt_ref *r)
{
	r->id = id;
	r->temp = 0;
	if (db->stmt[id] != NULL && !db->busy[id]) {
		r->s = db->stmt[id];
		db->busy[id] = 1;
		return 0;
	}
	unsigned flags = db->stmt[id] == NULL ? SQLITE_PREPARE_PERSISTENT : 0;
	if (sqlite3_prepare_v3(db->sql, stmt_sql[id], -1, flags, &r->s, NULL) != SQLITE_OK) {
		r->s = NULL;
		return sqlerr(db, "unable to prepare a statement");
	}
	if (db->stmt[id] == NULL) {
		db->stmt[id] = r->s;
		db->busy[id] = 1;
	} else {
		r->temp = 1;
	}
	return 0;
}

static void release(struct cas_db *db, struct stmt_ref *r)
{
	if (r->s == NULL)
		return;
	if (r->temp) {
		sqlite3_finalize(r->s);
	} else {
		sqlite3_reset(r->s);
		sqlite3_clear_bindings(r->s);
		db->busy[r->id] = 0;
	}
	r->s = NULL;
}

/* Runs a statement without parameters or result rows. */
static int run(struct cas_db *db, int id, const char *what)
{
	struct stmt_ref r;
	if (acquire(db, id, &r) < 0)
		return -1;
	int rc = sqlite3_step(r.s);
	int ret = 0;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = sqlerr(db, what);
	release(db, &r);
	return ret;
}

/* ---- transactions ---- */

int cas_db_in_transaction(const struct cas_db *db)
{
	return !sqlite3_get_autocommit(db->sql);
}

int cas_db_begin(struct cas_db *db)
{
	if (cas_db_in_transaction(db))
		return seterr(db, "unable to begin a transaction: one is already open");
	return run(db, ST_BEGIN, "unable to begin a transaction");
}

int cas_db_commit(struct cas_db *db)
{
	if (!cas_db_in_transaction(db))
		return seterr(db, "unable to commit: no transaction is open");
	/* Never commit a table whose indexes a large job set aside. */
	if ((db->large != NULL && cas_db_large_end(db, 1) < 0) ||
	    run(db, ST_COMMIT, "unable to commit") < 0) {
		char keep[sizeof db->err];
		memcpy(keep, db->err, sizeof keep);
		if (cas_db_in_transaction(db))
			run(db, ST_ROLLBACK, "unable to roll back");
		memcpy(db->err, keep, sizeof keep);
		return -1;
	}
	return 0;
}

int cas_db_rollback(struct cas_db *db)
{
	cas_db_large_end(db, 0);
	if (!cas_db_in_transaction(db))
		return 0;
	return run(db, ST_ROLLBACK, "unable to roll back");
}

/* Every write function runs between op_begin and op_end: in a transaction
 * of its own, or in a savepoint of the caller's, so that a failure undoes
 * exactly its own work. */
struct op {
	int owned;	/* we began the transaction */
};

static int op_begin(struct cas_db *db, struct op *op)
{
	op->owned = !cas_db_in_transaction(db);
	if (op->owned)
		return run(db, ST_BEGIN, "unable to begin a transaction");
	return run(db, ST_SAVEPOINT, "unable to begin a savepoint");
}

/* ok != 0: keep the work.  Returns 0, or -1 if the commit failed.  Keeps
 * the error message of a failed operation. */
static int op_end(struct cas_db *db, struct op *op, int ok)
{
	char keep[sizeof db->err];
	int ret = 0;
	memcpy(keep, db->err, sizeof keep);
	if (op->owned) {
		if (ok) {
			if (run(db, ST_COMMIT, "unable to commit") < 0) {
				memcpy(keep, db->err, sizeof keep);
				ok = 0;
				ret = -1;
			}
		}
		if (!ok && cas_db_in_transaction(db))
			run(db, ST_ROLLBACK, "unable to roll back");
	} else {
		if (!ok)
			run(db, ST_ROLLBACK_TO, "unable to roll back");
		if (run(db, ST_RELEASE, "unable to release a savepoint") < 0) {
			memcpy(keep, db->err, sizeof keep);
			ret = -1;
		}
	}
	memcpy(db->err, keep, sizeof keep);
	return ret;
}

/* ---- opening ---- */

static int pragma_text(struct cas_db *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;
	if (sqlite3_prepare_v2(db->sql, sql, -1, &s, NULL) != SQLITE_OK)
		goto out;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(out, size, "%s", t ? (const char *)t : "");
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		out[0] = '\0';
		ret = 0;
	}
out:
	sqlite3_finalize(s);
	return ret;
}

static int user_version(struct cas_db *db, int *v)
{
	char buf[32];
	if (pragma_text(db, "PRAGMA user_version", buf, sizeof buf) < 0)
		return seterr(db, "unable to open database %s: %s", db->path, sqlite3_errmsg(db->sql));
	*v = atoi(buf);
	return 0;
}

static unsigned latest_version(void)
{
	return cas_schema_migration_count ? cas_schema_migrations[cas_schema_migration_count - 1].version : 0;
}

static int migrate(struct cas_db *db)
{
	int v;
	for (unsigned i = 0; i < cas_schema_migration_count; i++)
		if (cas_schema_migrations[i].version != i + 1)
			return seterr(db, "internal: schema migration %s is out of order",
				      cas_schema_migrations[i].name);
	if (user_version(db, &v) < 0)
		return -1;
	if (v < 0 || (unsigned)v > latest_version())
		return seterr(db, "database %s has schema version %d, newer than this program (%u)",
			      db->path, v, latest_version());
	if ((unsigned)v == latest_version())
		return 0;
	/* Another program may be migrating too: take the write lock, then
	 * read the version again. */
	if (sqlite3_exec(db->sql, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return seterr(db, "unable to migrate database %s: %s", db->path, sqlite3_errmsg(db->sql));
	if (user_version(db, &v) < 0)
		goto fail;
	for (unsigned i = (unsigned)v; i < cas_schema_migration_count; i++) {
		const struct cas_schema_migration *m = &cas_schema_migrations[i];
		char *msg = NULL;
		char sql[160];
		if (sqlite3_exec(db->sql, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
			seterr(db, "unable to migrate database %s to version %u (%s): %s",
			       db->path, m->version, m->name, msg ? msg : sqlite3_errmsg(db->sql));
			sqlite3_free(msg);
			goto fail;
		}
		snprintf(sql, sizeof sql,
			 "INSERT INTO schema_migrations (version, name, applied) VALUES (%u, '%s', %lld);"
			 "PRAGMA user_version = %u;", m->version, m->name, (long long)now(db), m->version);
		if (sqlite3_exec(db->sql, sql, NULL, NULL, NULL) != SQLITE_OK) {
			seterr(db, "unable to migrate database %s to version %u (%s): %s",
			       db->path, m->version, m->name, sqlite3_errmsg(db->sql));
			goto fail;
		}
		if (v > 0)
			cas_log(CAS_LOG_INFO, "database %s migrated to schema version %u (%s)",
				db->path, m->version, m->name);
	}
	if (sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(db, "unable to migrate database %s: %s", db->path, sqlite3_errmsg(db->sql));
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* The database remembers which master key it was created with (as a check
 * value that reveals nothing about the key), so a wrong key fails at open. */
static int check_master_key(struct cas_db *db)
{
	uint8_t want[CAS_MKEY_CHECK_SIZE];
	char hex[2 * CAS_MKEY_CHECK_SIZE + 1];
	char have[80];
	const char *mismatch = "master key does not match database %s (was it created with another master key?)";
	cas_mkey_check_value(&db->mk, want);
	cas_hex_encode(want, sizeof want, hex);
	int r = cas_db_setting_get(db, CHECK_SETTING, have, sizeof have);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (strlen(have) != strlen(hex) || sodium_memcmp(have, hex, strlen(hex)) != 0)
			return seterr(db, mismatch, db->path);
		return 0;
	}
	/* No check value yet (new database, or made by other means): a card
	 * that exists must unwrap with this key before we record it. */
	struct stmt_ref ref;
	if (acquire(db, ST_CARD_FIRST, &ref) < 0)
		return -1;
	int rc = sqlite3_step(ref.s);
	int ok = 1;
	if (rc == SQLITE_ROW) {
		uint8_t key[CAS_CARD_KEY_SIZE];
		ok = cas_mkey_unwrap(&db->mk, (uint32_t)sqlite3_column_int64(ref.s, 0),
				     sqlite3_column_blob(ref.s, 1),
				     (size_t)sqlite3_column_bytes(ref.s, 1), key) == 0;
		sodium_memzero(key, sizeof key);
	} else if (rc != SQLITE_DONE) {
		release(db, &ref);
		return sqlerr(db, "unable to read cards");
	}
	release(db, &ref);
	if (!ok)
		return seterr(db, mismatch, db->path);
	return cas_db_setting_set(db, CHECK_SETTING, hex);
}

int cas_db_open(struct cas_db **out, const char *path, const struct cas_mkey *mk,
		const struct cas_db_options *opt)
{
	struct cas_db *db = calloc(1, sizeof *db);
	*out = db;
	if (db == NULL)
		return -1;
	db->clock = default_clock;
	int create = opt ? opt->create : 1;
	int busy_ms = opt && opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : DEFAULT_BUSY_MS;
	db->path = strdup(path);
	if (db->path == NULL)
		return seterr(db, "out of memory");
	if (mk == NULL || !mk->loaded)
		return seterr(db, "unable to open database %s: no master key", path);
	db->mk = *mk;
	db->mk.err[0] = '\0';

	if (create) {
		if (cas_fs_mkdir_parent(path, db->err, sizeof db->err) < 0)
			return -1;
		/* Create the file ourselves so that it (and the -wal and -shm
		 * files SQLite derives from it) is 0600 whatever the umask. */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST)
			return seterr(db, "unable to open database %s: %s", path, strerror(errno));
	}
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db->sql, flags, NULL) != SQLITE_OK)
		return seterr(db, "unable to open database %s: %s", path,
			      db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
	sqlite3_extended_result_codes(db->sql, 1);
	sqlite3_busy_timeout(db->sql, busy_ms);
	if (sqlite3_create_function_v2(db->sql, "cas_bulk_n", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, db,
				       bulk_n_fn, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_module_v2(db->sql, "cas_card_rows", &card_rows_module, db, NULL) != SQLITE_OK ||
	    sqlite3_create_module_v2(db->sql, "cas_audit_rows", &audit_rows_module, db, NULL) != SQLITE_OK)
		return seterr(db, "unable to open database %s: %s", path, sqlite3_errmsg(db->sql));

	char mode[32];
	if (pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode) < 0)
		return seterr(db, "unable to open database %s: %s", path, sqlite3_errmsg(db->sql));
	if (strcmp(mode, "wal") != 0)
		return seterr(db, "unable to open database %s: WAL journal refused (%s)", path, mode);
	/* WAL with synchronous=FULL: a commit (what billing was told is done)
	 * survives a power cut.  Statement journals (one per write inside a
	 * transaction: savepoints) and temporary tables in memory, not in
	 * temporary files: halves a 200,000-row CSV import (7.6 s -> 3.4 s). */
	if (sqlite3_exec(db->sql, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
			 "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return seterr(db, "unable to open database %s: %s", path, sqlite3_errmsg(db->sql));
	if (migrate(db) < 0)
		return -1;
	if (check_master_key(db) < 0)
		return -1;
	return 0;
}

void cas_db_close(struct cas_db *db)
{
	if (db == NULL)
		return;
	cas_db_large_end(db, 0);	/* an open transaction is rolled back */
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->stmt[i]);
	if (db->sql != NULL && sqlite3_close(db->sql) != SQLITE_OK)
		cas_log(CAS_LOG_ERROR, "unable to close database %s: %s", db->path, sqlite3_errmsg(db->sql));
	cas_mkey_clear(&db->mk);
	free(db->bulk);
	free(db->path);
	sodium_memzero(db, sizeof *db);
	free(db);
}

int cas_db_schema_version(struct cas_db *db, int *version)
{
	return user_version(db, version);
}

int cas_db_start(const struct cas_conf *conf, struct cas_db **out)
{
	const char *dbpath = cas_conf_str(conf, "db");
	const char *keypath = cas_conf_str(conf, "master_key");
	struct cas_mkey mk;
	struct stat st;
	*out = NULL;
	int db_exists = stat(dbpath, &st) == 0 && st.st_size > 0;
	if (db_exists && lstat(keypath, &st) < 0 && errno == ENOENT) {
		cas_log(CAS_LOG_FATAL, "master key %s is missing but database %s exists: restore the "
			"master key (a new one could not unwrap the card keys)", keypath, dbpath);
		return -1;
	}
	int r = cas_mkey_load(&mk, keypath, CAS_MKEY_CREATE);
	if (r < 0) {
		cas_log(CAS_LOG_FATAL, "%s", mk.err);
		return -1;
	}
	if (r == 1)
		cas_log(CAS_LOG_INFO, "created master key %s", keypath);
	struct cas_db_options opt = { (int)cas_conf_int(conf, "db.busy_timeout"), 1 };
	struct cas_db *db;
	r = cas_db_open(&db, dbpath, &mk, &opt);
	cas_mkey_clear(&mk);
	if (r < 0) {
		cas_log(CAS_LOG_FATAL, "%s", cas_db_errmsg(db));
		cas_db_close(db);
		return -1;
	}
	if (!db_exists)
		cas_log(CAS_LOG_INFO, "created database %s", dbpath);
	*out = db;
	return 0;
}

/* ---- cards ---- */

static int text_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int cas_card_validate(const struct cas_card *c, char *why, size_t whysize)
{
	const char *r = NULL;
	if (!text_ok(c->name, sizeof c->name))
		r = "name longer than 255 bytes";
	else if (!text_ok(c->info, sizeof c->info))
		r = "info longer than 1023 bytes";
	else if (!text_ok(c->pair_host, sizeof c->pair_host))
		r = "pair_host longer than 64 bytes";
	else if (c->pair != 0 && c->pair != 1)
		r = "pair must be 0 or 1";
	else if (c->type != CAS_CARD_PROTECT_ON && c->type != CAS_CARD_PROTECT_OFF)
		r = "type must be 1 (protection on) or 2 (off)";
	else if (c->start < 0 || c->start > 4294967295LL)
		r = "start out of range 0..4294967295";
	else if (c->finish < 0 || c->finish > 4294967295LL)
		r = "finish out of range 0..4294967295";
	else if (c->status != CAS_CARD_DISABLED && c->status != CAS_CARD_ACTIVE &&
		 c->status != CAS_CARD_EXPIRED)
		r = "status must be 0 (disabled), 1 (active) or 2 (expired)";
	else if (c->blocked_until < 0)
		r = "blocked_until must not be negative";
	if (r == NULL)
		return 0;
	snprintf(why, whysize, "card %lu: %s", (unsigned long)c->serial_no, r);
	return -1;
}

void cas_card_wipe(struct cas_card *c)
{
	sodium_memzero(c, sizeof *c);
}

static void copy_text(char *dst, size_t size, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
	if (n >= size)
		n = size - 1;	/* the schema's CHECKs keep this from happening */
	if (n > 0)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

/* Reads the CARD_COLS of the current row.  Returns 0, or -1 if the key does
 * not unwrap (message set). */
static void row_fields(sqlite3_stmt *s, struct cas_card *c)
{
	memset(c, 0, sizeof *c);
	c->serial_no = (uint32_t)sqlite3_column_int64(s, 0);
	copy_text(c->name, sizeof c->name, s, 1);
	copy_text(c->info, sizeof c->info, s, 2);
	c->access_criteria = (uint32_t)sqlite3_column_int64(s, 4);
	c->pair = sqlite3_column_int(s, 5);
	copy_text(c->pair_host, sizeof c->pair_host, s, 6);
	c->type = sqlite3_column_int(s, 7);
	c->start = sqlite3_column_int64(s, 8);
	c->finish = sqlite3_column_int64(s, 9);
	c->status = sqlite3_column_int(s, 10);
	c->blocked_until = sqlite3_column_int64(s, 11);
	c->created = sqlite3_column_int64(s, 12);
	c->edited = sqlite3_column_int64(s, 13);
	c->change_no = sqlite3_column_int64(s, 14);
}

static int row_card(struct cas_db *db, sqlite3_stmt *s, struct cas_card *c)
{
	row_fields(s, c);
	const void *blob = sqlite3_column_blob(s, 3);
	size_t len = (size_t)sqlite3_column_bytes(s, 3);
	if (cas_mkey_unwrap(&db->mk, c->serial_no, blob, len, c->key) < 0)
		return seterr(db, "card %lu: key does not unwrap (wrong master key, or a wrapped key "
			      "copied from another card)", (unsigned long)c->serial_no);
	return 0;
}

static int bind_text_or_null(sqlite3_stmt *s, int i, const char *t)
{
	if (t == NULL || *t == '\0')
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}

/* Binds the card's columns; created, edited and change_no come apart so an
 * insert can bind them without touching the caller's struct. */
static void bind_card(sqlite3_stmt *s, const struct cas_card *c, const uint8_t *wrapped,
		      int64_t created, int64_t edited, int64_t change_no)
{
	sqlite3_bind_int64(s, 1, c->serial_no);
	sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->info, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, wrapped, CAS_MKEY_WRAPPED_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, c->access_criteria);
	sqlite3_bind_int(s, 6, c->pair);
	bind_text_or_null(s, 7, c->pair_host);
	sqlite3_bind_int(s, 8, c->type);
	sqlite3_bind_int64(s, 9, c->start);
	sqlite3_bind_int64(s, 10, c->finish);
	sqlite3_bind_int(s, 11, c->status);
	sqlite3_bind_int64(s, 12, c->blocked_until);
	sqlite3_bind_int64(s, 13, created);
	sqlite3_bind_int64(s, 14, edited);
	sqlite3_bind_int64(s, 15, change_no);
}

/* Draws n numbers from the change sequence; returns the last (first =
 * last - n + 1), or -1. */
static int64_t seq_next(struct cas_db *db, int64_t n)
{
	struct stmt_ref r;
	int64_t v = -1;
	if (acquire(db, ST_SEQ_NEXT, &r) < 0)
		return -1;
	sqlite3_bind_int64(r.s, 1, n);
	if (sqlite3_step(r.s) == SQLITE_ROW)
		v = sqlite3_column_int64(r.s, 0);
	else
		sqlerr(db, "unable to draw a change number");
	/* Step to the end so the UPDATE is complete before reset. */
	while (v >= 0 && sqlite3_step(r.s) == SQLITE_ROW)
		;
	release(db, &r);
	return v;
}

static int audit_row(struct cas_db *db, const struct cas_db_actor *who, int64_t t,
		     int has_serial, uint32_t serial, const char *field,
		     const char *oldv, const char *newv, const char *msg)
{
	struct stmt_ref r;
	if (acquire(db, ST_AUDIT_INSERT, &r) < 0)
		return -1;
	sqlite3_bind_int64(r.s, 1, t);
	sqlite3_bind_text(r.s, 2, who && who->who ? who->who : "unknown", -1, SQLITE_STATIC);
	bind_text_or_null(r.s, 3, who ? who->addr : NULL);
	if (has_serial)
		sqlite3_bind_int64(r.s, 4, serial);
	else
		sqlite3_bind_null(r.s, 4);
	if (field)
		sqlite3_bind_text(r.s, 5, field, -1, SQLITE_STATIC);
	if (oldv)
		sqlite3_bind_text(r.s, 6, oldv, -1, SQLITE_STATIC);
	if (newv)
		sqlite3_bind_text(r.s, 7, newv, -1, SQLITE_STATIC);
	if (msg)
		sqlite3_bind_text(r.s, 8, msg, -1, SQLITE_STATIC);
	int ret = 0;
	if (sqlite3_step(r.s) != SQLITE_DONE)
		ret = sqlerr(db, "unable to write the audit log");
	release(db, &r);
	return ret;
}

static int is_constraint_pk(struct cas_db *db)
{
	int e = sqlite3_extended_errcode(db->sql);
	return e == SQLITE_CONSTRAINT_PRIMARYKEY || e == SQLITE_CONSTRAINT_UNIQUE;
}

/* ---- cas_card_rows: the cards of an insert, as a read-only virtual table ---- */

struct rows_vtab {
	sqlite3_vtab base;
	struct cas_db *db;
};

struct rows_cursor {
	sqlite3_vtab_cursor base;
	size_t i;
};

static int vtab_connect(sqlite3 *sql, void *aux, const char *schema, sqlite3_vtab **out)
{
	int rc = sqlite3_declare_vtab(sql, schema);
	if (rc != SQLITE_OK)
		return rc;
	struct rows_vtab *vt = sqlite3_malloc(sizeof *vt);
	if (vt == NULL)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof *vt);
	vt->db = aux;
	/* only in the library's own statements, not in triggers or views */
	sqlite3_vtab_config(sql, SQLITE_VTAB_DIRECTONLY);
	*out = &vt->base;
	return SQLITE_OK;
}

static int rows_connect(sqlite3 *sql, void *aux, int argc, const char *const *argv,
			sqlite3_vtab **out, char **err)
{
	(void)argc;
	(void)argv;
	(void)err;
	return vtab_connect(sql, aux, "CREATE TABLE x (" CARD_COLS ")", out);
}

static int rows_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int rows_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void)vt;
	info->estimatedCost = 10000.0;
	info->estimatedRows = 10000;
	return SQLITE_OK;
}

static int rows_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	(void)vt;
	struct rows_cursor *c = sqlite3_malloc(sizeof *c);
	if (c == NULL)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof *c);
	*out = &c->base;
	return SQLITE_OK;
}

static int rows_close(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
		       sqlite3_value **argv)
{
	(void)idx;
	(void)idxstr;
	(void)argc;
	(void)argv;
	((struct rows_cursor *)cur)->i = 0;
	return SQLITE_OK;
}

static int rows_next(sqlite3_vtab_cursor *cur)
{
	((struct rows_cursor *)cur)->i++;
	return SQLITE_OK;
}

static int rows_eof(sqlite3_vtab_cursor *cur)
{
	const struct card_rows *rows = ((struct rows_vtab *)cur->pVtab)->db->rows;
	return rows == NULL || ((struct rows_cursor *)cur)->i >= rows->n;
}

/* The values cas_db_cards_insert() binds one by one (bind_card()). */
static int rows_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct card_rows *rows = ((struct rows_vtab *)cur->pVtab)->db->rows;
	size_t i = ((struct rows_cursor *)cur)->i;
	const struct cas_card *c = &rows->cards[i];
	switch (col) {
	case 0: sqlite3_result_int64(ctx, c->serial_no); break;
	case 1: sqlite3_result_text(ctx, c->name, -1, SQLITE_STATIC); break;
	case 2: sqlite3_result_text(ctx, c->info, -1, SQLITE_STATIC); break;
	case 3: sqlite3_result_blob(ctx, rows->wrapped + i * CAS_MKEY_WRAPPED_SIZE,
				    CAS_MKEY_WRAPPED_SIZE, SQLITE_STATIC); break;
	case 4: sqlite3_result_int64(ctx, c->access_criteria); break;
	case 5: sqlite3_result_int(ctx, c->pair); break;
	case 6:
		if (c->pair_host[0])
			sqlite3_result_text(ctx, c->pair_host, -1, SQLITE_STATIC);
		else
			sqlite3_result_null(ctx);
		break;
	case 7: sqlite3_result_int(ctx, c->type); break;
	case 8: sqlite3_result_int64(ctx, c->start); break;
	case 9: sqlite3_result_int64(ctx, c->finish); break;
	case 10: sqlite3_result_int(ctx, c->status); break;
	case 11: sqlite3_result_int64(ctx, c->blocked_until); break;
	case 12: sqlite3_result_int64(ctx, c->created ? c->created : rows->t); break;
	case 13: sqlite3_result_int64(ctx, rows->t); break;
	default: sqlite3_result_int64(ctx, rows->first + (int64_t)i); break;
	}
	return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct rows_cursor *)cur)->i + 1;
	return SQLITE_OK;
}

/* Eponymous only (no xCreate): "FROM cas_card_rows" needs no CREATE. */
static const sqlite3_module card_rows_module = {
	.xConnect = rows_connect,
	.xBestIndex = rows_best_index,
	.xDisconnect = rows_disconnect,
	.xOpen = rows_open,
	.xClose = rows_close,
	.xFilter = rows_filter,
	.xNext = rows_next,
	.xEof = rows_eof,
	.xColumn = rows_column,
	.xRowid = rows_rowid,
};

/* ---- cas_audit_rows: the audit rows of a bulk update, the same way ---- */

static int audit_connect(sqlite3 *sql, void *aux, int argc, const char *const *argv,
			 sqlite3_vtab **out, char **err)
{
	(void)argc;
	(void)argv;
	(void)err;
	return vtab_connect(sql, aux, "CREATE TABLE x (serial_no, field, old_value, new_value, message)",
			    out);
}

static int audit_eof(sqlite3_vtab_cursor *cur)
{
	const struct audit_rows *a = ((struct rows_vtab *)cur->pVtab)->db->audit;
	return a == NULL || ((struct rows_cursor *)cur)->i >= a->n;
}

static void result_text_at(sqlite3_context *ctx, const struct audit_rows *a, size_t off)
{
	if (off == NO_TEXT)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_text(ctx, a->text + off, -1, SQLITE_STATIC);
}

static int audit_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct audit_rows *a = ((struct rows_vtab *)cur->pVtab)->db->audit;
	const struct audit_entry *e = &a->e[((struct rows_cursor *)cur)->i];
	switch (col) {
	case 0: sqlite3_result_int64(ctx, e->serial); break;
	case 1: sqlite3_result_text(ctx, e->field, -1, SQLITE_STATIC); break;
	case 2: result_text_at(ctx, a, e->old_off); break;
	case 3: result_text_at(ctx, a, e->new_off); break;
	default:
		if (e->message)
			sqlite3_result_text(ctx, e->message, -1, SQLITE_STATIC);
		else
			sqlite3_result_null(ctx);
		break;
	}
	return SQLITE_OK;
}

static const sqlite3_module audit_rows_module = {
	.xConnect = audit_connect,
	.xBestIndex = rows_best_index,
	.xDisconnect = rows_disconnect,
	.xOpen = rows_open,
	.xClose = rows_close,
	.xFilter = rows_filter,
	.xNext = rows_next,
	.xEof = audit_eof,
	.xColumn = audit_column,
	.xRowid = rows_rowid,
};

/* Inserts cards[0..n) (wrapped keys in wrapped[i * CAS_MKEY_WRAPPED_SIZE])
 * with created (when the card has none) and edited = t and change_no =
 * first + i.  Returns 0, CAS_DB_EXISTS or -1.  No transaction, no audit.
 *
 * All in one INSERT ... SELECT from cas_card_rows: a single-row INSERT per
 * card opens, checks and closes the table and its seven indexes each time
 * (1,000,000 cards in batches of 10,000: 5.5-6.0 -> 4.4-4.6 s, bench_db).  Many rows
 * in one statement need a statement journal (SQLite copies each page the
 * statement changes first): one statement per batch copies each page once,
 * where one per 64-row VALUES list copied the same index pages again and
 * again (four times slower than one row at a time).  When the statement
 * fails (a serial taken), it is undone and the cards are inserted one by
 * one, so that the error names the first card that fails. */
static int insert_cards(struct cas_db *db, const struct cas_card *cards, const uint8_t *wrapped,
			size_t n, int64_t t, int64_t first)
{
	struct stmt_ref r, rs;
	struct card_rows rows = { cards, wrapped, n, t, first };
	int ret = 0;
	if (n > 1) {
		if (acquire(db, ST_CARD_INSERT_ROWS, &r) < 0)
			return -1;
		db->rows = &rows;
		int rc = sqlite3_step(r.s);
		release(db, &r);
		if (rc == SQLITE_DONE) {
			/* The data went in: the state rows cannot collide but for
			 * a change_no taken by hand (the caller rolls back). */
			if (acquire(db, ST_STATE_INSERT_ROWS, &r) < 0) {
				db->rows = NULL;
				return -1;
			}
			rc = sqlite3_step(r.s);
			db->rows = NULL;
			if (rc != SQLITE_DONE)
				ret = sqlerr(db, "unable to insert cards");
			release(db, &r);
			return ret;
		}
		db->rows = NULL;
	}
	if (acquire(db, ST_CARD_INSERT, &r) < 0)
		return -1;
	if (acquire(db, ST_STATE_INSERT, &rs) < 0) {
		release(db, &r);
		return -1;
	}
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct cas_card *c = &cards[i];
		bind_card(r.s, c, wrapped + i * CAS_MKEY_WRAPPED_SIZE, c->created ? c->created : t, t,
			  first + (int64_t)i);
		bind_card(rs.s, c, wrapped + i * CAS_MKEY_WRAPPED_SIZE, c->created ? c->created : t, t,
			  first + (int64_t)i);
		if (sqlite3_step(r.s) == SQLITE_DONE && sqlite3_step(rs.s) == SQLITE_DONE) {
			;
		} else if (is_constraint_pk(db)) {
			seterr(db, "card %lu already exists", (unsigned long)c->serial_no);
			ret = CAS_DB_EXISTS;
		} else {
			seterr(db, "unable to insert card %lu: %s", (unsigned long)c->serial_no,
			       sqlite3_errmsg(db->sql));
			ret = -1;
		}
		sqlite3_reset(r.s);
		sqlite3_reset(rs.s);
	}
	release(db, &rs);
	release(db, &r);
	return ret;
}

int cas_db_card_insert(struct cas_db *db, struct cas_card *c, const struct cas_db_actor *who)
{
	return cas_db_cards_insert(db, c, 1, who);
}

int cas_db_cards_insert(struct cas_db *db, struct cas_card *cards, size_t n,
			const struct cas_db_actor *who)
{
	struct op op;
	struct stmt_ref r = { NULL, 0, 0 };
	uint8_t *wrapped;
	char why[300];
	size_t nvalid = n;
	int ret = -1;
	if (n == 0)
		return 0;
	/* Checked and wrapped before the write lock is taken: other writers
	 * wait for the inserts only.  The first card that fails stops the
	 * inserts there; one before it whose serial is taken fails first, as
	 * it would inserting them in order. */
	if (n > SIZE_MAX / CAS_MKEY_WRAPPED_SIZE || (wrapped = malloc(n * CAS_MKEY_WRAPPED_SIZE)) == NULL)
		return seterr(db, "out of memory");
	uint8_t *nonces = malloc(n * CAS_MKEY_NONCE_SIZE);
	if (nonces == NULL) {
		free(wrapped);
		return seterr(db, "out of memory");
	}
	/* One getrandom() for the batch: a fresh seed expanded by ChaCha20
	 * (randombytes_buf() itself reads at most 256 bytes per system call). */
	uint8_t seed[randombytes_SEEDBYTES];
	randombytes_buf(seed, sizeof seed);
	randombytes_buf_deterministic(nonces, n * CAS_MKEY_NONCE_SIZE, seed);
	sodium_memzero(seed, sizeof seed);
	for (size_t i = 0; i < n && nvalid == n; i++) {
		if (cas_card_validate(&cards[i], why, sizeof why) < 0)
			nvalid = i;
		else if (cas_mkey_wrap_nonce(&db->mk, cards[i].serial_no, cards[i].key,
					     nonces + i * CAS_MKEY_NONCE_SIZE,
					     wrapped + i * CAS_MKEY_WRAPPED_SIZE) < 0) {
			snprintf(why, sizeof why, "card %lu: unable to wrap the key",
				 (unsigned long)cards[i].serial_no);
			nvalid = i;
		}
	}
	free(nonces);
	if (op_begin(db, &op) < 0) {
		free(wrapped);
		return -1;
	}
	int64_t t = now(db);
	int64_t last = seq_next(db, (int64_t)n);
	int64_t tombstones = 0;
	if (last < 0 || single_int64(db, ST_TOMB_ANY, &tombstones, "unable to read cards_deleted") < 0)
		goto out;
	/* A serial inserted again stops being a tombstone (003_deleted_cards). */
	if (tombstones) {
		if (acquire(db, ST_TOMB_DELETE, &r) < 0)
			goto out;
		for (size_t i = 0; i < nvalid; i++) {
			sqlite3_bind_int64(r.s, 1, cards[i].serial_no);
			if (sqlite3_step(r.s) != SQLITE_DONE) {
				sqlerr(db, "unable to update cards_deleted");
				goto out;
			}
			sqlite3_reset(r.s);
		}
		release(db, &r);
	}
	ret = insert_cards(db, cards, wrapped, nvalid, t, last - (int64_t)n + 1);
	if (ret != 0)
		goto out;
	if (nvalid < n) {
		ret = seterr(db, "%s", why);
		goto out;
	}
	char msg[120];
	if (n == 1) {
		ret = audit_row(db, who, t, 1, cards[0].serial_no, NULL, NULL, NULL, "card created");
	} else {
		snprintf(msg, sizeof msg, "%zu cards created (%lu..%lu)", n,
			 (unsigned long)cards[0].serial_no, (unsigned long)cards[n - 1].serial_no);
		ret = audit_row(db, who, t, 0, 0, NULL, NULL, NULL, msg);
	}
out:
	release(db, &r);
	free(wrapped);
	if (op_end(db, &op, ret == 0) < 0)
		ret = -1;
	if (ret == 0) {
		/* Only now, so a failure leaves the caller's cards untouched. */
		for (size_t i = 0; i < n; i++) {
			if (cards[i].created == 0)
				cards[i].created = t;
			cards[i].edited = t;
			cards[i].change_no = last - (int64_t)n + 1 + (int64_t)i;
		}
	}
	return ret;
}

/* Reads a card and its wrapped key.  Returns 0, CAS_DB_NOTFOUND or -1. */
static int get_card(struct cas_db *db, uint32_t serial, struct cas_card *out,
		    uint8_t wrapped[CAS_MKEY_WRAPPED_SIZE])
{
	struct stmt_ref r;
	if (acquire(db, ST_CARD_GET, &r) < 0)
		return -1;
	sqlite3_bind_int64(r.s, 1, serial);
	int rc = sqlite3_step(r.s);
	int ret;
	if (rc == SQLITE_ROW) {
		ret = row_card(db, r.s, out);
		if (ret == 0 && wrapped != NULL)
			memcpy(wrapped, sqlite3_column_blob(r.s, 3), CAS_MKEY_WRAPPED_SIZE);
	} else if (rc == SQLITE_DONE) {
		seterr(db, "card %lu not found", (unsigned long)serial);
		ret = CAS_DB_NOTFOUND;
	} else {
		ret = sqlerr(db, "unable to read a card");
	}
	release(db, &r);
	return ret;
}

int cas_db_card_get_info(struct cas_db *db, uint32_t serial, struct cas_card *out)
{
	struct stmt_ref r;
	int ret;
	memset(out, 0, sizeof *out);
	if (acquire(db, ST_CARD_GET, &r) < 0)
		return -1;
	sqlite3_bind_int64(r.s, 1, serial);
	int rc = sqlite3_step(r.s);
	if (rc == SQLITE_ROW) {
		row_fields(r.s, out);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		seterr(db, "card %lu not found", (unsigned long)serial);
		ret = CAS_DB_NOTFOUND;
	} else {
		ret = sqlerr(db, "unable to read a card");
	}
	release(db, &r);
	return ret;
}

int cas_db_card_get(struct cas_db *db, uint32_t serial, struct cas_card *out)
{
	int r = get_card(db, serial, out, NULL);
	if (r != 0)
		cas_card_wipe(out);
	return r;
}

/* One field of the diff: name for the audit and the value as text. */
static void fmt_field(const struct cas_card *c, unsigned bit, char *out, size_t size)
{
	switch (bit) {
	case CAS_CARD_F_NAME: snprintf(out, size, "%s", c->name); break;
	case CAS_CARD_F_INFO: snprintf(out, size, "%s", c->info); break;
	case CAS_CARD_F_AC: snprintf(out, size, "%08lX", (unsigned long)c->access_criteria); break;
	case CAS_CARD_F_PAIR: snprintf(out, size, "%d", c->pair); break;
	case CAS_CARD_F_PAIR_HOST: snprintf(out, size, "%s", c->pair_host); break;
	case CAS_CARD_F_TYPE: snprintf(out, size, "%d", c->type); break;
	case CAS_CARD_F_START: snprintf(out, size, "%lld", (long long)c->start); break;
	case CAS_CARD_F_FINISH: snprintf(out, size, "%lld", (long long)c->finish); break;
	case CAS_CARD_F_STATUS: snprintf(out, size, "%d", c->status); break;
	case CAS_CARD_F_BLOCKED: snprintf(out, size, "%lld", (long long)c->blocked_until); break;
	default: out[0] = '\0'; break;
	}
}

static const struct {
	unsigned bit;
	const char *name;
} card_fields[] = {
	{ CAS_CARD_F_NAME, "name" }, { CAS_CARD_F_INFO, "info" }, { CAS_CARD_F_KEY, "key" },
	{ CAS_CARD_F_AC, "access_criteria" }, { CAS_CARD_F_PAIR, "pair" },
	{ CAS_CARD_F_PAIR_HOST, "pair_host" }, { CAS_CARD_F_TYPE, "type" },
	{ CAS_CARD_F_START, "start" }, { CAS_CARD_F_FINISH, "finish" },
	{ CAS_CARD_F_STATUS, "status" }, { CAS_CARD_F_BLOCKED, "blocked_until" },
};

/* Copies the fields named by `fields` from src into dst. */
static void merge_fields(struct cas_card *dst, const struct cas_card *src, unsigned fields)
{
	if (fields & CAS_CARD_F_NAME)
		memcpy(dst->name, src->name, sizeof dst->name);
	if (fields & CAS_CARD_F_INFO)
		memcpy(dst->info, src->info, sizeof dst->info);
	if (fields & CAS_CARD_F_KEY)
		memcpy(dst->key, src->key, sizeof dst->key);
	if (fields & CAS_CARD_F_AC)
		dst->access_criteria = src->access_criteria;
	if (fields & CAS_CARD_F_PAIR)
		dst->pair = src->pair;
	if (fields & CAS_CARD_F_PAIR_HOST)
		memcpy(dst->pair_host, src->pair_host, sizeof dst->pair_host);
	if (fields & CAS_CARD_F_TYPE)
		dst->type = src->type;
	if (fields & CAS_CARD_F_START)
		dst->start = src->start;
	if (fields & CAS_CARD_F_FINISH)
		dst->finish = src->finish;
	if (fields & CAS_CARD_F_STATUS)
		dst->status = src->status;
	if (fields & CAS_CARD_F_BLOCKED)
		dst->blocked_until = src->blocked_until;
}

/* Whether field `bit` differs between a and b (cheaper than formatting
 * both: most fields of an import do not change). */
static int field_differs(const struct cas_card *a, const struct cas_card *b, unsigned bit)
{
	switch (bit) {
	case CAS_CARD_F_NAME: return strcmp(a->name, b->name) != 0;
	case CAS_CARD_F_INFO: return strcmp(a->info, b->info) != 0;
	case CAS_CARD_F_KEY: return sodium_memcmp(a->key, b->key, sizeof a->key) != 0;
	case CAS_CARD_F_AC: return a->access_criteria != b->access_criteria;
	case CAS_CARD_F_PAIR: return a->pair != b->pair;
	case CAS_CARD_F_PAIR_HOST: return strcmp(a->pair_host, b->pair_host) != 0;
	case CAS_CARD_F_TYPE: return a->type != b->type;
	case CAS_CARD_F_START: return a->start != b->start;
	case CAS_CARD_F_FINISH: return a->finish != b->finish;
	case CAS_CARD_F_STATUS: return a->status != b->status;
	case CAS_CARD_F_BLOCKED: return a->blocked_until != b->blocked_until;
	default: return 0;
	}
}

/* Receives one changed field of a card: the audit row to write (values
 * NULL for none).  Returns 0 or -1. */
typedef int diff_fn(void *ctx, uint32_t serial, const char *field, const char *oldv,
		    const char *newv, const char *msg);

/* Compares the fields of old and nw named by `fields`, in card_fields order
 * (the audit's order), and calls emit for each that differs: the key as
 * "key replaced" without values, an empty pair_host as NULL.  Returns the
 * number that differ (*changed gets their bits), or -1 if emit failed. */
static int card_diff(const struct cas_card *old, const struct cas_card *nw, unsigned fields,
		     diff_fn *emit, void *ctx, unsigned *changed)
{
	char ov[CAS_CARD_INFO_SIZE], nv[CAS_CARD_INFO_SIZE];
	int n = 0;
	*changed = 0;
	for (size_t i = 0; i < sizeof card_fields / sizeof card_fields[0]; i++) {
		unsigned bit = card_fields[i].bit;
		if (!(fields & bit) || !field_differs(old, nw, bit))
			continue;
		n++;
		*changed |= bit;
		if (bit == CAS_CARD_F_KEY) {
			if (emit(ctx, nw->serial_no, "key", NULL, NULL, "key replaced") < 0)
				return -1;
			continue;
		}
		fmt_field(old, bit, ov, sizeof ov);
		fmt_field(nw, bit, nv, sizeof nv);
		if (emit(ctx, nw->serial_no, card_fields[i].name,
			 bit == CAS_CARD_F_PAIR_HOST && !*ov ? NULL : ov,
			 bit == CAS_CARD_F_PAIR_HOST && !*nv ? NULL : nv, NULL) < 0)
			return -1;
	}
	return n;
}

struct audit_now {
	struct cas_db *db;
	const struct cas_db_actor *who;
	int64_t t;
};

/* diff_fn: the audit row written at once. */
static int audit_now(void *ctx, uint32_t serial, const char *field, const char *oldv,
		     const char *newv, const char *msg)
{
	struct audit_now *a = ctx;
	return audit_row(a->db, a->who, a->t, 1, serial, field, oldv, newv, msg);
}

/* Runs statement id (an update of one of the card's two rows) with c's
 * columns. */
static int write_card(struct cas_db *db, int id, const struct cas_card *c, const uint8_t *wrapped)
{
	struct stmt_ref r;
	if (acquire(db, id, &r) < 0)
		return -1;
	bind_card(r.s, c, wrapped, c->created, c->edited, c->change_no);
	int rc = sqlite3_step(r.s);
	release(db, &r);
	if (rc != SQLITE_DONE)
		return seterr(db, "unable to update card %lu: %s", (unsigned long)c->serial_no,
			      sqlite3_errmsg(db->sql));
	return 0;
}

/* The update inside a transaction: diff, audit, write.  *nchanged gets the
 * count.  c is refreshed on success. */
static int update_locked(struct cas_db *db, struct cas_card *c, unsigned fields,
			 const struct cas_db_actor *who, int *nchanged)
{
	struct cas_card old, nw;
	uint8_t wrapped[CAS_MKEY_WRAPPED_SIZE];
	char why[300];
	unsigned bits;
	int ret = get_card(db, c->serial_no, &old, wrapped);
	if (ret != 0)
		goto out;
	nw = old;
	merge_fields(&nw, c, fields);
	ret = -1;
	if (cas_card_validate(&nw, why, sizeof why) < 0) {
		seterr(db, "%s", why);
		goto out;
	}
	int64_t t = now(db);
	struct audit_now an = { db, who, t };
	int n = card_diff(&old, &nw, fields, audit_now, &an, &bits);
	if (n < 0)
		goto out;
	if (n > 0) {
		if ((bits & CAS_CARD_F_KEY) && cas_mkey_wrap(&db->mk, nw.serial_no, nw.key, wrapped) < 0) {
			seterr(db, "card %lu: unable to wrap the key", (unsigned long)nw.serial_no);
			goto out;
		}
		nw.edited = t;
		nw.change_no = seq_next(db, 1);
		if (nw.change_no < 0)
			goto out;
		/* card_data only when one of its columns changes */
		if (((bits & ~STATE_FIELDS) && write_card(db, ST_CARD_UPDATE, &nw, wrapped) < 0) ||
		    write_card(db, ST_STATE_UPDATE, &nw, wrapped) < 0)
			goto out;
	}
	*c = nw;
	*nchanged = n;
	ret = 0;
out:
	cas_card_wipe(&old);
	cas_card_wipe(&nw);
	sodium_memzero(wrapped, sizeof wrapped);
	return ret;
}

int cas_db_card_update(struct cas_db *db, struct cas_card *c, unsigned fields,
		       const struct cas_db_actor *who, int *changed)
{
	struct op op;
	int n = 0;
	if (changed)
		*changed = 0;
	if (op_begin(db, &op) < 0)
		return -1;
	int ret = update_locked(db, c, fields & CAS_CARD_F_ALL, who, &n);
	if (op_end(db, &op, ret == 0) < 0)
		ret = -1;
	if (ret == 0 && changed)
		*changed = n;
	return ret;
}

/* ---- many updates at once ---- */

static size_t audit_text(struct audit_rows *a, const char *t)
{
	if (t == NULL)
		return NO_TEXT;
	size_t n = strlen(t) + 1;
	if (a->len + n > a->tcap) {
		size_t cap = a->tcap ? a->tcap : 65536;
		while (a->len + n > cap)
			cap *= 2;
		char *p = realloc(a->text, cap);
		if (p == NULL)
			return NO_TEXT - 1;
		a->text = p;
		a->tcap = cap;
	}
	memcpy(a->text + a->len, t, n);
	a->len += n;
	return a->len - n;
}

/* diff_fn: the audit row kept for one INSERT at the end. */
static int audit_keep(void *ctx, uint32_t serial, const char *field, const char *oldv,
		      const char *newv, const char *msg)
{
	struct audit_rows *a = ctx;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		struct audit_entry *p = realloc(a->e, cap * sizeof *p);
		if (p == NULL)
			return -1;
		a->e = p;
		a->cap = cap;
	}
	struct audit_entry *e = &a->e[a->n];
	e->serial = serial;
	e->field = field;
	e->message = msg;
	e->old_off = audit_text(a, oldv);
	e->new_off = audit_text(a, newv);
	if (e->old_off == NO_TEXT - 1 || e->new_off == NO_TEXT - 1)
		return -1;
	a->n++;
	return 0;
}

/* The columns of the card fields, for the update's SET list. */
static const struct {
	unsigned bit;
	const char *set;
} card_set[] = {
	{ CAS_CARD_F_NAME, "name = v.name" }, { CAS_CARD_F_INFO, "info = v.info" },
	{ CAS_CARD_F_KEY, "key = v.key" }, { CAS_CARD_F_AC, "access_criteria = v.access_criteria" },
	{ CAS_CARD_F_PAIR, "pair = v.pair" }, { CAS_CARD_F_PAIR_HOST, "pair_host = v.pair_host" },
	{ CAS_CARD_F_TYPE, "type = v.type" }, { CAS_CARD_F_START, "start = v.start" },
	{ CAS_CARD_F_FINISH, "finish = v.finish" }, { CAS_CARD_F_STATUS, "status = v.status" },
	{ CAS_CARD_F_BLOCKED, "blocked_until = v.blocked_until" },
};

/* Writes the k changed cards (rows) with an UPDATE ... FROM cas_card_rows
 * of card_state (edited and change_no always change) and, when a column of
 * card_data changes, one of card_data, setting only the columns some card
 * changed: SQLite then leaves alone the indexes on the others (an
 * access_criteria change touches only cards_edited and cards_change_no). */
static int update_rows(struct cas_db *db, struct card_rows *rows, unsigned bits)
{
	int ret = 0;
	for (int state = (bits & ~STATE_FIELDS) ? 0 : 1; state < 2 && ret == 0; state++) {
		char sql[700];
		const char *table = state ? "card_state" : "card_data";
		size_t len = (size_t)snprintf(sql, sizeof sql, "UPDATE %s SET ", table);
		const char *sep = "";
		for (size_t i = 0; i < sizeof card_set / sizeof card_set[0]; i++)
			if ((bits & card_set[i].bit) && !(card_set[i].bit & STATE_FIELDS) == !state) {
				len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s", sep,
							card_set[i].set);
				sep = ", ";
			}
		if (state)
			len += (size_t)snprintf(sql + len, sizeof sql - len,
						"%sedited = v.edited, change_no = v.change_no", sep);
		snprintf(sql + len, sizeof sql - len, " FROM cas_card_rows AS v WHERE %s.serial_no = v.serial_no",
			 table);
		sqlite3_stmt *s = NULL;
		if (sqlite3_prepare_v2(db->sql, sql, -1, &s, NULL) != SQLITE_OK)
			return sqlerr(db, "unable to update cards");
		db->rows = rows;
		int rc = sqlite3_step(s);
		db->rows = NULL;
		if (rc != SQLITE_DONE)
			ret = sqlerr(db, "unable to update cards");
		else if ((size_t)sqlite3_changes64(db->sql) != rows->n)
			ret = seterr(db, "unable to update cards: %lld of %zu changed",
				     (long long)sqlite3_changes64(db->sql), rows->n);
		sqlite3_finalize(s);
	}
	return ret;
}

int cas_db_cards_update(struct cas_db *db, const struct cas_card *cards, size_t n, unsigned fields,
			int64_t renew_from, const struct cas_db_actor *who, int *result)
{
	struct op op;
	struct audit_rows audit = { NULL, 0, 0, NULL, 0, 0 };
	struct stmt_ref get = { NULL, 0, 0 };
	struct cas_card old;
	struct cas_card *merged = NULL;	/* the cards that change, as they will be */
	uint8_t *wrapped = NULL;
	char why[300];
	size_t k = 0;
	unsigned bits = 0;
	int ret = -1;
	fields &= CAS_CARD_F_ALL;
	memset(&old, 0, sizeof old);
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof *merged || (merged = malloc(n * sizeof *merged)) == NULL ||
	    (wrapped = malloc(n * CAS_MKEY_WRAPPED_SIZE)) == NULL) {
		free(merged);
		return seterr(db, "out of memory");
	}
	if (op_begin(db, &op) < 0)
		goto out_free;
	int64_t t = now(db);
	/* The current rows, read by one statement that walks the batch (a
	 * lookup statement per card cost a sixth of an import). */
	struct card_rows given = { cards, NULL, n, 0, 0 };
	if (acquire(db, ST_CARD_GET_ROWS, &get) < 0)
		goto out;
	db->rows = &given;
	int rc = sqlite3_step(get.s);
	for (size_t i = 0; i < n; i++) {
		struct cas_card *m = &merged[k];
		uint8_t *w = wrapped + k * CAS_MKEY_WRAPPED_SIZE;
		unsigned f = fields, changed;
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			sqlerr(db, "unable to read cards");
			goto out;
		}
		if (rc == SQLITE_DONE || sqlite3_column_int64(get.s, 15) != (int64_t)i + 1) {
			result[i] = -1;	/* no such card */
			continue;
		}
		/* The key is unwrapped only to compare it with a new one. */
		if (fields & CAS_CARD_F_KEY) {
			if (row_card(db, get.s, &old) < 0)
				goto out;
		} else {
			row_fields(get.s, &old);
		}
		memcpy(w, sqlite3_column_blob(get.s, 3), CAS_MKEY_WRAPPED_SIZE);
		rc = sqlite3_step(get.s);
		*m = old;
		merge_fields(m, &cards[i], f);
		if (renew_from > 0 && old.status == CAS_CARD_EXPIRED && m->finish >= renew_from) {
			m->status = CAS_CARD_ACTIVE;
			f |= CAS_CARD_F_STATUS;
		}
		if (cas_card_validate(m, why, sizeof why) < 0) {
			seterr(db, "%s", why);
			goto out;
		}
		int d = card_diff(&old, m, f, audit_keep, &audit, &changed);
		if (d < 0) {
			seterr(db, "out of memory");
			goto out;
		}
		result[i] = d;
		if (d == 0)
			continue;
		if ((changed & CAS_CARD_F_KEY) && cas_mkey_wrap(&db->mk, m->serial_no, m->key, w) < 0) {
			seterr(db, "card %lu: unable to wrap the key", (unsigned long)m->serial_no);
			goto out;
		}
		bits |= changed;
		k++;
	}
	release(db, &get);
	db->rows = NULL;
	if (k > 0) {
		int64_t last = seq_next(db, (int64_t)k);
		if (last < 0)
			goto out;
		struct card_rows rows = { merged, wrapped, k, t, last - (int64_t)k + 1 };
		if (large_prepare(db, bits | LARGE_EDITED) < 0 || update_rows(db, &rows, bits) < 0)
			goto out;
		struct stmt_ref r;
		if (acquire(db, ST_AUDIT_INSERT_ROWS, &r) < 0)
			goto out;
		sqlite3_bind_int64(r.s, 1, t);
		sqlite3_bind_text(r.s, 2, who && who->who ? who->who : "unknown", -1, SQLITE_STATIC);
		bind_text_or_null(r.s, 3, who ? who->addr : NULL);
		db->audit = &audit;
		rc = sqlite3_step(r.s);
		db->audit = NULL;
		if (rc != SQLITE_DONE)
			sqlerr(db, "unable to write the audit log");
		release(db, &r);
		if (rc != SQLITE_DONE)
			goto out;
	}
	ret = 0;
out:
	release(db, &get);
	db->rows = NULL;
	if (op_end(db, &op, ret == 0) < 0)
		ret = -1;
out_free:
	cas_card_wipe(&old);
	sodium_memzero(merged, n * sizeof *merged);
	sodium_memzero(wrapped, n * CAS_MKEY_WRAPPED_SIZE);
	free(merged);
	free(wrapped);
	free(audit.e);
	free(audit.text);
	return ret;
}

int cas_db_card_touch(struct cas_db *db, uint32_t serial, const struct cas_db_actor *who,
		      const char *reason)
{
	struct op op;
	struct stmt_ref r = { NULL, 0, 0 };
	char msg[300];
	int ret = -1;
	if (op_begin(db, &op) < 0)
		return -1;
	int64_t t = now(db);
	int64_t change = seq_next(db, 1);
	if (change < 0 || acquire(db, ST_CARD_TOUCH, &r) < 0)
		goto out;
	sqlite3_bind_int64(r.s, 1, serial);
	sqlite3_bind_int64(r.s, 2, t);
	sqlite3_bind_int64(r.s, 3, change);
	if (sqlite3_step(r.s) != SQLITE_DONE) {
		sqlerr(db, "unable to touch a card");
		goto out;
	}
	if (sqlite3_changes(db->sql) == 0) {
		seterr(db, "card %lu not found", (unsigned long)serial);
		ret = CAS_DB_NOTFOUND;
		goto out;
	}
	snprintf(msg, sizeof msg, "touched: %s", reason ? reason : "resend");
	ret = audit_row(db, who, t, 1, serial, NULL, NULL, NULL, msg);
out:
	release(db, &r);
	if (op_end(db, &op, ret == 0) < 0)
		ret = -1;
	return ret;
}

int cas_db_card_delete(struct cas_db *db, uint32_t serial, const struct cas_db_actor *who)
{
	struct op op;
	struct stmt_ref r = { NULL, 0, 0 };
	int ret = -1;
	if (op_begin(db, &op) < 0)
		return -1;
	int64_t t = now(db);
	/* The trigger cards_tombstone (on card_state) draws the change number. */
	static const int deletes[] = { ST_STATE_DELETE, ST_CARD_DELETE };
	for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
		if (acquire(db, deletes[i], &r) < 0)
			goto out;
		sqlite3_bind_int64(r.s, 1, serial);
		if (sqlite3_step(r.s) != SQLITE_DONE) {
			sqlerr(db, "unable to delete a card");
			goto out;
		}
		if (sqlite3_changes(db->sql) == 0) {
			seterr(db, "card %lu not found", (unsigned long)serial);
			ret = CAS_DB_NOTFOUND;
			goto out;
		}
		release(db, &r);
	}
	if (acquire(db, ST_TOMB_TIME, &r) < 0)
		goto out;
	sqlite3_bind_int64(r.s, 1, serial);
	sqlite3_bind_int64(r.s, 2, t);
	if (sqlite3_step(r.s) != SQLITE_DONE) {
		sqlerr(db, "unable to delete a card");
		goto out;
	}
	ret = audit_row(db, who, t, 1, serial, NULL, NULL, NULL, "card deleted");
out:
	release(db, &r);
	if (op_end(db, &op, ret == 0) < 0)
		ret = -1;
	return ret;
}

static int single_int64(struct cas_db *db, int id, int64_t *out, const char *what)
{
	struct stmt_ref r;
	int ret = -1;
	if (acquire(db, id, &r) < 0)
		return -1;
	if (sqlite3_step(r.s) == SQLITE_ROW) {
		*out = sqlite3_column_int64(r.s, 0);
		ret = 0;
	} else {
		sqlerr(db, what);
	}
	release(db, &r);
	return ret;
}

int cas_db_card_count(struct cas_db *db, int64_t *count)
{
	return single_int64(db, ST_CARD_COUNT, count, "unable to count cards");
}

int cas_db_card_max_serial(struct cas_db *db, uint32_t first, uint32_t last, uint32_t *out)
{
	struct stmt_ref r;
	int ret = -1;
	if (acquire(db, ST_CARD_MAX_SERIAL, &r) < 0)
		return -1;
	sqlite3_bind_int64(r.s, 1, first);
	sqlite3_bind_int64(r.s, 2, last);
	if (sqlite3_step(r.s) != SQLITE_ROW) {
		sqlerr(db, "unable to read cards");
	} else if (sqlite3_column_type(r.s, 0) == SQLITE_NULL) {
		seterr(db, "no card in %lu..%lu", (unsigned long)first, (unsigned long)last);
		ret = CAS_DB_NOTFOUND;
	} else {
		*out = (uint32_t)sqlite3_column_int64(r.s, 0);
		ret = 0;
	}
	release(db, &r);
	return ret;
}

int cas_db_change_max(struct cas_db *db, int64_t *out)
{
	return single_int64(db, ST_SEQ_GET, out, "unable to read the change sequence");
}

/* Runs a card query (parameters bound by the caller through p1/p2) and
 * calls cb for each row.  A card whose key does not unwrap is logged and
 * skipped: one damaged row must not stop the EMM carousel. */
static int each_card(struct cas_db *db, int id, int nparams, int64_t p1, int64_t p2,
		     cas_db_card_fn *cb, cas_db_deleted_fn *on_deleted, void *ctx)
{
	struct stmt_ref r;
	struct cas_card c;
	int ret = 0;
	if (acquire(db, id, &r) < 0)
		return -1;
	if (nparams >= 1)
		sqlite3_bind_int64(r.s, 1, p1);
	if (nparams >= 2)
		sqlite3_bind_int64(r.s, 2, p2);
	for (;;) {
		int rc = sqlite3_step(r.s);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ret = sqlerr(db, "unable to read cards");
			break;
		}
		if (id == ST_CARDS_CHANGED && sqlite3_column_int(r.s, 15) == 1) {
			if (on_deleted)
				ret = on_deleted(ctx, (uint32_t)sqlite3_column_int64(r.s, 0),
						 sqlite3_column_int64(r.s, 14));
		} else if (row_card(db, r.s, &c) < 0) {
			cas_log(CAS_LOG_ERROR, "%s; skipped", db->err);
			continue;
		} else {
			ret = cb(ctx, &c);
		}
		if (ret != 0)
			break;
	}
	cas_card_wipe(&c);
	release(db, &r);
	return ret;
}

int cas_db_cards_each(struct cas_db *db, cas_db_card_fn *cb, void *ctx)
{
	return each_card(db, ST_CARDS_ALL, 0, 0, 0, cb, NULL, ctx);
}

int cas_db_cards_range(struct cas_db *db, uint32_t first, uint32_t last,
		       cas_db_card_fn *cb, void *ctx)
{
	return each_card(db, ST_CARDS_RANGE, 2, first, last, cb, NULL, ctx);
}

int cas_db_cards_changed_since(struct cas_db *db, int64_t after,
			       cas_db_card_fn *cb, cas_db_deleted_fn *on_deleted, void *ctx)
{
	return each_card(db, ST_CARDS_CHANGED, 1, after, 0, cb, on_deleted, ctx);
}

int cas_db_cards_on_air(struct cas_db *db, int64_t t, int off_days,
			cas_db_card_fn *cb, void *ctx)
{
	return each_card(db, ST_CARDS_ON_AIR, 2, t, t - (int64_t)off_days * 86400, cb, NULL, ctx);
}

int cas_db_cards_expired(struct cas_db *db, int64_t t, cas_db_card_fn *cb, void *ctx)
{
	return each_card(db, ST_CARDS_EXPIRED, 1, t, 0, cb, NULL, ctx);
}

int cas_db_cards_block_ended(struct cas_db *db, int64_t t, cas_db_card_fn *cb, void *ctx)
{
	return each_card(db, ST_CARDS_BLOCK_ENDED, 1, t, 0, cb, NULL, ctx);
}

/* cascron's bulk jobs: a handful of statements per sweep instead of one
 * update per card, so that expiring a million cards takes seconds, not
 * minutes (test/bench/bench_db.c, test/bench/cascron.sh).  What they write is
 * what cas_db_card_update() would write for each card: one audit row (field,
 * old -> new) and a new change_no per card, drawn from the
 * sequence in serial order (the audit rows follow the same order); but
 * edited stays as it was (a sweep is not an edit).  A card
 * whose key does not unwrap is changed like any other: its key is not
 * touched.  They change card_state only (006_card_state).
 *
 * How: the selection's serials are read from its partial index and sorted
 * in memory; the SQL function cas_bulk_n(serial) (registered on this
 * connection only) gives a card's place among them.  The audit rows are
 * appended from the same selection sorted by serial; the update sets
 * change_no = last - k + n in whatever order SQLite visits the cards.  No
 * temporary table, no join.  Serial order, not the selection's, because the
 * audit's index on serial_no then grows in order instead of at random
 * places (a million cards due, finish dates spread over a year: the audit
 * 0.8 -> 0.4 s).
 *
 * When the job changes half the table or more (a sweep with most cards due),
 * keeping the two indexes the update touches up to date row by row costs
 * more than building them again.  Then the job runs as a large job
 * (cas_db_large_begin, large_objects below: what a change of its field
 * touches): the audit and the update scan card_state in serial order with
 * those indexes dropped, and they are created again right after it (one
 * sort per index; inside a caller's large job, at its end), in the same
 * transaction: nobody sees the table without them, and a failure rolls all
 * of it back.  Their definitions are read from the schema, so they come
 * back exactly as they were.  Measured on 1,000,000 cards all due, finish
 * dates spread over a year (bench_db): 9.8 s CPU row by row with the old
 * one-table layout, 3.3-3.7 s this way; with card_state apart, 1.3-1.5 s. */
struct bulk_job {
	const char *field;	/* audit field */
	const char *old_value;	/* ... its old value: an SQL expression */
	const char *where;	/* the selection; ?1 = the job's time */
	const char *where_scan;	/* the same, using no index (a table scan) */
	const char *order;	/* the order its index gives (the cheapest to read) */
	const char *set;	/* the change */
	const char *new_value;	/* ... for the audit */
	unsigned fields;	/* the card field it changes (large_objects: what it touches) */
};

/* The old status is the one the selection asks for: written as a constant,
 * the partial index alone answers the audit's query (status is not one of
 * its columns). */
static const struct bulk_job bulk_expire = {
	"status", "'1'",
	"status = 1 AND finish < ?1",
	"+status = 1 AND +finish < ?1",
	"finish, serial_no",
	"status = 2", "2", CAS_CARD_F_STATUS,
};

/* No index holds the expired cards (006_card_state): the selection scans
 * card_state, about 30 ms for 1,000,000 cards. */
static const struct bulk_job bulk_renew = {
	"status", "'2'",
	"+status = 2 AND +finish >= ?1",
	"+status = 2 AND +finish >= ?1",
	"serial_no",
	"status = 1", "1", CAS_CARD_F_STATUS,
};

static const struct bulk_job bulk_unblock = {
	"blocked_until", "CAST(blocked_until AS TEXT)",
	"blocked_until != 0 AND blocked_until <= ?1",
	"+blocked_until != 0 AND +blocked_until <= ?1",
	"blocked_until, serial_no",
	"blocked_until = 0", "0", CAS_CARD_F_BLOCKED,
};

/* From this many cards, and half the cards or more, the table scan and the
 * index rebuild.  Measured on 1,000,000 cards with finish dates spread over
 * a year, one table for all columns (CPU seconds, rebuild / row by row): a
 * quarter due 1.8 / 1.4, half 2.4 / 2.8, three quarters 2.8 / 4.6, all
 * 3.7 / 9.8. */
#define BULK_REBUILD_MIN 20000
#define BULK_REBUILD_SHARE 2
#define BULK_CACHE "-262144"	/* KiB: 256 MiB */

static void bulk_clear(struct cas_db *db)
{
	free(db->bulk);
	db->bulk = NULL;
	db->bulk_n = 0;
	db->bulk_hint = 0;
}

/* cas_bulk_n(serial): the card's place (1..k) in the running job's
 * selection sorted by serial, or NULL if it is not in it. */
static void bulk_n_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct cas_db *db = sqlite3_user_data(ctx);
	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER)
		return;
	sqlite3_int64 v = sqlite3_value_int64(argv[0]);
	size_t lo = 0, hi = db->bulk_n;
	/* A table scan asks for the serials in order: try the next one first. */
	if (db->bulk_hint < db->bulk_n && db->bulk[db->bulk_hint] == v) {
		sqlite3_result_int64(ctx, (sqlite3_int64)++db->bulk_hint);
		return;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (db->bulk[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < db->bulk_n && db->bulk[lo] == v) {
		db->bulk_hint = lo + 1;
		sqlite3_result_int64(ctx, (sqlite3_int64)(lo + 1));
	}
}

/* Sorts the serials: LSD radix sort, 8 bits a pass. */
static int bulk_sort(struct cas_db *db)
{
	size_t n = db->bulk_n;
	int sorted = 1;
	for (size_t i = 1; i < n && sorted; i++)
		sorted = db->bulk[i - 1] < db->bulk[i];
	if (sorted)
		return 0;
	uint32_t *tmp = malloc(n * sizeof *tmp);
	if (tmp == NULL)
		return seterr(db, "out of memory");
	uint32_t *a = db->bulk, *b = tmp;
	for (int shift = 0; shift < 32; shift += 8) {
		size_t pos[256] = { 0 };
		for (size_t i = 0; i < n; i++)
			pos[(a[i] >> shift) & 0xff]++;
		size_t sum = 0;
		for (int d = 0; d < 256; d++) {
			size_t c = pos[d];
			pos[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[pos[(a[i] >> shift) & 0xff]++] = a[i];
		uint32_t *x = a;
		a = b;
		b = x;
	}
	free(tmp);	/* after an even number of passes the serials are back in db->bulk */
	return 0;
}

/* Reads the job's selection into db->bulk, sorted by serial. */
static int bulk_select(struct cas_db *db, const struct bulk_job *job, int64_t t)
{
	sqlite3_stmt *s = NULL;
	char sql[300];
	size_t cap = 0;
	int rc, ret = -1;
	bulk_clear(db);
	snprintf(sql, sizeof sql, "SELECT serial_no FROM card_state WHERE %s ORDER BY %s", job->where,
		 job->order);
	if (sqlite3_prepare_v2(db->sql, sql, -1, &s, NULL) != SQLITE_OK)
		return sqlerr(db, "unable to read cards");
	sqlite3_bind_int64(s, 1, t);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (db->bulk_n == cap) {
			size_t ncap = cap ? 2 * cap : 4096;
			uint32_t *p = db->bulk_n < UINT32_MAX ? realloc(db->bulk, ncap * sizeof *p) : NULL;
			if (p == NULL) {
				seterr(db, "out of memory");
				goto out;
			}
			db->bulk = p;
			cap = ncap;
		}
		db->bulk[db->bulk_n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		sqlerr(db, "unable to read cards");
		goto out;
	}
	ret = bulk_sort(db);
out:
	sqlite3_finalize(s);
	return ret;
}

/* Prepares sql, binds ?1..?n from v and the texts txt[0..ntxt) after them
 * (NULL for a NULL pointer), runs it to the end.  *changes (may be NULL) gets the rows it changed. */
static int bulk_exec(struct cas_db *db, const char *sql, const int64_t *v, int n,
		     const char *const *txt, int ntxt, int64_t *changes, const char *what)
{
	sqlite3_stmt *s = NULL;
	int ret = 0;
	if (sqlite3_prepare_v2(db->sql, sql, -1, &s, NULL) != SQLITE_OK)
		return sqlerr(db, what);
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(s, i + 1, v[i]);
	for (int i = 0; i < ntxt; i++)
		if (txt[i])
			sqlite3_bind_text(s, n + i + 1, txt[i], -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		ret = sqlerr(db, what);
	else if (changes)
		*changes = sqlite3_changes64(db->sql);
	sqlite3_finalize(s);
	return ret;
}

/* DROP fails while another statement of the connection runs. */
static int other_statement_running(struct cas_db *db)
{
	for (sqlite3_stmt *st = sqlite3_next_stmt(db->sql, NULL); st; st = sqlite3_next_stmt(db->sql, st))
		if (sqlite3_stmt_busy(st))
			return 1;
	return 0;
}

static int bulk_update(struct cas_db *db, const struct bulk_job *job, int64_t t,
		       const struct cas_db_actor *who, int64_t *count)
{
	struct op op;
	char sql[600];
	int64_t n = 0, changes = 0, total = 0;
	int ret = -1, large = 0, own_job = 0;
	if (count)
		*count = 0;
	if (op_begin(db, &op) < 0)
		return -1;
	if (bulk_select(db, job, t) < 0)
		goto out;
	n = (int64_t)db->bulk_n;
	if (n == 0) {
		ret = 0;
		goto out;
	}
	if (n >= BULK_REBUILD_MIN && !other_statement_running(db)) {
		if (single_int64(db, ST_CARD_COUNT, &total, "unable to count cards") < 0)
			goto out;
		large = n * BULK_REBUILD_SHARE >= total;
	}
	int64_t stamp = now(db);
	int64_t last = seq_next(db, n);
	if (last < 0)
		goto out;

	/* The audit rows, appended in serial order: in a large job straight
	 * from a scan of card_state, else from the selection's index, sorted
	 * (+serial_no: not the scan of the whole table that would spare the
	 * sort).  ?1 = the job's time, then audit time, who, addr, field, new
	 * value. */
	snprintf(sql, sizeof sql, "INSERT INTO audit (time, who, addr, serial_no, field, old_value, "
		 "new_value, message) SELECT ?2, ?3, ?4, serial_no, ?5, %s, ?6, NULL FROM card_state "
		 "WHERE %s ORDER BY %s", job->old_value, large ? job->where_scan : job->where,
		 large ? "serial_no" : "+serial_no");
	const int64_t av[2] = { t, stamp };
	const char *const at[4] = { who && who->who ? who->who : "unknown",
				    who && who->addr && *who->addr ? who->addr : NULL, job->field,
				    job->new_value };
	if (bulk_exec(db, sql, av, 2, at, 4, &changes, "unable to write the audit log") < 0)
		goto out;
	if (changes != n) {
		seterr(db, "unable to write the audit log: %lld rows for %lld cards", (long long)changes,
		       (long long)n);
		goto out;
	}

	if (large) {
		/* A large job of its own (or the caller's): the indexes the
		 * change touches are set aside, the page cache
		 * grows for the rebuild. */
		if (db->large == NULL) {
			if (cas_db_large_begin(db) < 0)
				goto out;
			own_job = 1;
		}
		if (large_prepare(db, job->fields) < 0)
			goto out;
	}
	/* ?1 = the job's time, ?2 = change_no before the first; edited stays
	 * (cascron is not an edit: emmgd keeps a card on air off_days past
	 * its finish without it, cas_db_cards_on_air()) */
	snprintf(sql, sizeof sql, "UPDATE card_state SET %s, change_no = ?2 + cas_bulk_n(serial_no) "
		 "WHERE %s", job->set, large ? job->where_scan : job->where);
	const int64_t uv[2] = { t, last - n };
	if (bulk_exec(db, sql, uv, 2, NULL, 0, &changes, "unable to update cards") < 0)
		goto out;
	if (changes != n) {
		seterr(db, "unable to update cards: %lld of %lld changed", (long long)changes, (long long)n);
		goto out;
	}
	if (own_job) {
		own_job = 0;
		if (cas_db_large_end(db, 1) < 0)
			goto out;
	}
	ret = 0;
out:
	if (own_job)
		cas_db_large_end(db, 0);	/* op_end's rollback brings the schema back */
	bulk_clear(db);
	if (op_end(db, &op, ret == 0) < 0)
		ret = -1;
	if (ret == 0 && count)
		*count = n;
	return ret;
}

int cas_db_cards_expire(struct cas_db *db, int64_t t, const struct cas_db_actor *who,
			int64_t *count)
{
	return bulk_update(db, &bulk_expire, t, who, count);
}

int cas_db_cards_renew(struct cas_db *db, int64_t t, const struct cas_db_actor *who,
		       int64_t *count)
{
	return bulk_update(db, &bulk_renew, t, who, count);
}

int cas_db_cards_unblock(struct cas_db *db, int64_t t, const struct cas_db_actor *who,
			 int64_t *count)
{
	return bulk_update(db, &bulk_unblock, t, who, count);
}

/* What a large job sets aside, and the card fields whose change makes
 * each one work row by row (~0u: every write: change_no always changes;
 * LARGE_EDITED: every write but the bulk jobs'). */
static const struct {
	const char *name;
	unsigned fields;
} large_objects[] = {
	{ "cards_change_no", ~0u }, { "cards_edited", LARGE_EDITED },
	{ "cards_finish", CAS_CARD_F_FINISH },
	{ "cards_active_finish", CAS_CARD_F_FINISH | CAS_CARD_F_STATUS },
	{ "cards_blocked", CAS_CARD_F_BLOCKED },
};
#define LARGE_OBJECTS (sizeof large_objects / sizeof large_objects[0])

struct large_job {
	char *sql[LARGE_OBJECTS];	/* the definitions set aside */
	unsigned char seen[LARGE_OBJECTS];
	char cache[32];		/* the page cache size before the job */
};

/* The definition of index `name` on card_state, as the schema holds it
 * (sqlite3_malloc'ed; NULL when there is none).  Returns 0 or -1. */
static int schema_index(struct cas_db *db, const char *name, char **sql)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;
	*sql = NULL;
	if (sqlite3_prepare_v2(db->sql, "SELECT sql FROM sqlite_master WHERE tbl_name = 'card_state' "
			       "AND name = ?1 AND type = 'index' AND sql IS NOT NULL",
			       -1, &s, NULL) != SQLITE_OK)
		return sqlerr(db, "unable to read the schema");
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		ret = 0;
	} else if (rc != SQLITE_ROW) {
		sqlerr(db, "unable to read the schema");
	} else if ((*sql = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(s, 0))) == NULL) {
		seterr(db, "out of memory");
	} else {
		ret = 0;
	}
	sqlite3_finalize(s);
	return ret;
}

/* In a large job, sets aside what a change of `fields` would otherwise
 * maintain row by row: only those, so that the end rebuilds no index the
 * job did not touch.  Does nothing outside a job, or while another
 * statement runs (DROP would fail): the write then maintains them as
 * usual. */
static int large_prepare(struct cas_db *db, unsigned fields)
{
	struct large_job *lj = db->large;
	if (lj == NULL || other_statement_running(db))
		return 0;
	for (size_t i = 0; i < LARGE_OBJECTS; i++) {
		if (lj->seen[i] || !(large_objects[i].fields & fields))
			continue;
		lj->seen[i] = 1;
		/* The rebuild reads the whole table once per index: keep it in
		 * memory (only then: a first load that only inserts does not
		 * need the memory, and fresh pages cost a page fault each). */
		if (!lj->cache[0] &&
		    (pragma_text(db, "PRAGMA cache_size", lj->cache, sizeof lj->cache) < 0 ||
		     sqlite3_exec(db->sql, "PRAGMA cache_size = " BULK_CACHE, NULL, NULL, NULL) != SQLITE_OK))
			return sqlerr(db, "unable to update cards");
		if (schema_index(db, large_objects[i].name, &lj->sql[i]) < 0)
			return -1;
		if (lj->sql[i] == NULL)
			continue;	/* an operator dropped it */
		char *drop = sqlite3_mprintf("DROP INDEX main.\"%w\"", large_objects[i].name);
		int rc = drop ? sqlite3_exec(db->sql, drop, NULL, NULL, NULL) : SQLITE_NOMEM;
		sqlite3_free(drop);
		if (rc != SQLITE_OK) {
			sqlite3_free(lj->sql[i]);
			lj->sql[i] = NULL;
			return sqlerr(db, "unable to update cards");
		}
	}
	return 0;
}

int cas_db_large_begin(struct cas_db *db)
{
	if (!cas_db_in_transaction(db))
		return seterr(db, "internal: a large job outside a transaction");
	if (db->large != NULL)
		return 0;
	struct large_job *lj = calloc(1, sizeof *lj);
	if (lj == NULL)
		return seterr(db, "out of memory");
	db->large = lj;
	return 1;
}

int cas_db_large_end(struct cas_db *db, int keep)
{
	struct large_job *lj = db->large;
	int ret = 0;
	if (lj == NULL)
		return 0;
	db->large = NULL;
	for (size_t i = 0; i < LARGE_OBJECTS; i++) {
		char *sql = NULL;
		/* One a rollback to a savepoint brought back is there already. */
		if (keep && ret == 0 && lj->sql[i]) {
			if (schema_index(db, large_objects[i].name, &sql) < 0)
				ret = -1;
			else if (sql == NULL && sqlite3_exec(db->sql, lj->sql[i], NULL, NULL, NULL) != SQLITE_OK)
				ret = sqlerr(db, "unable to update cards");
		}
		sqlite3_free(sql);
		sqlite3_free(lj->sql[i]);
	}
	if (lj->cache[0]) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", atoi(lj->cache));
		sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
	}
	free(lj);
	return ret;
}

/* ---- generators ---- */

static const char *kind_name(enum cas_gen_kind k)
{
	return k == CAS_GEN_ECMG ? "ecmg" : k == CAS_GEN_EMMG ? "emmg" : NULL;
}

static int gen_check(struct cas_db *db, const struct cas_generator *g)
{
	if (kind_name(g->kind) == NULL)
		return seterr(db, "generator %s: unknown kind %d", g->name, (int)g->kind);
	if (!text_ok(g->name, sizeof g->name) || g->name[0] == '\0')
		return seterr(db, "generator: name missing or too long");
	if (!text_ok(g->peer, sizeof g->peer) || !text_ok(g->state, sizeof g->state) ||
	    !text_ok(g->settings, sizeof g->settings))
		return seterr(db, "generator %s: text field too long", g->name);
	return 0;
}

int cas_db_gen_upsert(struct cas_db *db, const struct cas_generator *g)
{
	struct stmt_ref r;
	if (gen_check(db, g) < 0 || acquire(db, ST_GEN_UPSERT, &r) < 0)
		return -1;
	sqlite3_bind_text(r.s, 1, kind_name(g->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 2, g->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 3, g->peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 4, g->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 5, g->settings, -1, SQLITE_STATIC);
	const int64_t nums[] = { g->pid, g->started, g->last_seen, now(db), g->channels, g->streams,
				 g->cw_provisions, g->ecms, g->emms, g->bytes, g->errors,
				 g->queue_len, g->cycle_ms, g->bandwidth };
	for (int i = 0; i < (int)(sizeof nums / sizeof nums[0]); i++)
		sqlite3_bind_int64(r.s, 6 + i, nums[i]);
	int ret = 0;
	if (sqlite3_step(r.s) != SQLITE_DONE)
		ret = sqlerr(db, "unable to write a generator record");
	release(db, &r);
	return ret;
}

int cas_db_gen_update_counters(struct cas_db *db, const struct cas_generator *g)
{
	struct stmt_ref r;
	if (gen_check(db, g) < 0 || acquire(db, ST_GEN_COUNTERS, &r) < 0)
		return -1;
	sqlite3_bind_text(r.s, 1, kind_name(g->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 2, g->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 3, g->state, -1, SQLITE_STATIC);
	const int64_t nums[] = { g->last_seen, now(db), g->channels, g->streams, g->cw_provisions,
				 g->ecms, g->emms, g->bytes, g->errors, g->queue_len, g->cycle_ms,
				 g->bandwidth };
	for (int i = 0; i < (int)(sizeof nums / sizeof nums[0]); i++)
		sqlite3_bind_int64(r.s, 4 + i, nums[i]);
	int ret = 0;
	if (sqlite3_step(r.s) != SQLITE_DONE)
		ret = sqlerr(db, "unable to write generator counters");
	else if (sqlite3_changes(db->sql) == 0)
		ret = CAS_DB_NOTFOUND, seterr(db, "generator %s %s not found", kind_name(g->kind), g->name);
	release(db, &r);
	return ret;
}

static void row_gen(sqlite3_stmt *s, struct cas_generator *g)
{
	memset(g, 0, sizeof *g);
	const unsigned char *k = sqlite3_column_text(s, 0);
	g->kind = k && strcmp((const char *)k, "ecmg") == 0 ? CAS_GEN_ECMG : CAS_GEN_EMMG;
	copy_text(g->name, sizeof g->name, s, 1);
	copy_text(g->peer, sizeof g->peer, s, 2);
	copy_text(g->state, sizeof g->state, s, 3);
	copy_text(g->settings, sizeof g->settings, s, 4);
	int64_t *nums[] = { &g->pid, &g->started, &g->last_seen, &g->updated, &g->channels,
			    &g->streams, &g->cw_provisions, &g->ecms, &g->emms, &g->bytes,
			    &g->errors, &g->queue_len, &g->cycle_ms, &g->bandwidth };
	for (int i = 0; i < (int)(sizeof nums / sizeof nums[0]); i++)
		*nums[i] = sqlite3_column_int64(s, 5 + i);
}

int cas_db_gen_get(struct cas_db *db, enum cas_gen_kind kind, const char *name,
		   struct cas_generator *out)
{
	struct stmt_ref r;
	if (kind_name(kind) == NULL)
		return seterr(db, "generator %s: unknown kind %d", name, (int)kind);
	if (acquire(db, ST_GEN_GET, &r) < 0)
		return -1;
	sqlite3_bind_text(r.s, 1, kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(r.s);
	int ret = 0;
	if (rc == SQLITE_ROW)
		row_gen(r.s, out);
	else if (rc == SQLITE_DONE)
		ret = CAS_DB_NOTFOUND, seterr(db, "generator %s %s not found", kind_name(kind), name);
	else
		ret = sqlerr(db, "unable to read a generator record");
	release(db, &r);
	return ret;
}

int cas_db_gen_delete(struct cas_db *db, enum cas_gen_kind kind, const char *name)
{
	struct stmt_ref r;
	if (kind_name(kind) == NULL)
		return seterr(db, "generator %s: unknown kind %d", name, (int)kind);
	if (acquire(db, ST_GEN_DELETE, &r) < 0)
		return -1;
	sqlite3_bind_text(r.s, 1, kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(r.s, 2, name, -1, SQLITE_STATIC);
	int ret = 0;
	if (sqlite3_step(r.s) != SQLITE_DONE)
		ret = sqlerr(db, "unable to delete a generator record");
	else if (sqlite3_changes(db->sql) == 0)
		ret = CAS_DB_NOTFOUND, seterr(db, "generator %s %s not found", kind_name(kind), name);
	release(db, &r);
	return ret;
}

int cas_db_gen_each(struct cas_db *db, cas_db_gen_fn *cb, void *ctx)
{
	struct stmt_ref r;
	struct cas_generator g;
	int ret = 0;
	if (acquire(db, ST_GEN_EACH, &r) < 0)
		return -1;
	for (;;) {
		int rc = sqlite3_step(r.s);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ret = sqlerr(db, "unable to read generator records");
			break;
		}
		row_gen(r.s, &g);
		ret = cb(ctx, &g);
		if (ret != 0)
			break;
	}
	release(db, &r);
	return ret;
}

/* ---- audit ---- */

int cas_db_audit_add(struct cas_db *db, const struct cas_audit *a)
{
	struct cas_db_actor who = { a->who, a->addr };
	if (a->who == NULL || a->who[0] == '\0')
		return seterr(db, "audit: who is missing");
	return audit_row(db, &who, a->time ? a->time : now(db), a->has_serial, a->serial_no,
			 a->field, a->old_value, a->new_value, a->message);
}

static const char *col_text(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

int cas_db_audit_each(struct cas_db *db, int64_t after_id, int serial_filter, uint32_t serial,
		      cas_db_audit_fn *cb, void *ctx)
{
	struct stmt_ref r;
	int ret = 0;
	if (acquire(db, serial_filter ? ST_AUDIT_EACH_SERIAL : ST_AUDIT_EACH, &r) < 0)
		return -1;
	sqlite3_bind_int64(r.s, 1, after_id);
	if (serial_filter)
		sqlite3_bind_int64(r.s, 2, serial);
	for (;;) {
		int rc = sqlite3_step(r.s);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ret = sqlerr(db, "unable to read the audit log");
			break;
		}
		struct cas_audit a;
		a.id = sqlite3_column_int64(r.s, 0);
		a.time = sqlite3_column_int64(r.s, 1);
		a.who = col_text(r.s, 2);
		a.addr = col_text(r.s, 3);
		a.has_serial = sqlite3_column_type(r.s, 4) != SQLITE_NULL;
		a.serial_no = (uint32_t)sqlite3_column_int64(r.s, 4);
		a.field = col_text(r.s, 5);
		a.old_value = col_text(r.s, 6);
		a.new_value = col_text(r.s, 7);
		a.message = col_text(r.s, 8);
		ret = cb(ctx, &a);
		if (ret != 0)
			break;
	}
	release(db, &r);
	return ret;
}

int cas_db_audit_purge(struct cas_db *db, int64_t t, int keep_days, int64_t *deleted)
{
	struct stmt_ref r;
	if (deleted)
		*deleted = 0;
	if (acquire(db, ST_AUDIT_PURGE, &r) < 0)
		return -1;
	sqlite3_bind_int64(r.s, 1, t - (int64_t)keep_days * 86400);
	int ret = 0;
	if (sqlite3_step(r.s) != SQLITE_DONE)
		ret = sqlerr(db, "unable to purge the audit log");
	else if (deleted)
		*deleted = sqlite3_changes64(db->sql);
	release(db, &r);
	return ret;
}

/* ---- settings ---- */

int cas_db_setting_get(struct cas_db *db, const char *key, char *out, size_t size)
{
	struct stmt_ref r;
	if (size > 0)
		out[0] = '\0';
	if (acquire(db, ST_SET_GET, &r) < 0)
		return -1;
	sqlite3_bind_text(r.s, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(r.s);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(r.s, 0);
		size_t n = (size_t)sqlite3_column_bytes(r.s, 0);
		if (n >= size)
			ret = seterr(db, "setting %s: value longer than %zu bytes", key, size ? size - 1 : 0);
		else {
			memcpy(out, v ? (const char *)v : "", n);
			out[n] = '\0';
		}
	} else if (rc == SQLITE_DONE) {
		ret = CAS_DB_NOTFOUND;
		seterr(db, "setting %s not found", key);
	} else {
		ret = sqlerr(db, "unable to read a setting");
	}
	release(db, &r);
	return ret;
}

int cas_db_setting_set(struct cas_db *db, const char *key, const char *value)
{
	struct stmt_ref r;
	if (acquire(db, value ? ST_SET_PUT : ST_SET_DEL, &r) < 0)
		return -1;
	sqlite3_bind_text(r.s, 1, key, -1, SQLITE_STATIC);
	if (value) {
		sqlite3_bind_text(r.s, 2, value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(r.s, 3, now(db));
	}
	int ret = 0;
	if (sqlite3_step(r.s) != SQLITE_DONE)
		ret = sqlerr(db, "unable to write a setting");
	release(db, &r);
	return ret;
}

/* ---- backup ---- */

int cas_db_backup(struct cas_db *db, const char *path)
{
	char tmp[4200];
	sqlite3 *dst = NULL;
	int ret = -1;
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return seterr(db, "unable to back up to %s: path too long", path);
	if (cas_fs_mkdir_parent(path, db->err, sizeof db->err) < 0)
		return -1;
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return seterr(db, "unable to back up to %s: %s", tmp, strerror(errno));
	close(fd);
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		seterr(db, "unable to back up to %s: %s", tmp, dst ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", db->sql, "main");
	if (b == NULL) {
		seterr(db, "unable to back up to %s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	/* One step copies every page within one read transaction of the
	 * source: a consistent snapshot, and WAL lets writers go on. */
	int rc;
	do {
		rc = sqlite3_backup_step(b, -1);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(20);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		seterr(db, "unable to back up to %s: %s", tmp, sqlite3_errstr(rc));
		goto out;
	}
	/* The copy is one self-contained file, not a WAL database. */
	if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		seterr(db, "unable to back up to %s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	if (sqlite3_close(dst) != SQLITE_OK) {
		seterr(db, "unable to back up to %s: %s", tmp, sqlite3_errmsg(dst));
		dst = NULL;
		goto out;
	}
	dst = NULL;
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		seterr(db, "unable to back up to %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		seterr(db, "unable to back up to %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (dst)
		sqlite3_close(dst);
	if (ret < 0)
		unlink(tmp);
	return ret;
}
