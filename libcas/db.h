#ifndef CAS_DB_H
#define CAS_DB_H
/*
 * The FreeCAS database: one SQLite file (config `db`) shared by ecmgd,
 * emmgd, casapid, cascron and casprog.  Schema: schema/NNN_*.sql.
 *
 * - cas_db_open() creates the file (and its folder) with the schema if it is
 *   missing, and applies the numbered migrations compiled into libcas
 *   (schema.h).  WAL journal, so readers never block the writer; a busy
 *   timeout, so two writers queue instead of failing.
 * - Card keys are wrapped with the master key (mkey.h) on their way in and
 *   unwrapped on their way out: struct cas_card holds the plain key, the
 *   file never does.  Wipe cards you are done with (cas_card_wipe).
 * - Every change of a card (insert, update, delete) takes the next number of
 *   one sequence, the card's change_no; a deletion leaves a tombstone with
 *   its change_no.  emmgd follows the sequence with
 *   cas_db_cards_changed_since().  Numbers are drawn under SQLite's one
 *   write lock, so they commit in order: a reader that sees change N also
 *   sees every change before N (no gap is ever filled in later).
 * - Every change made through this API writes audit rows: who (api, csv,
 *   cron, casprog, ...), from where, which card, which field, old -> new.
 *   Card keys never appear in the audit (the row says "key replaced").
 *
 * Conventions: functions return 0 on success and -1 on failure, with the
 * reason in cas_db_errmsg(), e.g.
 *   "unable to open database ./var/cas.db: unable to open database file"
 * Lookups return CAS_DB_NOTFOUND (1) for a missing card, inserts
 * CAS_DB_EXISTS (2) for a serial already taken; neither is logged.
 * One struct cas_db is one connection: use it from one thread at a time.
 * No function here keeps global state.
 *
 * Transactions: every write function is atomic on its own (it runs in its
 * own transaction, or in a savepoint inside yours).  Group several calls with
 * cas_db_begin() / cas_db_commit() (or cas_db_rollback()) to make them one
 * change, e.g. casapid's get + update, or a CSV import.  cas_db_begin()
 * takes the write lock at once (BEGIN IMMEDIATE), waiting up to the busy
 * timeout for another writer to finish.
 *
 * Iterators call a callback once per row, all rows from one read snapshot;
 * the callback returns 0 to go on, or any other value to stop, and the
 * iterator then returns that value.  A card whose key does not unwrap is
 * logged (cas_log error) and skipped, so one damaged row cannot stop the EMM
 * carousel; cas_db_card_get() of that card fails instead.  A
 * callback may read (cas_db_card_get, ...) but must not change cards: collect
 * the serials and change them after the iteration (or use the cascron
 * helpers below, which do exactly that).
 */
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "mkey.h"

#define CAS_DB_NOTFOUND 1
#define CAS_DB_EXISTS 2

/* Card status values (cards.status). */
#define CAS_CARD_DISABLED 0	/* switched off by the operator */
#define CAS_CARD_ACTIVE 1
#define CAS_CARD_EXPIRED 2	/* set by cascron once finish has passed */

/* Card type values (cards.type): anti-sharing protection, as in TVCAS 3. */
#define CAS_CARD_PROTECT_ON 1
#define CAS_CARD_PROTECT_OFF 2

/* Text field sizes, with the terminating NUL (the database enforces the
 * same limits in bytes). */
#define CAS_CARD_NAME_SIZE 256		/* name: up to 255 bytes of UTF-8 */
#define CAS_CARD_INFO_SIZE 1024		/* info: up to 1023 bytes */
#define CAS_CARD_PAIR_HOST_SIZE 65	/* pair_host: up to 64 bytes */

struct cas_card {
	uint32_t serial_no;	/* TVCAS range 2100000000..2109999999; any u32 accepted */
	char name[CAS_CARD_NAME_SIZE];
	char info[CAS_CARD_INFO_SIZE];
	uint8_t key[CAS_CARD_KEY_SIZE];	/* the card key, in clear in memory only */
	uint32_t access_criteria;	/* package mask (TVCAS: 8 hex digits) */
	int pair;			/* 0 or 1 */
	char pair_host[CAS_CARD_PAIR_HOST_SIZE];	/* binding, "" = none (NULL in the DB) */
	int type;			/* CAS_CARD_PROTECT_ON / _OFF */
	int64_t start, finish;		/* subscription window, Unix seconds, 0..2^32-1 */
	int status;			/* CAS_CARD_DISABLED / _ACTIVE / _EXPIRED */
	int64_t blocked_until;		/* 0 = not blocked */
	int64_t created, edited;	/* set by the library */
	int64_t change_no;		/* set by the library */
};

/* Field bits for cas_db_card_update(): which fields of the struct to write.
 * serial_no never changes (it is the card's identity); created, edited and
 * change_no are the library's. */
#define CAS_CARD_F_NAME		0x0001u
#define CAS_CARD_F_INFO		0x0002u
#define CAS_CARD_F_KEY		0x0004u
#define CAS_CARD_F_AC		0x0008u	/* access_criteria */
#define CAS_CARD_F_PAIR		0x0010u
#define CAS_CARD_F_PAIR_HOST	0x0020u
#define CAS_CARD_F_TYPE		0x0040u
#define CAS_CARD_F_START	0x0080u
#define CAS_CARD_F_FINISH	0x0100u
#define CAS_CARD_F_STATUS	0x0200u
#define CAS_CARD_F_BLOCKED	0x0400u	/* blocked_until */
#define CAS_CARD_F_ALL		0x07ffu

/* Who makes a change, for the audit log. */
struct cas_db_actor {
	const char *who;	/* "api", "csv", "cron", "casprog", "admin", ... */
	const char *addr;	/* client address ("192.0.2.7"), or NULL */
};

struct cas_db_options {
	int busy_timeout_ms;	/* how long a writer waits for another; 0 = 5000 */
	int create;		/* create a missing database (else fail) */
};

struct cas_db;

typedef int64_t cas_db_clock_fn(void *ctx);

/* ---- opening, closing, errors ---------------------------------------- */

/* Opens (creating with the schema when opt->create, or opt NULL) and
 * migrates the database at `path`, checking that `mk` is the master key it
 * was created with.  Returns 0, or -1; in both cases *out is a handle (NULL
 * only when out of memory) that holds the error for cas_db_errmsg() and
 * must be given to cas_db_close().  Messages:
 *   "unable to open database PATH: REASON"
 *   "unable to create folder DIR: REASON"
 *   "database PATH has schema version 7, newer than this program (3)"
 *   "master key does not match database PATH (was it created with another master key?)" */
int cas_db_open(struct cas_db **out, const char *path, const struct cas_mkey *mk,
		const struct cas_db_options *opt);

/* Closes the connection and wipes the key copy.  NULL is allowed. */
void cas_db_close(struct cas_db *db);

/* The last error ("out of memory" for a NULL handle). */
const char *cas_db_errmsg(const struct cas_db *db);

/* What a program does after reading its configuration: loads (creating on
 * first run) the master key of `master_key`, opens (creating) the database
 * of `db` with `db.busy_timeout`.  Refuses to create a new master key next
 * to an existing database.  On failure logs one fatal line and returns -1
 * (the program then exits 111). */
int cas_db_start(const struct cas_conf *conf, struct cas_db **out);

/* The clock used for created/edited/audit times (default: time(NULL)).
 * For tests and for tools that replay history. */
void cas_db_set_clock(struct cas_db *db, cas_db_clock_fn *fn, void *ctx);

/* The schema version of the open database (after migration: the latest). */
int cas_db_schema_version(struct cas_db *db, int *version);

/* The raw SQLite handle, for tests and for read-only reports. */
struct sqlite3 *cas_db_sqlite(struct cas_db *db);

/* ---- transactions ----------------------------------------------------- */

int cas_db_begin(struct cas_db *db);	/* BEGIN IMMEDIATE; -1 if one is open */
int cas_db_commit(struct cas_db *db);
int cas_db_rollback(struct cas_db *db);	/* no-op when none is open */
int cas_db_in_transaction(const struct cas_db *db);

/* ---- cards ------------------------------------------------------------ */

/* Checks the ranges the database enforces (pair 0/1, type 1/2, status 0-2,
 * start/finish 0..2^32-1, blocked_until >= 0, text lengths).  Returns 0, or
 * -1 with "card N: reason" in why. */
int cas_card_validate(const struct cas_card *c, char *why, size_t whysize);

/* Wipes a card from memory (its key above all). */
void cas_card_wipe(struct cas_card *c);

/* Inserts one card.  created = c->created if non-zero, else now; edited =
 * now; change_no drawn from the sequence; all three written back into *c on
 * success (on failure *c is untouched).  One audit row "card created".
 * CAS_DB_EXISTS if the serial is taken. */
int cas_db_card_insert(struct cas_db *db, struct cas_card *c, const struct cas_db_actor *who);

/* Inserts n cards in one transaction (all or none): the fast path for
 * issuing cards and imports (1,000,000 cards in about 5 s, see
 * test/bench/bench_db.c; call it with batches of ~10,000 inside
 * cas_db_begin/commit to bound memory).  The keys are checked and wrapped
 * before the write lock is taken.  Consecutive change numbers.  One
 * audit row "N cards created (first..last)".  A taken serial makes it fail
 * with CAS_DB_EXISTS and nothing written; the message names the serial.
 * Writes created/edited/change_no back on success only. */
int cas_db_cards_insert(struct cas_db *db, struct cas_card *cards, size_t n,
			const struct cas_db_actor *who);

/* Reads one card without its key (out->key all zero, the key stays
 * wrapped): for readers that never use it, such as the billing API.  Cheaper
 * than cas_db_card_get (no decryption).  CAS_DB_NOTFOUND if there is none. */
int cas_db_card_get_info(struct cas_db *db, uint32_t serial, struct cas_card *out);

/* Reads one card (key unwrapped).  CAS_DB_NOTFOUND if there is none; -1 if
 * its key does not unwrap (message "card N: key does not unwrap ..."). */
int cas_db_card_get(struct cas_db *db, uint32_t serial, struct cas_card *out);

/* Writes the fields named by `fields` (CAS_CARD_F_*) from c to card
 * c->serial_no, in one transaction: the other fields keep the values they
 * have in the database at that moment.  Each field whose value really
 * changes gets one audit row (old -> new; for the key only "key replaced");
 * if any changed, edited = now and the card takes a new change_no.  Then *c
 * is refreshed from the row (all fields).  *changed (may be NULL) gets the
 * number of fields changed; 0 means nothing was written.  Returns 0,
 * CAS_DB_NOTFOUND, or -1 (also for a value out of range: "card N: reason"). */
int cas_db_card_update(struct cas_db *db, struct cas_card *c, unsigned fields,
		       const struct cas_db_actor *who, int *changed);

/* Many updates at once: what cas_db_card_update() would do for cards[0],
 * cards[1], ... in turn with the same fields (the same audit rows in the
 * same order, change numbers in that order, edited = now), in one
 * transaction (or a savepoint of the caller's), written by one statement
 * per table: what an import of a large CSV file needs (1,000,000 changed
 * cards: 16.7 s one call per card, 5.0-5.4 s in batches of 4,096; the
 * current rows are read by one statement per batch too).  result[i] gets the number of fields of
 * cards[i] that changed (0: unchanged), or -1 when there is no such card
 * (nothing is done for it; the caller decides).  renew_from > 0: a card that is expired and
 * whose finish (new or kept) is not before renew_from becomes active, the
 * status change audited like any field (the renewal rule of
 * cas_db_cards_renew(), applied as billing's rows come in).  cards[] is not
 * changed.  Returns 0, or -1 with nothing written (a value out of range:
 * "card N: reason"). */
int cas_db_cards_update(struct cas_db *db, const struct cas_card *cards, size_t n, unsigned fields,
			int64_t renew_from, const struct cas_db_actor *who, int *result);

/* A large job in the caller's transaction (an import that rewrites most of
 * the table): cas_db_large_begin() sets the indexes on card_state aside
 * (with a 256 MiB page cache for the rebuild), so that
 * the cas_db_cards_update() calls that follow do not maintain them row by
 * row (only those their changes touch are set aside; inserts keep the
 * others up to date: for new cards in serial order that is appending);
 * cas_db_large_end(db, 1) creates them again from their definitions, in
 * the same transaction, before the commit (one sort per index, much cheaper
 * past half the table: bulk_update() in db.c has the figures).  Nobody
 * else sees the table without them; a rollback brings them back as they
 * were (then call cas_db_large_end(db, 0) to forget them).  Begin returns
 * 1 when it set them aside, 0 when it did nothing (one job already runs, or
 * another statement of the connection is running), -1 on failure; end
 * returns 0 or -1 (the transaction must then be rolled back). */
int cas_db_large_begin(struct cas_db *db);
int cas_db_large_end(struct cas_db *db, int keep);

/* Gives a card a new change_no (and edited = now) without changing it, so
 * emmgd sends its EMM again soon.  Audit row "touched: REASON". */
int cas_db_card_touch(struct cas_db *db, uint32_t serial, const struct cas_db_actor *who,
		      const char *reason);

/* Deletes a card; leaves a tombstone in the change sequence; audit row
 * "card deleted".  CAS_DB_NOTFOUND if there is none. */
int cas_db_card_delete(struct cas_db *db, uint32_t serial, const struct cas_db_actor *who);

/* Number of cards. */
int cas_db_card_count(struct cas_db *db, int64_t *count);

/* The highest serial in use in [first, last] (casprog hands out the next
 * one), or CAS_DB_NOTFOUND when the range is empty. */
int cas_db_card_max_serial(struct cas_db *db, uint32_t first, uint32_t last, uint32_t *out);

typedef int cas_db_card_fn(void *ctx, const struct cas_card *card);
typedef int cas_db_deleted_fn(void *ctx, uint32_t serial, int64_t change_no);

/* Every card, by serial. */
int cas_db_cards_each(struct cas_db *db, cas_db_card_fn *cb, void *ctx);

/* Cards with serial in [first, last], by serial (emmgd shards by range). */
int cas_db_cards_range(struct cas_db *db, uint32_t first, uint32_t last,
		       cas_db_card_fn *cb, void *ctx);

/* The highest change_no handed out so far (0 on a new database).  A reader
 * that has seen every change up to it needs only changes after it. */
int cas_db_change_max(struct cas_db *db, int64_t *out);

/* Changes after change_no `after`, in change_no order: cards inserted or
 * updated (cb) and cards deleted (on_deleted, may be NULL), one read
 * snapshot.  A card changed twice is reported once, with its latest state.
 * Keep the largest change_no seen and ask again with it. */
int cas_db_cards_changed_since(struct cas_db *db, int64_t after,
			       cas_db_card_fn *cb, cas_db_deleted_fn *on_deleted, void *ctx);

/* Cards "on air" at time `now` for the EMM carousel: finish or edited
 * within the last off_days days or later (a current or future
 * subscription; a card that expired lately, or whose finish was moved into
 * the past, still gets the EMM that tells it: tvcas3.md §3.4, §8).  Status is not filtered: emmgd decides
 * what a disabled or blocked card's EMM says.  Ordered by edited, newest
 * first (changed cards go on air first; no order among equal times). */
int cas_db_cards_on_air(struct cas_db *db, int64_t now, int off_days,
			cas_db_card_fn *cb, void *ctx);

/* Active cards whose finish < now (cascron's expiry), by finish. */
int cas_db_cards_expired(struct cas_db *db, int64_t now, cas_db_card_fn *cb, void *ctx);

/* Cards with a block that has ended: 0 < blocked_until <= now. */
int cas_db_cards_block_ended(struct cas_db *db, int64_t now, cas_db_card_fn *cb, void *ctx);

/* cascron's jobs, each one transaction: set status EXPIRED on every active
 * card whose finish < now; set status ACTIVE again on every expired card
 * whose finish >= now (its subscription was extended after it expired);
 * clear blocked_until on every card whose block has ended.  Audited like
 * updates (one row per card: field, old -> new; edited is not changed), and
 * each card changed takes a new change_no (drawn in serial order, the
 * audit rows in the same order), so emmgd sends its new state.  Set-based:
 * a sweep over a million cards is a few statements on card_state.  A job
 * that changes half the cards or more drops the indexes it touches and
 * creates them again, within its own
 * transaction (or savepoint): the schema is the same afterwards, but its
 * version number moves, and it is not done while another statement of this
 * connection runs (an iterator's callback).  *count (may be NULL) gets the
 * number of cards changed. */
int cas_db_cards_expire(struct cas_db *db, int64_t now, const struct cas_db_actor *who,
			int64_t *count);
int cas_db_cards_renew(struct cas_db *db, int64_t now, const struct cas_db_actor *who,
		       int64_t *count);
int cas_db_cards_unblock(struct cas_db *db, int64_t now, const struct cas_db_actor *who,
			 int64_t *count);

/* ---- generators (ecmgd, emmgd) --------------------------------------- */

enum cas_gen_kind { CAS_GEN_ECMG = 1, CAS_GEN_EMMG = 2 };

struct cas_generator {
	enum cas_gen_kind kind;
	char name[128];		/* unique per kind, chosen by the daemon */
	char peer[300];		/* SCS / MUX address */
	char state[32];		/* "connecting", "running", "closed", ... */
	char settings[1024];	/* "key=value ..." */
	int64_t pid, started, last_seen, updated;
	int64_t channels, streams;
	int64_t cw_provisions, ecms, emms, bytes, errors;
	int64_t queue_len, cycle_ms, bandwidth;
};

/* Inserts or replaces the whole record (kind, name) and sets updated = now. */
int cas_db_gen_upsert(struct cas_db *db, const struct cas_generator *g);

/* Writes only the live part of (kind, name): state, last_seen, channels,
 * streams and the counters, updated = now.  CAS_DB_NOTFOUND if there is no
 * such record (upsert it first). */
int cas_db_gen_update_counters(struct cas_db *db, const struct cas_generator *g);

int cas_db_gen_get(struct cas_db *db, enum cas_gen_kind kind, const char *name,
		   struct cas_generator *out);	/* or CAS_DB_NOTFOUND */
int cas_db_gen_delete(struct cas_db *db, enum cas_gen_kind kind, const char *name);

typedef int cas_db_gen_fn(void *ctx, const struct cas_generator *g);
int cas_db_gen_each(struct cas_db *db, cas_db_gen_fn *cb, void *ctx);	/* by kind, name */

/* ---- audit log -------------------------------------------------------- */

struct cas_audit {
	int64_t id;		/* set by the database */
	int64_t time;		/* 0 = now */
	const char *who;	/* required */
	const char *addr;	/* NULL = none */
	int has_serial;
	uint32_t serial_no;
	const char *field, *old_value, *new_value, *message;	/* NULL = none */
};

/* Adds one row (for events the card functions do not record themselves:
 * an API key refused, an import, a backup, ...). */
int cas_db_audit_add(struct cas_db *db, const struct cas_audit *a);

typedef int cas_db_audit_fn(void *ctx, const struct cas_audit *a);

/* Rows with id > after_id, oldest first; only card `serial` unless
 * serial_filter is 0.  The strings in *a live until the callback returns. */
int cas_db_audit_each(struct cas_db *db, int64_t after_id, int serial_filter, uint32_t serial,
		      cas_db_audit_fn *cb, void *ctx);

/* Deletes rows older than keep_days days before now; *deleted (may be NULL)
 * gets their number. */
int cas_db_audit_purge(struct cas_db *db, int64_t now, int keep_days, int64_t *deleted);

/* ---- settings --------------------------------------------------------- */

/* Free key/value pairs shared by the programs (e.g. emmgd's reload flag).
 * Keys starting with "db." belong to this library (db.master_key_check). */

/* Copies the value of `key` into out.  Returns 0, CAS_DB_NOTFOUND, or -1
 * (also when the value does not fit). */
int cas_db_setting_get(struct cas_db *db, const char *key, char *out, size_t size);
/* Sets (value non-NULL) or removes (NULL) a setting. */
int cas_db_setting_set(struct cas_db *db, const char *key, const char *value);

/* ---- maintenance ------------------------------------------------------ */

/* A consistent copy of the whole database into the file `path` (SQLite
 * online backup: other connections go on writing meanwhile).  Written to
 * PATH.tmp (0600), synced, then renamed over `path`.  The copy holds wrapped
 * keys only: keep the master key to restore it. */
int cas_db_backup(struct cas_db *db, const char *path);

#endif
