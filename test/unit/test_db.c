/* The SQLite access layer (libcas/db.c): schema, migrations, cards, change
 * sequence, audit, generators, settings, transactions, backup.  Checks rows
 * in the file through a raw sqlite3 connection, not only through the API. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "mkey.h"
#include "schema.h"

#define T0 1735689600LL	/* 2025-01-01 00:00:00 UTC */
#define DAY 86400LL

struct fx {
	char dir[64];
	char path[160];
	struct cas_mkey mk;
	int64_t clock;
	struct cas_db *db;
};

static int64_t fake_clock(void *ctx)
{
	return *(int64_t *)ctx;
}

static const struct cas_db_actor api = { "api", "192.0.2.7" };
static const struct cas_db_actor cron = { "cron", NULL };
static const struct cas_db_actor casprog = { "casprog", NULL };

static void master_bytes(uint8_t m[32], uint8_t seed)
{
	for (int i = 0; i < 32; i++)
		m[i] = (uint8_t)(seed + 7 * i);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	uint8_t m[32];
	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/test_db.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/var/lib/cas.db", f->dir);
	master_bytes(m, 1);
	if (cas_mkey_from_bytes(&f->mk, m) < 0)
		return -1;
	f->clock = T0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];
	cas_db_close(f->db);
	cas_mkey_clear(&f->mk);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct cas_db *open_db(struct fx *f)
{
	struct cas_db *db = NULL;
	int r = cas_db_open(&db, f->path, &f->mk, NULL);
	if (r != 0)
		fail_msg("cas_db_open: %s", cas_db_errmsg(db));
	cas_db_set_clock(db, fake_clock, &f->clock);
	return db;
}

static void make_card(struct cas_card *c, uint32_t serial)
{
	memset(c, 0, sizeof *c);
	c->serial_no = serial;
	snprintf(c->name, sizeof c->name, "Subscriber %u", serial);
	snprintf(c->info, sizeof c->info, "flat %u", serial % 1000);
	for (int i = 0; i < 16; i++)
		c->key[i] = (uint8_t)(serial * 31 + (uint32_t)i * 17 + 0x5A);
	c->access_criteria = 0x0000000F;
	c->pair = 0;
	c->type = CAS_CARD_PROTECT_ON;
	c->start = T0 - 10 * DAY;
	c->finish = T0 + 30 * DAY;
	c->status = CAS_CARD_ACTIVE;
}

/* Raw SQL helpers on a connection of their own. */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *s = NULL;
	assert_int_equal(sqlite3_open_v2(path, &s, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(s, 2000);
	return s;
}

static int64_t q_int(sqlite3 *s, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(s));
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		fail_msg("no row for %s (%d: %s)", sql, rc, sqlite3_errmsg(s));
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void q_text(sqlite3 *s, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(s));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("no row for %s", sql);
	const unsigned char *t = sqlite3_column_text(st, 0);
	snprintf(out, size, "%s", t ? (const char *)t : "(null)");
	sqlite3_finalize(st);
}

/* The details of EXPLAIN QUERY PLAN, joined. */
static void q_plan(sqlite3 *s, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;
	char q[600];
	snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(s, q, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", q, sqlite3_errmsg(s));
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		size_t n = strlen(out);
		snprintf(out + n, size - n, "%s; ", (const char *)sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
}

static void q_exec(sqlite3 *s, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(s, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("exec %s: %s", sql, err);
}

/* ---- schema and opening ---- */

static void test_open_creates_schema(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char buf[64];
	umask(022);
	f->db = open_db(f);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);	/* subscriber data */

	int v = 0;
	assert_int_equal(cas_db_schema_version(f->db, &v), 0);
	assert_int_equal(v, (int)cas_schema_migration_count);
	assert_true(cas_schema_migration_count >= 3);

	sqlite3 *s = raw_open(f->path);
	static const char *const tables[] = {
		"card_data", "card_state", "cards_deleted", "audit", "settings", "generators", "seq",
		"schema_migrations",
	};
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		char sql[200];
		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", tables[i]);
		if (q_int(s, sql) != 1)
			fail_msg("table %s missing", tables[i]);
	}
	static const char *const indexes[] = {
		"cards_change_no", "cards_finish", "cards_edited", "cards_active_finish",
		"cards_blocked", "audit_time",
	};
	for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
		char sql[200];
		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '%s'", indexes[i]);
		if (q_int(s, sql) != 1)
			fail_msg("index %s missing", indexes[i]);
	}
	/* cards: the view readers use (006_card_state), with its triggers */
	assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = 'cards'"), 1);
	assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
			       "tbl_name = 'cards' AND name IN ('cards_insert', 'cards_update', 'cards_delete')"), 3);
	assert_int_equal(q_int(s, "PRAGMA user_version"), (int64_t)cas_schema_migration_count);
	assert_int_equal(q_int(s, "SELECT count(*) FROM schema_migrations"), (int64_t)cas_schema_migration_count);
	assert_int_equal(q_int(s, "SELECT max(version) FROM schema_migrations"), (int64_t)cas_schema_migration_count);
	q_text(s, "SELECT name FROM schema_migrations WHERE version = 1", buf, sizeof buf);
	assert_string_equal(buf, "001_initial");
	q_text(s, "PRAGMA journal_mode", buf, sizeof buf);
	assert_string_equal(buf, "wal");
	/* the master key check value is recorded, the key itself nowhere */
	assert_int_equal(q_int(s, "SELECT length(value) FROM settings WHERE key = 'db.master_key_check'"), 32);
	/* point lookups by serial use the rowid, change_no lookups its index */
	char plan[300];
	q_plan(s, "SELECT * FROM cards WHERE serial_no = 5", plan, sizeof plan);
	assert_string_equal(plan, "SEARCH d USING INTEGER PRIMARY KEY (rowid=?); "
			    "SEARCH s USING INTEGER PRIMARY KEY (rowid=?); ");
	q_plan(s, "SELECT * FROM cards WHERE change_no > 5 ORDER BY change_no", plan, sizeof plan);
	assert_string_equal(plan, "SEARCH s USING INDEX cards_change_no (change_no>?); "
			    "SEARCH d USING INTEGER PRIMARY KEY (rowid=?); ");
	sqlite3_close(s);

	/* opening again changes nothing */
	cas_db_close(f->db);
	f->db = open_db(f);
	s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM schema_migrations"), (int64_t)cas_schema_migration_count);
	sqlite3_close(s);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	char want[400], p[200];
	struct cas_db *db = NULL;
	struct cas_db_options noc = { 0, 0 };

	/* a folder in the way is a file */
	snprintf(p, sizeof p, "%s/plain", f->dir);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	snprintf(f->path, sizeof f->path, "%s/plain/cas.db", f->dir);
	assert_int_equal(cas_db_open(&db, f->path, &f->mk, NULL), -1);
	snprintf(want, sizeof want, "unable to create folder %s/plain: Not a directory", f->dir);
	assert_string_equal(cas_db_errmsg(db), want);
	cas_db_close(db);

	/* missing and not to be created */
	snprintf(f->path, sizeof f->path, "%s/missing.db", f->dir);
	assert_int_equal(cas_db_open(&db, f->path, &f->mk, &noc), -1);
	snprintf(want, sizeof want, "unable to open database %s: unable to open database file", f->path);
	assert_string_equal(cas_db_errmsg(db), want);
	cas_db_close(db);
	assert_int_equal(access(f->path, F_OK), -1);

	/* not an SQLite file */
	snprintf(f->path, sizeof f->path, "%s/junk.db", f->dir);
	int fd = open(f->path, O_WRONLY | O_CREAT, 0600);
	char junk[4096];
	memset(junk, 'x', sizeof junk);
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	assert_int_equal(cas_db_open(&db, f->path, &f->mk, NULL), -1);
	snprintf(want, sizeof want, "unable to open database %s: file is not a database", f->path);
	assert_string_equal(cas_db_errmsg(db), want);
	cas_db_close(db);

	/* made by a newer FreeCAS */
	snprintf(f->path, sizeof f->path, "%s/new.db", f->dir);
	assert_int_equal(cas_db_open(&db, f->path, &f->mk, NULL), 0);
	cas_db_close(db);
	sqlite3 *s = raw_open(f->path);
	q_exec(s, "PRAGMA user_version = 99");
	sqlite3_close(s);
	assert_int_equal(cas_db_open(&db, f->path, &f->mk, NULL), -1);
	snprintf(want, sizeof want, "database %s has schema version 99, newer than this program (%u)",
		 f->path, cas_schema_migration_count);
	assert_string_equal(cas_db_errmsg(db), want);
	cas_db_close(db);

	/* no master key */
	struct cas_mkey none;
	memset(&none, 0, sizeof none);
	assert_int_equal(cas_db_open(&db, f->path, &none, NULL), -1);
	snprintf(want, sizeof want, "unable to open database %s: no master key", f->path);
	assert_string_equal(cas_db_errmsg(db), want);
	cas_db_close(db);
	assert_string_equal(cas_db_errmsg(NULL), "out of memory");
}

/* ---- cards ---- */

static void assert_card_equal(const struct cas_card *a, const struct cas_card *b)
{
	assert_int_equal(a->serial_no, b->serial_no);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->info, b->info);
	assert_memory_equal(a->key, b->key, 16);
	assert_int_equal(a->access_criteria, b->access_criteria);
	assert_int_equal(a->pair, b->pair);
	assert_string_equal(a->pair_host, b->pair_host);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->start, b->start);
	assert_int_equal(a->finish, b->finish);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->blocked_until, b->blocked_until);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->edited, b->edited);
	assert_int_equal(a->change_no, b->change_no);
}

/* cas_db_card_get_info: every field but the key, which stays wrapped. */
static void test_card_get_info(void **state)
{
	struct fx *f = *state;
	struct cas_card c, full, info;
	f->db = open_db(f);
	make_card(&c, 2100000123u);
	strcpy(c.pair_host, "CAM 1");
	c.blocked_until = T0 + DAY;
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(cas_db_card_get(f->db, 2100000123u, &full), 0);
	memset(&info, 0xAA, sizeof info);
	assert_int_equal(cas_db_card_get_info(f->db, 2100000123u, &info), 0);
	static const uint8_t zero[CAS_CARD_KEY_SIZE];
	assert_memory_equal(info.key, zero, sizeof zero);
	assert_memory_not_equal(full.key, zero, sizeof zero);
	memset(full.key, 0, sizeof full.key);
	assert_memory_equal(&info, &full, sizeof info);	/* the rest is the same, padding included */
	assert_int_equal(cas_db_card_get_info(f->db, 2100000124u, &info), CAS_DB_NOTFOUND);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000124 not found");
	cas_card_wipe(&full);
	cas_card_wipe(&c);
}

static void test_card_crud(void **state)
{
	struct fx *f = *state;
	struct cas_card c, g;
	char want[200];
	f->db = open_db(f);

	make_card(&c, 2100000000);
	strcpy(c.name, "Jürgen / \"Ørsted\"; x");	/* UTF-8, quotes, ; */
	strcpy(c.pair_host, "E0302B");
	c.pair = 1;
	c.access_criteria = 0xFFFFFFFF;
	c.finish = 4294967295LL;
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(c.created, T0);
	assert_int_equal(c.edited, T0);
	assert_true(c.change_no > 0);

	assert_int_equal(cas_db_card_get(f->db, 2100000000, &g), 0);
	assert_card_equal(&c, &g);

	/* the rows in the file */
	sqlite3 *s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT access_criteria FROM cards WHERE serial_no = 2100000000"), 0xFFFFFFFFLL);
	assert_int_equal(q_int(s, "SELECT length(key) FROM cards WHERE serial_no = 2100000000"), CAS_MKEY_WRAPPED_SIZE);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE serial_no = 2100000000 AND message = 'card created' AND who = 'api' AND addr = '192.0.2.7'"), 1);

	/* pair_host "" is NULL in the database */
	make_card(&c, 2100000001);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(q_int(s, "SELECT pair_host IS NULL FROM cards WHERE serial_no = 2100000001"), 1);

	/* taken serial */
	make_card(&c, 2100000000);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), CAS_DB_EXISTS);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000000 already exists");

	/* not found */
	assert_int_equal(cas_db_card_get(f->db, 2100000099, &g), CAS_DB_NOTFOUND);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000099 not found");

	/* update some fields; the others keep their database values */
	f->clock = T0 + 60;
	memset(&c, 0, sizeof c);
	c.serial_no = 2100000000;
	strcpy(c.info, "moved");
	c.finish = T0 + 365 * DAY;
	c.name[0] = 'Z';	/* not in the field mask: ignored */
	int changed = -1;
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_INFO | CAS_CARD_F_FINISH, &api, &changed), 0);
	assert_int_equal(changed, 2);
	assert_string_equal(c.name, "Jürgen / \"Ørsted\"; x");	/* refreshed from the row */
	assert_string_equal(c.info, "moved");
	assert_int_equal(c.finish, T0 + 365 * DAY);
	assert_int_equal(c.edited, T0 + 60);
	assert_int_equal(c.created, T0);
	assert_int_equal(cas_db_card_get(f->db, 2100000000, &g), 0);
	assert_card_equal(&c, &g);

	/* new key */
	memset(c.key, 0xA5, 16);
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_KEY, &api, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(cas_db_card_get(f->db, 2100000000, &g), 0);
	uint8_t a5[16];
	memset(a5, 0xA5, 16);
	assert_memory_equal(g.key, a5, 16);

	/* update of a missing card */
	c.serial_no = 2100000099;
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_ALL, &api, &changed), CAS_DB_NOTFOUND);
	assert_int_equal(changed, 0);

	int64_t n = 0;
	assert_int_equal(cas_db_card_count(f->db, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(cas_db_card_delete(f->db, 2100000000, &api), 0);
	assert_int_equal(cas_db_card_get(f->db, 2100000000, &g), CAS_DB_NOTFOUND);
	assert_int_equal(cas_db_card_delete(f->db, 2100000000, &api), CAS_DB_NOTFOUND);
	snprintf(want, sizeof want, "card %u not found", 2100000000u);
	assert_string_equal(cas_db_errmsg(f->db), want);
	assert_int_equal(cas_db_card_count(f->db, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE serial_no = 2100000000 AND message = 'card deleted'"), 1);
	assert_int_equal(q_int(s, "SELECT deleted FROM cards_deleted WHERE serial_no = 2100000000"), T0 + 60);

	/* any u32 is a serial */
	make_card(&c, 0);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	make_card(&c, 4294967295u);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(cas_db_card_get(f->db, 4294967295u, &g), 0);
	assert_int_equal(g.serial_no, 4294967295u);
	sqlite3_close(s);
	cas_card_wipe(&g);
}

static void test_validation(void **state)
{
	struct fx *f = *state;
	struct cas_card c, g;
	int changed;
	f->db = open_db(f);

	make_card(&c, 2100000010);
	c.pair = 2;
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), -1);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000010: pair must be 0 or 1");
	make_card(&c, 2100000010);
	c.type = 0;
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), -1);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000010: type must be 1 (protection on) or 2 (off)");
	make_card(&c, 2100000010);
	c.finish = 4294967296LL;
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), -1);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000010: finish out of range 0..4294967295");
	make_card(&c, 2100000010);
	memset(c.name, 'n', sizeof c.name);	/* no NUL inside */
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), -1);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000010: name longer than 255 bytes");

	make_card(&c, 2100000010);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	c.status = 7;
	c.finish = 1;
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_STATUS | CAS_CARD_F_FINISH, &api, &changed), -1);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100000010: status must be 0 (disabled), 1 (active) or 2 (expired)");
	assert_int_equal(cas_db_card_get(f->db, 2100000010, &g), 0);
	assert_int_equal(g.status, CAS_CARD_ACTIVE);
	assert_int_equal(g.finish, T0 + 30 * DAY);	/* nothing written */

	/* the database enforces the same ranges against other writers */
	sqlite3 *s = raw_open(f->path);
	assert_int_not_equal(sqlite3_exec(s, "UPDATE cards SET pair = 5", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(s, "UPDATE cards SET finish = -1", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(s, "UPDATE cards SET key = x'00'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(s);
	cas_card_wipe(&g);
}

/* Counts the opcodes named `op` in the program SQLite compiles for sql. */
static int count_opcode(sqlite3 *s, const char *sql, const char *op)
{
	sqlite3_stmt *st;
	char q[800];
	int n = 0;
	snprintf(q, sizeof q, "EXPLAIN %s", sql);
	if (sqlite3_prepare_v2(s, q, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", q, sqlite3_errmsg(s));
	while (sqlite3_step(st) == SQLITE_ROW)
		n += strcmp((const char *)sqlite3_column_text(st, 1), op) == 0;
	sqlite3_finalize(st);
	return n;
}

/* cards.status takes 0, 1 and 2 and nothing else, however it is written
 * (005_cards_status_check writes the CHECK as comparisons), and checking it
 * builds no temporary b-tree per row (what "IN (0, 1, 2)" cost: a quarter
 * of a bulk insert's time). */
static void test_status_check(void **state)
{
	struct fx *f = *state;
	struct cas_card c;
	f->db = open_db(f);
	make_card(&c, 2100000020);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	sqlite3 *s = raw_open(f->path);
	static const char *const bad[] = { "3", "-1", "1.5", "'x'", "'1x'", "NULL", "x'01'", "2.0000001" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char sql[100];
		snprintf(sql, sizeof sql, "UPDATE cards SET status = %s", bad[i]);
		if (sqlite3_exec(s, sql, NULL, NULL, NULL) == SQLITE_OK)
			fail_msg("accepted: %s", sql);
	}
	static const char *const good[] = { "0", "2", "'1'", "2.0", "1" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char sql[100];
		snprintf(sql, sizeof sql, "UPDATE cards SET status = %s", good[i]);
		q_exec(s, sql);
	}
	assert_int_equal(q_int(s, "SELECT status FROM cards"), 1);
	assert_int_equal(q_int(s, "SELECT typeof(status) = 'integer' FROM cards"), 1);
	assert_int_equal(count_opcode(s, "INSERT INTO card_state (serial_no, status, change_no) "
				      "VALUES (?1, ?2, ?3)", "OpenEphemeral"), 0);
	assert_int_equal(count_opcode(s, "UPDATE card_state SET status = ?1 WHERE serial_no = ?2",
				      "OpenEphemeral"), 0);
	sqlite3_close(s);
}

/* The database file (and its WAL) holds no card key in any form. */
static int file_contains(const char *path, const void *needle, size_t n)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return 0;
	fseek(fp, 0, SEEK_END);
	long size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);
	int found = 0;
	for (size_t i = 0; !found && i + n <= (size_t)size; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

static void test_no_plaintext_key(void **state)
{
	struct fx *f = *state;
	struct cas_card cards[50];
	char wal[200], hex[40];
	f->db = open_db(f);
	for (int i = 0; i < 50; i++) {
		make_card(&cards[i], 2100000100 + (uint32_t)i);
		for (int j = 0; j < 16; j++)
			cards[i].key[j] = (uint8_t)(0xC0 + i + j * 3);
	}
	assert_int_equal(cas_db_cards_insert(f->db, cards, 50, &api), 0);
	/* change one key too, so an update path is in the file */
	memset(cards[0].key, 0x3C, 16);
	assert_int_equal(cas_db_card_update(f->db, &cards[0], CAS_CARD_F_KEY, &api, NULL), 0);
	snprintf(wal, sizeof wal, "%s-wal", f->path);
	/* a marker that is in the file, to show the search works */
	assert_true(file_contains(wal, "Subscriber 2100000100", 21) ||
		    file_contains(f->path, "Subscriber 2100000100", 21));
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < 50; i++) {
			const char *paths[] = { f->path, wal };
			for (int p = 0; p < 2; p++) {
				if (file_contains(paths[p], cards[i].key, 16))
					fail_msg("card %d key in clear in %s", i, paths[p]);
				for (int j = 0; j < 16; j++)
					sprintf(hex + 2 * j, "%02X", cards[i].key[j]);
				if (file_contains(paths[p], hex, 32))
					fail_msg("card %d key as hex in %s", i, paths[p]);
				for (int j = 0; j < 16; j++)
					sprintf(hex + 2 * j, "%02x", cards[i].key[j]);
				if (file_contains(paths[p], hex, 32))
					fail_msg("card %d key as hex in %s", i, paths[p]);
			}
		}
		/* again after a checkpoint and close: everything in the main file */
		cas_db_close(f->db);
		f->db = NULL;
		assert_true(file_contains(f->path, "Subscriber 2100000100", 21));
	}
}

static int count_cb(void *ctx, const struct cas_card *c)
{
	(void)c;
	(*(int *)ctx)++;
	return 0;
}

static void test_moved_key_fails(void **state)
{
	struct fx *f = *state;
	struct cas_card a, b, g;
	char want[300];
	f->db = open_db(f);
	make_card(&a, 2100000001);
	make_card(&b, 2100000002);
	assert_int_equal(cas_db_card_insert(f->db, &a, &api), 0);
	assert_int_equal(cas_db_card_insert(f->db, &b, &api), 0);
	/* someone copies card 2's wrapped key onto card 1 */
	sqlite3 *s = raw_open(f->path);
	q_exec(s, "UPDATE cards SET key = (SELECT key FROM cards WHERE serial_no = 2100000002) "
		  "WHERE serial_no = 2100000001");
	sqlite3_close(s);
	assert_int_equal(cas_db_card_get(f->db, 2100000001, &g), -1);
	snprintf(want, sizeof want, "card 2100000001: key does not unwrap (wrong master key, or a "
		 "wrapped key copied from another card)");
	assert_string_equal(cas_db_errmsg(f->db), want);
	uint8_t zero[16] = { 0 };
	assert_memory_equal(g.key, zero, 16);
	assert_int_equal(cas_db_card_get(f->db, 2100000002, &g), 0);
	assert_memory_equal(g.key, b.key, 16);
	/* iterators skip the damaged card and go on */
	int n = 0;
	assert_int_equal(cas_db_cards_each(f->db, count_cb, &n), 0);
	assert_int_equal(n, 1);
	/* updating it fails too: its old key cannot be read */
	assert_int_equal(cas_db_card_update(f->db, &a, CAS_CARD_F_NAME, &api, NULL), -1);
}

static void test_wrong_master_key(void **state)
{
	struct fx *f = *state;
	struct cas_card c;
	struct cas_mkey other;
	struct cas_db *db = NULL;
	uint8_t m[32];
	char want[300];
	f->db = open_db(f);
	make_card(&c, 2100000003);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	cas_db_close(f->db);
	f->db = NULL;

	master_bytes(m, 2);
	assert_int_equal(cas_mkey_from_bytes(&other, m), 0);
	assert_int_equal(cas_db_open(&db, f->path, &other, NULL), -1);
	snprintf(want, sizeof want, "master key does not match database %s (was it created with "
		 "another master key?)", f->path);
	assert_string_equal(cas_db_errmsg(db), want);
	cas_db_close(db);

	/* without the check value, the first card's key decides */
	sqlite3 *s = raw_open(f->path);
	q_exec(s, "DELETE FROM settings WHERE key = 'db.master_key_check'");
	sqlite3_close(s);
	assert_int_equal(cas_db_open(&db, f->path, &other, NULL), -1);
	assert_string_equal(cas_db_errmsg(db), want);
	cas_db_close(db);
	s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM settings WHERE key = 'db.master_key_check'"), 0);
	sqlite3_close(s);

	/* the right key opens it and records the check value again */
	f->db = open_db(f);
	s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM settings WHERE key = 'db.master_key_check'"), 1);
	sqlite3_close(s);
	cas_mkey_clear(&other);
}

/* ---- change sequence ---- */

struct changes {
	int64_t last;
	int ncards, ndeleted;
	uint32_t serials[64];
	int deleted[64];
	int64_t change[64];
};

static int changes_card(void *ctx, const struct cas_card *c)
{
	struct changes *ch = ctx;
	assert_true(c->change_no > ch->last);	/* in change_no order */
	ch->last = c->change_no;
	ch->serials[ch->ncards + ch->ndeleted] = c->serial_no;
	ch->change[ch->ncards + ch->ndeleted] = c->change_no;
	ch->ncards++;
	return 0;
}

static int changes_deleted(void *ctx, uint32_t serial, int64_t change_no)
{
	struct changes *ch = ctx;
	assert_true(change_no > ch->last);
	ch->last = change_no;
	ch->serials[ch->ncards + ch->ndeleted] = serial;
	ch->deleted[ch->ncards + ch->ndeleted] = 1;
	ch->change[ch->ncards + ch->ndeleted] = change_no;
	ch->ndeleted++;
	return 0;
}

static void test_change_no(void **state)
{
	struct fx *f = *state;
	struct cas_card c[3], g;
	int64_t max = -1, prev;
	int changed;
	f->db = open_db(f);
	assert_int_equal(cas_db_change_max(f->db, &max), 0);
	assert_int_equal(max, 0);
	for (int i = 0; i < 3; i++) {
		make_card(&c[i], 2100000020 + (uint32_t)i);
		assert_int_equal(cas_db_card_insert(f->db, &c[i], &api), 0);
		if (i > 0)
			assert_true(c[i].change_no > c[i - 1].change_no);
	}
	prev = c[2].change_no;
	assert_int_equal(cas_db_change_max(f->db, &max), 0);
	assert_int_equal(max, prev);

	/* every update of any card takes the next number */
	for (int k = 0; k < 20; k++) {
		struct cas_card *x = &c[k % 3];
		x->access_criteria = (uint32_t)k + 100;
		assert_int_equal(cas_db_card_update(f->db, x, CAS_CARD_F_AC, &api, &changed), 0);
		assert_int_equal(changed, 1);
		assert_true(x->change_no > prev);
		prev = x->change_no;
	}
	/* an update that changes nothing keeps the number */
	assert_int_equal(cas_db_card_update(f->db, &c[0], CAS_CARD_F_ALL, &api, &changed), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(cas_db_card_get(f->db, c[0].serial_no, &g), 0);
	assert_int_equal(g.change_no, c[0].change_no);
	assert_int_equal(cas_db_change_max(f->db, &max), 0);
	assert_int_equal(max, prev);

	/* touch: a new number, nothing else changed */
	assert_int_equal(cas_db_card_touch(f->db, c[0].serial_no, &api, "resend EMM"), 0);
	assert_int_equal(cas_db_card_get(f->db, c[0].serial_no, &g), 0);
	assert_true(g.change_no > prev);
	assert_int_equal(g.access_criteria, c[0].access_criteria);
	prev = g.change_no;
	assert_int_equal(cas_db_card_touch(f->db, 12345, &api, NULL), CAS_DB_NOTFOUND);

	/* an operator's sqlite3 session bumps it too (trigger) */
	sqlite3 *s = raw_open(f->path);
	q_exec(s, "UPDATE cards SET finish = finish + 1 WHERE serial_no = 2100000021");
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE serial_no = 2100000021"), prev + 1);
	q_exec(s, "UPDATE cards SET name = 'x' WHERE serial_no = 2100000022");
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE serial_no = 2100000022"), prev + 2);
	prev += 2;

	/* delete: a tombstone with the next number */
	assert_int_equal(cas_db_card_delete(f->db, 2100000020, &api), 0);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards_deleted WHERE serial_no = 2100000020"), prev + 1);
	prev++;
	assert_int_equal(cas_db_change_max(f->db, &max), 0);
	assert_int_equal(max, prev);

	/* changes after a point, cards and tombstones merged in order */
	struct changes ch;
	memset(&ch, 0, sizeof ch);
	assert_int_equal(cas_db_cards_changed_since(f->db, 0, changes_card, changes_deleted, &ch), 0);
	assert_int_equal(ch.ncards, 2);
	assert_int_equal(ch.ndeleted, 1);
	assert_int_equal(ch.serials[0], 2100000021);
	assert_int_equal(ch.serials[1], 2100000022);
	assert_int_equal(ch.serials[2], 2100000020);
	assert_int_equal(ch.deleted[2], 1);
	assert_int_equal(ch.last, max);

	memset(&ch, 0, sizeof ch);
	ch.last = max - 1;
	assert_int_equal(cas_db_cards_changed_since(f->db, max - 1, changes_card, changes_deleted, &ch), 0);
	assert_int_equal(ch.ncards + ch.ndeleted, 1);
	assert_int_equal(ch.ndeleted, 1);
	memset(&ch, 0, sizeof ch);
	ch.last = max;
	assert_int_equal(cas_db_cards_changed_since(f->db, max, changes_card, changes_deleted, &ch), 0);
	assert_int_equal(ch.ncards + ch.ndeleted, 0);

	/* a serial inserted again is a card, not a tombstone */
	make_card(&c[0], 2100000020);
	assert_int_equal(cas_db_card_insert(f->db, &c[0], &api), 0);
	assert_int_equal(c[0].change_no, max + 1);
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards_deleted"), 0);
	memset(&ch, 0, sizeof ch);
	ch.last = max;
	assert_int_equal(cas_db_cards_changed_since(f->db, max, changes_card, NULL, &ch), 0);
	assert_int_equal(ch.ncards, 1);
	/* a change rolled back gives its number back: no gap, no reuse seen */
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_card_touch(f->db, 2100000020, &api, NULL), 0);
	assert_int_equal(cas_db_rollback(f->db), 0);
	assert_int_equal(cas_db_change_max(f->db, &max), 0);
	assert_int_equal(max, c[0].change_no);
	sqlite3_close(s);
	cas_card_wipe(&g);
}

/* ---- audit ---- */

struct audit_rows {
	int n;
	char text[16][200];
};

static int audit_cb(void *ctx, const struct cas_audit *a)
{
	struct audit_rows *r = ctx;
	if (r->n < 16)
		snprintf(r->text[r->n], sizeof r->text[0], "%lld %s %s %u %s %s -> %s (%s)",
			 (long long)a->time, a->who, a->addr ? a->addr : "-",
			 a->has_serial ? a->serial_no : 0, a->field ? a->field : "-",
			 a->old_value ? a->old_value : "-", a->new_value ? a->new_value : "-",
			 a->message ? a->message : "-");
	r->n++;
	return 0;
}

static void test_audit(void **state)
{
	struct fx *f = *state;
	struct cas_card c;
	char buf[200];
	int changed;
	f->db = open_db(f);
	make_card(&c, 2100000030);
	c.access_criteria = 0x1;
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);

	f->clock = T0 + 5;
	strcpy(c.name, "New Name");
	c.access_criteria = 0xA0;
	c.finish = T0 + 40 * DAY;
	memset(c.key, 0x77, 16);
	c.pair = 0;	/* unchanged: no row */
	strcpy(c.pair_host, "E0302B");
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_ALL, &api, &changed), 0);
	assert_int_equal(changed, 5);

	sqlite3 *s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE serial_no = 2100000030"), 6);
	q_text(s, "SELECT old_value || ' -> ' || new_value FROM audit WHERE field = 'name'", buf, sizeof buf);
	assert_string_equal(buf, "Subscriber 2100000030 -> New Name");
	q_text(s, "SELECT old_value || ' -> ' || new_value FROM audit WHERE field = 'access_criteria'", buf, sizeof buf);
	assert_string_equal(buf, "00000001 -> 000000A0");
	q_text(s, "SELECT old_value || ' -> ' || new_value FROM audit WHERE field = 'finish'", buf, sizeof buf);
	assert_string_equal(buf, "1738281600 -> 1739145600");
	q_text(s, "SELECT coalesce(old_value, 'NULL') || ' -> ' || new_value FROM audit WHERE field = 'pair_host'", buf, sizeof buf);
	assert_string_equal(buf, "NULL -> E0302B");
	/* the key: never its value */
	q_text(s, "SELECT coalesce(old_value, 'NULL') || ' ' || coalesce(new_value, 'NULL') || ' ' || message "
		  "FROM audit WHERE field = 'key'", buf, sizeof buf);
	assert_string_equal(buf, "NULL NULL key replaced");
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE field IS NOT NULL AND "
			       "(time != 1735689605 OR who != 'api' OR addr != '192.0.2.7')"), 0);
	sqlite3_close(s);

	/* events from the caller, and reading the log back */
	struct cas_audit ev = { 0, 0, "api", "198.51.100.1", 0, 0, NULL, NULL, NULL, "NOT_VALID_API_KEY" };
	f->clock = T0 + 10 * DAY;
	assert_int_equal(cas_db_audit_add(f->db, &ev), 0);
	struct cas_audit bad = { 0 };
	assert_int_equal(cas_db_audit_add(f->db, &bad), -1);
	assert_string_equal(cas_db_errmsg(f->db), "audit: who is missing");

	struct audit_rows rows;
	memset(&rows, 0, sizeof rows);
	assert_int_equal(cas_db_audit_each(f->db, 0, 1, 2100000030, audit_cb, &rows), 0);
	assert_int_equal(rows.n, 6);
	assert_string_equal(rows.text[0], "1735689600 api 192.0.2.7 2100000030 - - -> - (card created)");
	assert_string_equal(rows.text[1], "1735689605 api 192.0.2.7 2100000030 name Subscriber 2100000030 -> New Name (-)");
	memset(&rows, 0, sizeof rows);
	assert_int_equal(cas_db_audit_each(f->db, 0, 0, 0, audit_cb, &rows), 0);
	assert_int_equal(rows.n, 7);
	assert_string_equal(rows.text[6], "1736553600 api 198.51.100.1 0 - - -> - (NOT_VALID_API_KEY)");

	/* purge: keep 5 days at T0+10d removes the rows of T0 and T0+5s */
	int64_t deleted = -1;
	assert_int_equal(cas_db_audit_purge(f->db, T0 + 10 * DAY, 5, &deleted), 0);
	assert_int_equal(deleted, 6);
	memset(&rows, 0, sizeof rows);
	assert_int_equal(cas_db_audit_each(f->db, 0, 0, 0, audit_cb, &rows), 0);
	assert_int_equal(rows.n, 1);
	assert_int_equal(cas_db_audit_purge(f->db, T0 + 10 * DAY, 5, &deleted), 0);
	assert_int_equal(deleted, 0);
	cas_card_wipe(&c);
}

/* ---- migration ---- */

static void test_migration_from_v1(void **state)
{
	struct fx *f = *state;
	uint8_t blob[CAS_MKEY_WRAPPED_SIZE];
	static const uint8_t key[16] = { 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE,
					 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF };
	char p[200];
	snprintf(f->path, sizeof f->path, "%s/v1.db", f->dir);

	/* A database as FreeCAS with only migration 001 would have left it. */
	sqlite3 *s = NULL;
	assert_int_equal(sqlite3_open(f->path, &s), SQLITE_OK);
	assert_string_equal(cas_schema_migrations[0].name, "001_initial");
	q_exec(s, cas_schema_migrations[0].sql);
	q_exec(s, "INSERT INTO schema_migrations VALUES (1, '001_initial', 1700000000); PRAGMA user_version = 1;");
	assert_int_equal(cas_mkey_wrap(&f->mk, 2100000040, key, blob), 0);
	sqlite3_stmt *st;
	q_exec(s, "UPDATE seq SET value = 1 WHERE name = 'card_change'");
	assert_int_equal(sqlite3_prepare_v2(s, "INSERT INTO cards (serial_no, name, key, access_criteria, "
					    "start, finish, created, edited, change_no) VALUES (2100000040, "
					    "'old card', ?1, 255, 1700000000, 1800000000, 1700000000, 1700000000, 1)",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, blob, sizeof blob, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_master WHERE name = 'generators'"), 0);
	sqlite3_close(s);

	int64_t before = (int64_t)time(NULL);
	f->db = open_db(f);
	int64_t after = (int64_t)time(NULL);
	int v;
	assert_int_equal(cas_db_schema_version(f->db, &v), 0);
	assert_int_equal(v, (int)cas_schema_migration_count);
	struct cas_card c;
	assert_int_equal(cas_db_card_get(f->db, 2100000040, &c), 0);
	assert_string_equal(c.name, "old card");
	assert_memory_equal(c.key, key, 16);
	assert_int_equal(c.access_criteria, 255);
	assert_int_equal(c.finish, 1800000000);
	assert_int_equal(c.change_no, 1);

	s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM schema_migrations"), (int64_t)cas_schema_migration_count);
	assert_int_equal(q_int(s, "SELECT applied FROM schema_migrations WHERE version = 1"), 1700000000);
	assert_in_range(q_int(s, "SELECT applied FROM schema_migrations WHERE version = 2"), before, after);
	assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_master WHERE name IN ('generators', 'cards_deleted')"), 2);
	snprintf(p, sizeof p, "SELECT count(*) FROM settings WHERE key = 'db.master_key_check'");
	assert_int_equal(q_int(s, p), 1);
	sqlite3_close(s);

	/* the new tables work on the old data */
	assert_int_equal(cas_db_card_delete(f->db, 2100000040, &api), 0);
	s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards_deleted WHERE serial_no = 2100000040"), 2);
	sqlite3_close(s);
	struct cas_generator g = { .kind = CAS_GEN_EMMG, .name = "mux1" };
	assert_int_equal(cas_db_gen_upsert(f->db, &g), 0);
	cas_card_wipe(&c);
}

static void assert_integrity(sqlite3 *s);

/* A version-5 database (one cards table) moves to card_data + card_state
 * behind the view cards: every column of every card reads back the same,
 * the tombstones and the change sequence stay, the view has the old
 * table's columns in their order. */
static void test_migration_card_state(void **state)
{
	struct fx *f = *state;
	uint8_t blob[CAS_MKEY_WRAPPED_SIZE];
	static const uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	char before[2000], after[2000], cols[400];
	static const char dump[] = "SELECT group_concat(x, char(10)) FROM (SELECT serial_no || '|' || "
				   "quote(name) || '|' || quote(info) || '|' || hex(key) || '|' || access_criteria "
				   "|| '|' || pair || '|' || quote(pair_host) || '|' || type || '|' || start || '|' "
				   "|| finish || '|' || status || '|' || blocked_until || '|' || created || '|' || "
				   "edited || '|' || change_no AS x FROM cards ORDER BY serial_no)";
	snprintf(f->path, sizeof f->path, "%s/v5.db", f->dir);
	sqlite3 *s = NULL;
	assert_int_equal(sqlite3_open(f->path, &s), SQLITE_OK);
	for (unsigned i = 0; i < 5; i++) {
		char sql[200];
		q_exec(s, cas_schema_migrations[i].sql);
		snprintf(sql, sizeof sql, "INSERT INTO schema_migrations VALUES (%u, '%s', 1700000000)",
			 cas_schema_migrations[i].version, cas_schema_migrations[i].name);
		q_exec(s, sql);
	}
	assert_string_equal(cas_schema_migrations[4].name, "005_cards_status_check");
	q_exec(s, "PRAGMA user_version = 5");
	q_text(s, "SELECT group_concat(name, ',') FROM pragma_table_info('cards')", cols, sizeof cols);
	for (uint32_t i = 0; i < 3; i++) {
		sqlite3_stmt *st;
		assert_int_equal(cas_mkey_wrap(&f->mk, 2100000060 + i, key, blob), 0);
		assert_int_equal(sqlite3_prepare_v2(s, "INSERT INTO cards VALUES (?1, ?2, 'info ' || ?1, ?3, "
						    "?4, ?5, ?6, 1 + ?5, 1700000000 + ?4, 1800000000 + ?4, ?7, ?8, "
						    "1600000000, 1650000000 + ?4, 10 + ?4)", -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_int64(st, 1, 2100000060 + i);
		sqlite3_bind_text(st, 2, i == 1 ? "Ünïcode" : "card", -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, blob, sizeof blob, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, i);
		sqlite3_bind_int(st, 5, (int)(i & 1));
		if (i == 2)
			sqlite3_bind_text(st, 6, "cam-1", -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 7, (int)i);
		sqlite3_bind_int64(st, 8, i == 1 ? 1900000000 : 0);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
	}
	q_exec(s, "UPDATE seq SET value = 20; INSERT INTO cards_deleted VALUES (2100000099, 9, 1650000000)");
	q_text(s, dump, before, sizeof before);
	sqlite3_close(s);

	f->db = open_db(f);
	int v;
	assert_int_equal(cas_db_schema_version(f->db, &v), 0);
	assert_int_equal(v, (int)cas_schema_migration_count);
	s = raw_open(f->path);
	q_text(s, dump, after, sizeof after);
	assert_string_equal(after, before);
	q_text(s, "SELECT group_concat(name, ',') FROM pragma_table_info('cards')", after, sizeof after);
	assert_string_equal(after, cols);
	assert_int_equal(q_int(s, "SELECT count(*) FROM card_data"), 3);
	assert_int_equal(q_int(s, "SELECT count(*) FROM card_state"), 3);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards_deleted WHERE serial_no = 2100000099"), 9);
	assert_int_equal(q_int(s, "SELECT value FROM seq"), 20);
	assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cards'"), 0);
	assert_integrity(s);
	sqlite3_close(s);
	/* the library reads and writes the moved cards */
	struct cas_card c;
	assert_int_equal(cas_db_card_get(f->db, 2100000062, &c), 0);
	assert_memory_equal(c.key, key, 16);
	assert_string_equal(c.pair_host, "cam-1");
	assert_int_equal(c.status, CAS_CARD_EXPIRED);
	c.access_criteria = 7;
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_AC, &api, NULL), 0);
	assert_int_equal(c.change_no, 21);
	cas_card_wipe(&c);
}

/* An operator's sqlite3 session writes cards through the view: its
 * triggers fill in the old table's defaults, draw change numbers, leave
 * tombstones, and refuse what the old table could not hold. */
static void test_cards_view_writes(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	f->db = open_db(f);
	struct cas_card c;
	make_card(&c, 2100000070);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(cas_db_card_delete(f->db, 2100000070, &api), 0);
	sqlite3 *s = raw_open(f->path);
	int64_t seq = q_int(s, "SELECT value FROM seq");
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards_deleted"), 1);

	/* insert: defaults as before, the tombstone goes, change_no named */
	q_exec(s, "INSERT INTO cards (serial_no, key, finish, change_no) VALUES (2100000070, zeroblob(57), 5, 100)");
	char row[300];
	q_text(s, "SELECT name || '|' || info || '|' || access_criteria || '|' || pair || '|' || "
	       "quote(pair_host) || '|' || type || '|' || start || '|' || finish || '|' || status || '|' "
	       "|| blocked_until || '|' || created || '|' || edited || '|' || change_no FROM cards", row, sizeof row);
	assert_string_equal(row, "||0|0|NULL|1|0|5|1|0|0|0|100");
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards_deleted"), 0);
	assert_int_not_equal(sqlite3_exec(s, "INSERT INTO cards (key, change_no) VALUES (zeroblob(57), 101)",
					  NULL, NULL, &err), SQLITE_OK);
	assert_string_equal(err, "cards: serial_no must be given");
	sqlite3_free(err);
	assert_int_not_equal(sqlite3_exec(s, "INSERT INTO cards (serial_no, key) VALUES (5, zeroblob(57))",
					  NULL, NULL, NULL), SQLITE_OK);	/* change_no NOT NULL */
	assert_int_not_equal(sqlite3_exec(s, "INSERT INTO cards (serial_no, key, change_no) VALUES "
					  "(2100000070, zeroblob(57), 102)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(q_int(s, "SELECT count(*) FROM card_data"), 1);
	assert_int_equal(q_int(s, "SELECT count(*) FROM card_state"), 1);

	/* update: a new number unless the statement names one; both tables */
	q_exec(s, "UPDATE cards SET access_criteria = 9, blocked_until = 77 WHERE serial_no = 2100000070");
	assert_int_equal(q_int(s, "SELECT value FROM seq"), seq + 1);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards"), seq + 1);
	assert_int_equal(q_int(s, "SELECT access_criteria * 1000 + blocked_until FROM cards"), 9077);
	q_exec(s, "UPDATE cards SET name = 'n', change_no = 500");
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE name = 'n'"), 500);
	assert_int_equal(q_int(s, "SELECT value FROM seq"), seq + 1);
	assert_int_not_equal(sqlite3_exec(s, "UPDATE cards SET serial_no = 5", NULL, NULL, &err), SQLITE_OK);
	assert_string_equal(err, "cards: serial_no cannot change");
	sqlite3_free(err);

	/* delete: both rows, a tombstone with the next number */
	q_exec(s, "DELETE FROM cards WHERE serial_no = 2100000070");
	assert_int_equal(q_int(s, "SELECT count(*) FROM card_data") + q_int(s, "SELECT count(*) FROM card_state"), 0);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards_deleted WHERE serial_no = 2100000070"), seq + 2);
	sqlite3_close(s);
	cas_card_wipe(&c);
}

/* ---- two connections ---- */

struct writer {
	const char *path;
	const struct cas_mkey *mk;
	int busy_ms;
	int result;
	double waited;
	char err[300];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *second_writer(void *arg)
{
	struct writer *w = arg;
	struct cas_db *db = NULL;
	struct cas_db_options opt = { w->busy_ms, 1 };
	struct cas_card c;
	if (cas_db_open(&db, w->path, w->mk, &opt) < 0) {
		snprintf(w->err, sizeof w->err, "%s", cas_db_errmsg(db));
		w->result = -2;
		cas_db_close(db);
		return NULL;
	}
	make_card(&c, 2100000051);
	double t = now_s();
	w->result = cas_db_card_insert(db, &c, &cron);
	w->waited = now_s() - t;
	snprintf(w->err, sizeof w->err, "%s", cas_db_errmsg(db));
	cas_db_close(db);
	return NULL;
}

static void test_two_writers_wait(void **state)
{
	struct fx *f = *state;
	struct cas_card c;
	pthread_t th;
	f->db = open_db(f);
	struct writer w = { f->path, &f->mk, 5000, 99, 0, "" };

	/* the first writer holds the write lock for 300 ms ... */
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_in_transaction(f->db), 1);
	make_card(&c, 2100000050);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(pthread_create(&th, NULL, second_writer, &w), 0);
	usleep(300000);
	assert_int_equal(cas_db_commit(f->db), 0);
	pthread_join(th, NULL);
	/* ... the second waited for it, then succeeded */
	if (w.result != 0)
		fail_msg("second writer: %d %s", w.result, w.err);
	assert_true(w.waited > 0.2);
	int64_t n;
	assert_int_equal(cas_db_card_count(f->db, &n), 0);
	assert_int_equal(n, 2);
	/* its change_no came after the first writer's */
	struct cas_card g;
	assert_int_equal(cas_db_card_get(f->db, 2100000051, &g), 0);
	assert_true(g.change_no > c.change_no);

	/* with a busy timeout shorter than the lock, the second writer fails */
	struct writer w2 = { f->path, &f->mk, 100, 99, 0, "" };
	assert_int_equal(cas_db_card_delete(f->db, 2100000051, &api), 0);
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(pthread_create(&th, NULL, second_writer, &w2), 0);
	pthread_join(th, NULL);
	assert_int_equal(cas_db_commit(f->db), 0);
	assert_int_equal(w2.result, -1);
	assert_string_equal(w2.err, "unable to begin a transaction: database is locked");
	assert_true(w2.waited >= 0.09);
	cas_card_wipe(&g);
}

/* ---- transactions ---- */

static void test_transactions(void **state)
{
	struct fx *f = *state;
	struct cas_card c, g;
	int64_t n;
	f->db = open_db(f);
	assert_int_equal(cas_db_in_transaction(f->db), 0);
	assert_int_equal(cas_db_commit(f->db), -1);
	assert_string_equal(cas_db_errmsg(f->db), "unable to commit: no transaction is open");
	assert_int_equal(cas_db_rollback(f->db), 0);

	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_begin(f->db), -1);
	assert_string_equal(cas_db_errmsg(f->db), "unable to begin a transaction: one is already open");
	make_card(&c, 2100000060);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(cas_db_rollback(f->db), 0);
	assert_int_equal(cas_db_card_get(f->db, 2100000060, &g), CAS_DB_NOTFOUND);

	/* a failing call inside the caller's transaction undoes only itself */
	assert_int_equal(cas_db_begin(f->db), 0);
	make_card(&c, 2100000060);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	make_card(&c, 2100000060);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), CAS_DB_EXISTS);
	assert_int_equal(cas_db_in_transaction(f->db), 1);
	make_card(&c, 2100000061);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	assert_int_equal(cas_db_commit(f->db), 0);
	assert_int_equal(cas_db_card_count(f->db, &n), 0);
	assert_int_equal(n, 2);

	/* get + update in one transaction, rolled back: the card is as before */
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_card_get(f->db, 2100000061, &g), 0);
	g.finish = 5;
	assert_int_equal(cas_db_card_update(f->db, &g, CAS_CARD_F_FINISH, &api, NULL), 0);
	assert_int_equal(cas_db_rollback(f->db), 0);
	assert_int_equal(cas_db_card_get(f->db, 2100000061, &g), 0);
	assert_int_equal(g.finish, T0 + 30 * DAY);
	sqlite3 *s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE field = 'finish'"), 0);
	sqlite3_close(s);
	cas_card_wipe(&g);
}

/* ---- bulk insert ---- */

static void test_bulk_insert(void **state)
{
	struct fx *f = *state;
	size_t n = 2000;
	struct cas_card *cards = calloc(n, sizeof *cards);
	struct cas_card g, one;
	int64_t count, max;
	assert_non_null(cards);
	f->db = open_db(f);
	for (size_t i = 0; i < n; i++)
		make_card(&cards[i], 2100001000 + (uint32_t)i);
	/* a taken serial in the middle: nothing is written */
	make_card(&one, 2100001500);
	assert_int_equal(cas_db_card_insert(f->db, &one, &api), 0);
	assert_int_equal(cas_db_cards_insert(f->db, cards, n, &casprog), CAS_DB_EXISTS);
	assert_string_equal(cas_db_errmsg(f->db), "card 2100001500 already exists");
	assert_int_equal(cas_db_card_count(f->db, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(cas_db_change_max(f->db, &max), 0);
	assert_int_equal(max, one.change_no);
	for (size_t i = 0; i < n; i++)	/* a failure leaves the structs as they were */
		assert_true(cards[i].change_no == 0 && cards[i].created == 0 && cards[i].edited == 0);
	assert_int_equal(cas_db_card_delete(f->db, 2100001500, &api), 0);
	uint32_t top = 0;
	assert_int_equal(cas_db_card_max_serial(f->db, 2100000000, 2109999999, &top), CAS_DB_NOTFOUND);
	assert_string_equal(cas_db_errmsg(f->db), "no card in 2100000000..2109999999");

	f->clock = T0 + 100;
	assert_int_equal(cas_db_cards_insert(f->db, cards, n, &casprog), 0);
	assert_int_equal(cas_db_card_count(f->db, &count), 0);
	assert_int_equal(count, (int64_t)n);
	/* consecutive change numbers, written back */
	for (size_t i = 1; i < n; i++)
		assert_int_equal(cards[i].change_no, cards[i - 1].change_no + 1);
	assert_int_equal(cas_db_change_max(f->db, &max), 0);
	assert_int_equal(max, cards[n - 1].change_no);
	assert_int_equal(cas_db_card_max_serial(f->db, 2100000000, 2109999999, &top), 0);
	assert_int_equal(top, 2100002999);
	assert_int_equal(cas_db_card_max_serial(f->db, 2100000000, 2100001234, &top), 0);
	assert_int_equal(top, 2100001234);
	assert_int_equal(cards[5].created, T0 + 100);
	assert_int_equal(cards[5].edited, T0 + 100);
	for (size_t i = 0; i < n; i += 97) {
		assert_int_equal(cas_db_card_get(f->db, cards[i].serial_no, &g), 0);
		assert_card_equal(&cards[i], &g);
	}
	sqlite3 *s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE who = 'casprog' AND serial_no IS NULL "
			       "AND message = '2000 cards created (2100001000..2100002999)'"), 1);
	/* a key no two cards share: wrapped with distinct nonces */
	assert_int_equal(q_int(s, "SELECT count(DISTINCT substr(key, 2, 24)) FROM cards"), (int64_t)n);
	sqlite3_close(s);
	free(cards);
	cas_card_wipe(&g);
}

/* A bulk insert (one statement for all the cards) writes the rows one
 * insert per card writes: every column, NULL pair_host for "", created kept
 * when given; errors name the first card that fails, in order. */
static void test_bulk_insert_rows(void **state)
{
	struct fx *f = *state;
	enum { N = 300 };
	struct cas_card *cards = calloc(N, sizeof *cards);
	struct cas_card g;
	char path2[sizeof f->path];
	assert_non_null(cards);
	for (int i = 0; i < N; i++) {
		struct cas_card *c = &cards[i];
		make_card(c, 2100005000 + (uint32_t)i * 3);
		if (i % 3 == 0)
			snprintf(c->pair_host, sizeof c->pair_host, "CAM%04d", i);
		c->pair = i % 2;
		c->type = i % 5 ? CAS_CARD_PROTECT_ON : CAS_CARD_PROTECT_OFF;
		c->status = i % 3;
		c->blocked_until = i % 7 ? 0 : T0 + i;
		c->created = i % 4 ? 0 : T0 - 1000 - i;
		c->access_criteria = 0xFFFFFFFFu - (uint32_t)i;
		if (i % 11 == 0)
			memset(c->info, 'i', 1023);
	}
	/* the same cards, one insert each, in another database */
	snprintf(path2, sizeof path2, "%s", f->path);
	snprintf(f->path, sizeof f->path, "%s/one.db", f->dir);
	f->db = open_db(f);
	f->clock = T0;
	for (int i = 0; i < N; i++) {
		struct cas_card c = cards[i];
		assert_int_equal(cas_db_cards_insert(f->db, &c, 1, &casprog), 0);
	}
	cas_db_close(f->db);
	snprintf(f->path, sizeof f->path, "%s", path2);
	f->db = open_db(f);
	assert_int_equal(cas_db_cards_insert(f->db, cards, N, &casprog), 0);
	for (int i = 0; i < N; i += 7) {
		assert_int_equal(cas_db_card_get(f->db, cards[i].serial_no, &g), 0);
		assert_card_equal(&cards[i], &g);
	}
	sqlite3 *s = raw_open(f->path);
	char sql[600];
	snprintf(sql, sizeof sql, "ATTACH '%s/one.db' AS one", f->dir);
	q_exec(s, sql);
	/* every column but the wrapped key (a fresh nonce each time) and the
	 * change numbers (one sequence per database) */
	static const char cols[] = "serial_no, name, info, access_criteria, pair, pair_host, type, start, "
				   "finish, status, blocked_until, created, edited";
	snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT %s FROM main.cards EXCEPT SELECT %s FROM one.cards)",
		 cols, cols);
	assert_int_equal(q_int(s, sql), 0);
	assert_int_equal(q_int(s, "SELECT count(*) FROM main.cards"), N);
	assert_int_equal(q_int(s, "SELECT count(*) FROM main.cards WHERE pair_host IS NULL"), N - N / 3);
	assert_int_equal(q_int(s, "SELECT count(*) FROM main.cards WHERE typeof(status) != 'integer' OR "
			       "typeof(key) != 'blob' OR typeof(name) != 'text'"), 0);
	assert_int_equal(q_int(s, "SELECT max(change_no) - min(change_no) + 1 FROM main.cards"), N);
	sqlite3_close(s);

	/* errors: the first card that fails, in order; nothing written */
	int64_t count;
	for (int i = 0; i < N; i++)
		cards[i].serial_no += 1;	/* all free again */
	cards[100].serial_no = cards[99].serial_no - 1;	/* taken (inserted above) */
	cards[200].type = 9;				/* invalid */
	assert_int_equal(cas_db_cards_insert(f->db, cards, N, &casprog), CAS_DB_EXISTS);
	snprintf(sql, sizeof sql, "card %u already exists", cards[100].serial_no);
	assert_string_equal(cas_db_errmsg(f->db), sql);
	cards[100].serial_no = cards[99].serial_no + 1;
	cards[250].serial_no = 2100005000;		/* taken, after the invalid card */
	assert_int_equal(cas_db_cards_insert(f->db, cards, N, &casprog), -1);
	snprintf(sql, sizeof sql, "card %u: type must be 1 (protection on) or 2 (off)", cards[200].serial_no);
	assert_string_equal(cas_db_errmsg(f->db), sql);
	cards[200].type = CAS_CARD_PROTECT_ON;
	cards[250].serial_no = 2100009999;
	cards[299] = cards[3];				/* the same serial twice */
	assert_int_equal(cas_db_cards_insert(f->db, cards, N, &casprog), CAS_DB_EXISTS);
	snprintf(sql, sizeof sql, "card %u already exists", cards[3].serial_no);
	assert_string_equal(cas_db_errmsg(f->db), sql);
	assert_int_equal(cas_db_card_count(f->db, &count), 0);
	assert_int_equal(count, N);
	free(cards);
	cas_card_wipe(&g);
}

/* ---- selections for emmgd and cascron ---- */

struct serial_list {
	int n;
	uint32_t s[32];
};

static int list_cb(void *ctx, const struct cas_card *c)
{
	struct serial_list *l = ctx;
	if (l->n < 32)
		l->s[l->n] = c->serial_no;
	l->n++;
	return 0;
}

static void insert_at(struct fx *f, uint32_t serial, int64_t when, int64_t start, int64_t finish,
		      int64_t blocked)
{
	struct cas_card c;
	make_card(&c, serial);
	c.start = start;
	c.finish = finish;
	c.blocked_until = blocked;
	f->clock = when;
	assert_int_equal(cas_db_card_insert(f->db, &c, &casprog), 0);
}

static void test_selections(void **state)
{
	struct fx *f = *state;
	struct serial_list l;
	struct cas_card g;
	int64_t count;
	f->db = open_db(f);
	/* serial, edited, start, finish, blocked_until */
	insert_at(f, 1, T0 - 100 * DAY, T0 - 10 * DAY, T0 + 10 * DAY, 0);	/* current window */
	insert_at(f, 2, T0 - 30 * DAY, T0 - 60 * DAY, T0 - 10 * DAY, 0);	/* ended, old edit */
	insert_at(f, 3, T0 - 1 * DAY, T0 - 60 * DAY, T0 - 5 * DAY, 0);		/* ended, edited yesterday */
	insert_at(f, 4, T0 - 50 * DAY, T0 + 5 * DAY, T0 + 35 * DAY, 0);	/* future window */
	insert_at(f, 5, T0 - 50 * DAY, T0 - 50 * DAY, T0, T0 - 5);		/* finish == now; block over */
	insert_at(f, 6, T0 - 50 * DAY, T0 - 50 * DAY, T0 - 1, T0 + 1000);	/* just ended; blocked */
	f->clock = T0;

	memset(&l, 0, sizeof l);
	assert_int_equal(cas_db_cards_on_air(f->db, T0, 7, list_cb, &l), 0);
	assert_int_equal(l.n, 5);	/* not 2: ended and edited over 7 days ago */
	/* newest edit first */
	assert_int_equal(l.s[0], 3);
	assert_int_equal(l.s[1] + l.s[2] + l.s[3], 4 + 5 + 6);	/* same edit time */
	assert_true(l.s[1] >= 4 && l.s[2] >= 4 && l.s[3] >= 4);
	assert_int_equal(l.s[4], 1);
	memset(&l, 0, sizeof l);
	assert_int_equal(cas_db_cards_on_air(f->db, T0, 0, list_cb, &l), 0);
	assert_int_equal(l.n, 3);	/* 1, 4, 5 */

	memset(&l, 0, sizeof l);
	assert_int_equal(cas_db_cards_expired(f->db, T0, list_cb, &l), 0);
	assert_int_equal(l.n, 3);	/* by finish: 2, 3, 6 */
	assert_int_equal(l.s[0], 2);
	assert_int_equal(l.s[1], 3);
	assert_int_equal(l.s[2], 6);

	memset(&l, 0, sizeof l);
	assert_int_equal(cas_db_cards_block_ended(f->db, T0, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.s[0], 5);

	/* cascron's jobs */
	f->clock = T0 + 30;
	assert_int_equal(cas_db_cards_expire(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 3);
	assert_int_equal(cas_db_card_get(f->db, 6, &g), 0);
	assert_int_equal(g.status, CAS_CARD_EXPIRED);
	assert_int_equal(g.edited, T0 - 50 * DAY);	/* as inserted: the sweep is not an edit */
	assert_int_equal(cas_db_card_get(f->db, 1, &g), 0);
	assert_int_equal(g.status, CAS_CARD_ACTIVE);
	assert_int_equal(cas_db_cards_expire(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 0);

	assert_int_equal(cas_db_cards_unblock(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(cas_db_card_get(f->db, 5, &g), 0);
	assert_int_equal(g.blocked_until, 0);
	assert_int_equal(cas_db_card_get(f->db, 6, &g), 0);
	assert_int_equal(g.blocked_until, T0 + 1000);
	assert_int_equal(cas_db_cards_unblock(f->db, T0 + 1000, &cron, &count), 0);
	assert_int_equal(count, 1);

	sqlite3 *s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE who = 'cron' AND field = 'status' "
			       "AND old_value = '1' AND new_value = '2'"), 3);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE who = 'cron' AND field = 'blocked_until' "
			       "AND new_value = '0'"), 2);
	/* the expiry query uses its partial index */
	char plan[300];
	q_plan(s, "SELECT serial_no FROM cards WHERE status = 1 AND finish < 5 ORDER BY finish, serial_no",
	       plan, sizeof plan);
	assert_non_null(strstr(plan, "cards_active_finish"));
	q_plan(s, "SELECT serial_no FROM cards WHERE blocked_until != 0 AND blocked_until <= 5",
	       plan, sizeof plan);
	assert_non_null(strstr(plan, "cards_blocked"));
	sqlite3_close(s);

	/* range (emmgd shards by serial) */
	memset(&l, 0, sizeof l);
	assert_int_equal(cas_db_cards_range(f->db, 2, 4, list_cb, &l), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.s[0], 2);
	assert_int_equal(l.s[2], 4);
	cas_card_wipe(&g);
}

struct nest {
	struct cas_db *db;
	int outer, inner;
};

/* The set-based cascron jobs write what one update per card would: one
 * audit row per card with old -> new and the clock's time, edited = the
 * clock, a new change_no per card in serial order; renew
 * undoes an expiry whose finish was moved into the future; a card whose key
 * does not unwrap is changed too; inside a caller's transaction a rollback
 * undoes the job. */
static void test_bulk_jobs(void **state)
{
	struct fx *f = *state;
	struct cas_card g;
	int64_t count, max0;
	char text[200];
	f->db = open_db(f);
	/* serial, edited, start, finish, blocked_until */
	insert_at(f, 10, T0 - 50 * DAY, T0 - 60 * DAY, T0 - 3 * DAY, 0);
	insert_at(f, 11, T0 - 50 * DAY, T0 - 60 * DAY, T0 - 9 * DAY, T0 - 1);
	insert_at(f, 12, T0 - 50 * DAY, T0 - 60 * DAY, T0 + 9 * DAY, T0 - 60);
	insert_at(f, 13, T0 - 50 * DAY, T0 - 60 * DAY, T0 - 3 * DAY, T0 + 60);
	insert_at(f, 14, T0 - 50 * DAY, T0 - 60 * DAY, T0 - 5, 0);
	sqlite3 *s = raw_open(f->path);
	/* card 14's key blob replaced by one that does not unwrap */
	q_exec(s, "UPDATE cards SET key = zeroblob(57), change_no = change_no WHERE serial_no = 14");
	assert_int_equal(cas_db_change_max(f->db, &max0), 0);

	f->clock = T0 + 7;
	assert_int_equal(cas_db_cards_expire(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 4);
	/* by serial: 10, 11, 13, 14 (not 12: finish ahead) */
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE serial_no = 10"), max0 + 1);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE serial_no = 11"), max0 + 2);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE serial_no = 13"), max0 + 3);
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE serial_no = 14"), max0 + 4);
	assert_int_equal(q_int(s, "SELECT value FROM seq WHERE name = 'card_change'"), max0 + 4);
	/* edited stays: the sweep is not an edit */
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE status = 2 AND edited = 1735689600 - 50 * 86400"), 4);
	assert_int_equal(q_int(s, "SELECT status FROM cards WHERE serial_no = 12"), 1);
	q_text(s, "SELECT group_concat(serial_no || ':' || time || ':' || who || ':' || ifnull(addr, '-') "
	       "|| ':' || field || ':' || old_value || '>' || new_value || ':' || ifnull(message, '-'), ' ') "
	       "FROM (SELECT * FROM audit WHERE who = 'cron' ORDER BY id)", text, sizeof text);
	assert_string_equal(text, "10:1735689607:cron:-:status:1>2:- 11:1735689607:cron:-:status:1>2:- "
			    "13:1735689607:cron:-:status:1>2:- 14:1735689607:cron:-:status:1>2:-");

	/* blocks: 11 (T0 - 1) and 12 (T0 - 60) are over, 13 is not */
	f->clock = T0 + 8;
	assert_int_equal(cas_db_cards_unblock(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 2);
	q_text(s, "SELECT group_concat(serial_no || ':' || old_value || '>' || new_value || ':' || change_no, ' ') "
	       "FROM (SELECT a.serial_no, a.old_value, a.new_value, c.change_no FROM audit a "
	       "JOIN cards c USING (serial_no) WHERE a.field = 'blocked_until' ORDER BY a.id)", text, sizeof text);
	char want[200];
	snprintf(want, sizeof want, "11:1735689599>0:%lld 12:1735689540>0:%lld",
		 (long long)max0 + 5, (long long)max0 + 6);
	assert_string_equal(text, want);
	assert_int_equal(q_int(s, "SELECT blocked_until FROM cards WHERE serial_no = 13"), T0 + 60);

	/* renew: billing moves card 10's finish into the future */
	assert_int_equal(cas_db_card_get(f->db, 10, &g), 0);
	g.finish = T0 + 30 * DAY;
	assert_int_equal(cas_db_card_update(f->db, &g, CAS_CARD_F_FINISH, &api, NULL), 0);
	assert_int_equal(g.status, CAS_CARD_EXPIRED);
	int64_t before = g.change_no;
	f->clock = T0 + 9;
	assert_int_equal(cas_db_cards_renew(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(cas_db_card_get(f->db, 10, &g), 0);
	assert_int_equal(g.status, CAS_CARD_ACTIVE);
	assert_int_equal(g.change_no, before + 1);
	assert_int_equal(g.edited, T0 + 8);	/* billing's edit, not the renewal */
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE serial_no = 10 AND field = 'status' "
			       "AND old_value = '2' AND new_value = '1' AND who = 'cron'"), 1);
	/* nothing left to do: no change number drawn */
	assert_int_equal(cas_db_cards_renew(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(cas_db_cards_expire(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(cas_db_change_max(f->db, &max0), 0);
	assert_int_equal(max0, before + 1);
	/* the renewal scans card_state: no index of expired cards to keep */
	assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_master WHERE name = 'cards_expired_finish'"), 0);

	/* inside a caller's transaction: rolled back with it */
	f->clock = T0 + 40 * DAY;
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_cards_expire(f->db, T0 + 40 * DAY, &cron, &count), 0);
	assert_int_equal(count, 2);	/* 10 and 12 */
	assert_int_equal(cas_db_rollback(f->db), 0);
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE status = 1"), 2);
	assert_int_equal(cas_db_change_max(f->db, &count), 0);
	assert_int_equal(count, max0);
	sqlite3_close(s);
	cas_card_wipe(&g);
}

/* The schema objects of the cards (the view and its two tables), as text,
 * to compare. */
static void cards_schema(sqlite3 *s, char *out, size_t size)
{
	q_text(s, "SELECT group_concat(type || ' ' || name || ': ' || sql, '; ') FROM "
	       "(SELECT * FROM sqlite_master WHERE tbl_name IN ('cards', 'card_data', 'card_state') "
	       "ORDER BY name)", out, size);
}

/* After a bulk job that changed the n cards `changed` (an SQL condition on
 * cards) at time `when`: their change numbers follow max0 in serial order,
 * edited is still `edited` (a sweep is not an edit), and the audit has one row per
 * card ("cron", field, old_value `oldv` (an SQL condition on x.old_value),
 * new value), in the same order. */
static void check_bulk(sqlite3 *s, const char *changed, int64_t max0, int64_t n, int64_t when,
		       int64_t edited, const char *field, const char *oldv, const char *newv)
{
	char sql[1000];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM cards WHERE %s AND edited = %lld AND change_no > %lld",
		 changed, (long long)edited, (long long)max0);
	assert_int_equal(q_int(s, sql), n);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT change_no, row_number() OVER "
		 "(ORDER BY serial_no) AS r FROM cards WHERE %s) WHERE change_no = %lld + r",
		 changed, (long long)max0);
	assert_int_equal(q_int(s, sql), n);
	assert_int_equal(q_int(s, "SELECT value FROM seq WHERE name = 'card_change'"), max0 + n);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE time = %lld", (long long)when);
	assert_int_equal(q_int(s, sql), n);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT a.serial_no, a.who, a.addr, a.field, "
		 "a.old_value, a.new_value, a.message, row_number() OVER (ORDER BY a.id) AS ra, "
		 "row_number() OVER (ORDER BY c.change_no) AS rc FROM audit a JOIN cards c USING (serial_no) "
		 "WHERE a.time = %lld) AS x WHERE ra = rc AND who = 'cron' AND addr IS NULL AND "
		 "message IS NULL AND field = '%s' AND new_value = '%s' AND %s",
		 (long long)when, field, newv, oldv);
	assert_int_equal(q_int(s, sql), n);
}

static void assert_integrity(sqlite3 *s)
{
	char ic[40];
	q_text(s, "PRAGMA integrity_check", ic, sizeof ic);
	assert_string_equal(ic, "ok");
}

/* The jobs over tens of thousands of cards, once with most of them due (the
 * path that sets the indexes and the update trigger aside and builds them
 * again: the schema version moves) and once with fewer (row by row: it does
 * not).  Both write exactly what the small jobs write, and the schema comes
 * back as it was; a rollback undoes all of it. */
static void bulk_jobs_many(struct fx *f, int ndue, int nother, int large)
{
	int total = ndue + nother;
	struct cas_card *cards = calloc((size_t)total, sizeof *cards);
	char before[4000], after[4000];
	int64_t count, max0, version;
	assert_non_null(cards);
	f->db = open_db(f);
	f->clock = T0 - 100 * DAY;
	/* Due: finish T0 - 1..7 days, block ended at various times; the
	 * others: finish in the future, not blocked.  Mixed across the
	 * serials, so the selections' orders are not the serial order. */
	for (int i = 0; i < total; i++) {
		struct cas_card *c = &cards[i];
		make_card(c, 2100000000 + (uint32_t)i);
		int due = (int)(((int64_t)i * 7919) % total) < ndue;
		c->finish = due ? T0 - DAY * (1 + (i * 13) % 7) : T0 + 10 * DAY + i % 5;
		c->blocked_until = due ? T0 - 1 - (i * 31) % 1000 : 0;
	}
	for (int i = 0; i < total; i += 5000) {
		int k = total - i < 5000 ? total - i : 5000;
		assert_int_equal(cas_db_cards_insert(f->db, cards + i, (size_t)k, &casprog), 0);
	}
	free(cards);
	sqlite3 *s = raw_open(f->path);
	cards_schema(s, before, sizeof before);
	assert_non_null(strstr(before, "index cards_active_finish: CREATE INDEX"));
	assert_non_null(strstr(before, "trigger cards_update: CREATE TRIGGER"));
	q_exec(s, "CREATE TEMP TABLE due (serial_no INTEGER PRIMARY KEY, blocked_until INTEGER NOT NULL); "
	       "INSERT INTO temp.due SELECT serial_no, blocked_until FROM cards WHERE blocked_until != 0");
	assert_int_equal(q_int(s, "SELECT count(*) FROM temp.due"), ndue);

	/* in the caller's transaction: a rollback undoes the job and the
	 * schema's changes */
	version = q_int(s, "PRAGMA schema_version");
	assert_int_equal(cas_db_change_max(f->db, &max0), 0);
	assert_int_equal(cas_db_begin(f->db), 0);
	f->clock = T0 + 5;
	assert_int_equal(cas_db_cards_expire(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, ndue);
	assert_int_equal(cas_db_rollback(f->db), 0);
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE status = 2"), 0);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE who = 'cron'"), 0);
	assert_int_equal(cas_db_change_max(f->db, &count), 0);
	assert_int_equal(count, max0);
	assert_int_equal(q_int(s, "PRAGMA schema_version"), version);
	cards_schema(s, after, sizeof after);
	assert_string_equal(after, before);

	/* expire: by finish */
	f->clock = T0 + 7;
	assert_int_equal(cas_db_cards_expire(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, ndue);
	check_bulk(s, "serial_no IN (SELECT serial_no FROM temp.due)", max0, ndue, T0 + 7,
		   T0 - 100 * DAY, "status",
		   "old_value = '1'", "2");
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE status = 2"), ndue);
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE status = 1 AND edited = 1735689600 - 100 * 86400 "
			       "AND change_no <= (SELECT min(change_no) FROM cards WHERE status = 2)"), nother);
	assert_int_equal(q_int(s, "PRAGMA schema_version") != version, large);
	cards_schema(s, after, sizeof after);
	assert_string_equal(after, before);
	assert_integrity(s);

	/* unblock: by blocked_until; the audit keeps the old block */
	version = q_int(s, "PRAGMA schema_version");
	assert_int_equal(cas_db_change_max(f->db, &max0), 0);
	f->clock = T0 + 8;
	assert_int_equal(cas_db_cards_unblock(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, ndue);
	check_bulk(s, "serial_no IN (SELECT serial_no FROM temp.due)", max0, ndue, T0 + 8,
		   T0 - 100 * DAY, "blocked_until",
		   "old_value = (SELECT CAST(d.blocked_until AS TEXT) FROM temp.due d WHERE d.serial_no = x.serial_no)",
		   "0");
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE blocked_until != 0"), 0);
	assert_int_equal(q_int(s, "PRAGMA schema_version") != version, large);
	cards_schema(s, after, sizeof after);
	assert_string_equal(after, before);

	/* renew: an operator moves every finish on (the trigger still numbers
	 * such changes), the expired cards are active again, by finish */
	q_exec(s, "UPDATE cards SET finish = finish + 400 * 86400");
	assert_int_equal(cas_db_change_max(f->db, &max0), 0);
	assert_int_equal(max0, q_int(s, "SELECT max(change_no) FROM cards"));
	assert_int_equal(q_int(s, "SELECT count(DISTINCT change_no) FROM cards WHERE change_no > "
			       "(SELECT value FROM seq) - 45000"), total);
	version = q_int(s, "PRAGMA schema_version");
	f->clock = T0 + 9;
	assert_int_equal(cas_db_cards_renew(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, ndue);
	check_bulk(s, "serial_no IN (SELECT serial_no FROM temp.due)", max0, ndue, T0 + 9,
		   T0 - 100 * DAY, "status",
		   "old_value = '2'", "1");
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE status = 1"), total);
	assert_int_equal(q_int(s, "PRAGMA schema_version") != version, large);
	cards_schema(s, after, sizeof after);
	assert_string_equal(after, before);
	/* the indexes serve their queries */
	char plan[300];
	q_plan(s, "SELECT serial_no FROM cards WHERE status = 1 AND finish < 5 ORDER BY finish, serial_no",
	       plan, sizeof plan);
	assert_non_null(strstr(plan, "cards_active_finish"));
	q_plan(s, "SELECT * FROM cards WHERE change_no > 5 ORDER BY change_no", plan, sizeof plan);
	assert_string_equal(plan, "SEARCH s USING INDEX cards_change_no (change_no>?); "
			    "SEARCH d USING INTEGER PRIMARY KEY (rowid=?); ");
	assert_integrity(s);
	sqlite3_close(s);
}

static void test_bulk_jobs_large(void **state)
{
	bulk_jobs_many(*state, 24000, 6000, 1);
}

static void test_bulk_jobs_many_small_share(void **state)
{
	bulk_jobs_many(*state, 21000, 24000, 0);
}

/* With another statement of the connection running (a report reading
 * through the raw handle), a large job cannot drop indexes: it changes the
 * cards row by row instead, with the same result. */
static void test_bulk_jobs_statement_running(void **state)
{
	struct fx *f = *state;
	enum { N = 22000 };
	struct cas_card *cards = calloc(N, sizeof *cards);
	sqlite3_stmt *st;
	int64_t count, max0;
	assert_non_null(cards);
	f->db = open_db(f);
	for (int i = 0; i < N; i++) {
		make_card(&cards[i], 2100000000 + (uint32_t)i);
		cards[i].finish = i < 21000 ? T0 - DAY * (1 + i % 3) : T0 + DAY;
	}
	assert_int_equal(cas_db_cards_insert(f->db, cards, N, &casprog), 0);
	free(cards);
	assert_int_equal(cas_db_change_max(f->db, &max0), 0);
	sqlite3 *s = raw_open(f->path);
	int64_t version = q_int(s, "PRAGMA schema_version");
	assert_int_equal(sqlite3_prepare_v2(cas_db_sqlite(f->db), "SELECT key FROM settings", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	f->clock = T0 + 3;
	assert_int_equal(cas_db_cards_expire(f->db, T0, &cron, &count), 0);
	assert_int_equal(count, 21000);
	sqlite3_finalize(st);
	assert_int_equal(q_int(s, "PRAGMA schema_version"), version);
	check_bulk(s, "status = 2", max0, 21000, T0 + 3, T0, "status", "old_value = '1'", "2");
	sqlite3_close(s);
}

/* ---- many updates at once ---- */

/* Every card of a database as text (key in clear), and its audit without
 * the ids, to compare two databases. */
static void dump_cards(struct cas_db *db, char *out, size_t size);

struct dump {
	char *out;
	size_t size, len;
};

static int dump_card(void *ctx, const struct cas_card *c)
{
	struct dump *d = ctx;
	char key[33];
	for (int i = 0; i < 16; i++)
		snprintf(key + 2 * i, 3, "%02X", c->key[i]);
	d->len += (size_t)snprintf(d->out + d->len, d->size - d->len,
				   "%u|%s|%s|%s|%08X|%d|%s|%d|%lld|%lld|%d|%lld|%lld|%lld|%lld\n",
				   c->serial_no, c->name, c->info, key, c->access_criteria, c->pair,
				   c->pair_host, c->type, (long long)c->start, (long long)c->finish, c->status,
				   (long long)c->blocked_until, (long long)c->created, (long long)c->edited,
				   (long long)c->change_no);
	return d->len < d->size ? 0 : -1;
}

static void dump_cards(struct cas_db *db, char *out, size_t size)
{
	struct dump d = { out, size, 0 };
	out[0] = '\0';
	assert_int_equal(cas_db_cards_each(db, dump_card, &d), 0);
}

static void dump_audit(const char *path, char *out, size_t size)
{
	sqlite3 *s = raw_open(path);
	q_text(s, "SELECT group_concat(x, char(10)) FROM (SELECT time || '|' || who || '|' || ifnull(addr, '-') "
	       "|| '|' || ifnull(serial_no, '-') || '|' || ifnull(field, '-') || '|' || ifnull(old_value, '-') "
	       "|| '|' || ifnull(new_value, '-') || '|' || ifnull(message, '-') AS x FROM audit ORDER BY id)",
	       out, size);
	sqlite3_close(s);
}

/* The batch of test_cards_update: what billing sends for six cards. */
static void update_batch(struct cas_card b[6])
{
	for (int i = 0; i < 6; i++)
		make_card(&b[i], 2100000001 + (uint32_t)i);
	strcpy(b[0].name, "Ivan \xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD");	/* name and packages */
	b[0].access_criteria = 0xFFFFFFFF;
	/* b[1]: the same as in the database */
	b[2].serial_no = 2100000077;					/* no such card */
	b[3].key[0] ^= 0x80;						/* a new key */
	b[3].type = CAS_CARD_PROTECT_OFF;
	b[4].finish = T0 + 90 * DAY;					/* expired: renewed */
	b[5].start = T0 - 20 * DAY;					/* start only */
}

#define ADMIN_FIELDS (CAS_CARD_F_NAME | CAS_CARD_F_INFO | CAS_CARD_F_KEY | CAS_CARD_F_AC | \
		      CAS_CARD_F_PAIR | CAS_CARD_F_TYPE | CAS_CARD_F_START | CAS_CARD_F_FINISH)

static void update_fixture(struct cas_db *db, int64_t *clock)
{
	struct cas_card c[6];
	for (int i = 0; i < 6; i++)
		make_card(&c[i], 2100000001 + (uint32_t)i);
	c[4].finish = T0 - DAY;
	*clock = T0;
	assert_int_equal(cas_db_cards_insert(db, c, 6, &casprog), 0);
	int64_t n;
	*clock = T0 + 1;
	assert_int_equal(cas_db_cards_expire(db, T0, &cron, &n), 0);
	assert_int_equal(n, 1);
	*clock = T0 + 100;
}

/* cas_db_cards_update() writes exactly what cas_db_card_update() card by
 * card writes (plus the renewal a caller would do by hand): the same
 * cards, change numbers, edit times and audit rows. */
static void test_cards_update(void **state)
{
	struct fx *f = *state;
	struct cas_card b[6], one;
	int result[6];
	char path2[200], cards1[8000], cards2[8000], audit1[8000], audit2[8000];
	struct cas_db *db2 = NULL;

	/* reference: one call per card */
	snprintf(path2, sizeof path2, "%s/ref.db", f->dir);
	assert_int_equal(cas_db_open(&db2, path2, &f->mk, NULL), 0);
	cas_db_set_clock(db2, fake_clock, &f->clock);
	update_fixture(db2, &f->clock);
	update_batch(b);
	const int want[6] = { 2, 0, -1, 2, 2, 1 };
	for (int i = 0; i < 6; i++) {
		int changed = -1;
		unsigned fields = ADMIN_FIELDS;
		one = b[i];
		if (i == 4) {
			one.status = CAS_CARD_ACTIVE;
			fields |= CAS_CARD_F_STATUS;
		}
		int rc = cas_db_card_update(db2, &one, fields, &api, &changed);
		assert_int_equal(rc, i == 2 ? CAS_DB_NOTFOUND : 0);
		if (i != 2)
			assert_int_equal(changed, want[i]);
	}
	dump_cards(db2, cards2, sizeof cards2);
	cas_db_close(db2);
	dump_audit(path2, audit2, sizeof audit2);

	/* one call for the batch */
	f->db = open_db(f);
	update_fixture(f->db, &f->clock);
	update_batch(b);
	assert_int_equal(cas_db_cards_update(f->db, b, 6, ADMIN_FIELDS, T0 + 100, &api, result), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(result[i], want[i]);
	dump_cards(f->db, cards1, sizeof cards1);
	dump_audit(f->path, audit1, sizeof audit1);
	assert_string_equal(cards1, cards2);
	assert_string_equal(audit1, audit2);
	/* and the audit says what a user reads in it */
	assert_non_null(strstr(audit1, "1735689700|api|192.0.2.7|2100000001|access_criteria|0000000F|FFFFFFFF|-"));
	assert_non_null(strstr(audit1, "1735689700|api|192.0.2.7|2100000004|key|-|-|key replaced"));
	assert_non_null(strstr(audit1, "1735689700|api|192.0.2.7|2100000005|status|2|1|-"));
	assert_null(strstr(audit1, "2100000002|"));	/* unchanged: no row */

	/* the same batch again changes nothing, draws no change number */
	int64_t max0, max1;
	assert_int_equal(cas_db_change_max(f->db, &max0), 0);
	assert_int_equal(cas_db_cards_update(f->db, b, 6, ADMIN_FIELDS, T0 + 100, &api, result), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(result[i], i == 2 ? -1 : 0);
	assert_int_equal(cas_db_change_max(f->db, &max1), 0);
	assert_int_equal(max1, max0);

	/* a value out of range anywhere in the batch: nothing written */
	b[0].access_criteria = 1;
	b[5].type = 3;
	assert_int_equal(cas_db_cards_update(f->db, b, 6, ADMIN_FIELDS, 0, &api, result), -1);
	assert_non_null(strstr(cas_db_errmsg(f->db), "2100000006"));
	dump_cards(f->db, cards2, sizeof cards2);
	assert_string_equal(cards2, cards1);
	dump_audit(f->path, audit2, sizeof audit2);
	assert_string_equal(audit2, audit1);
}

/* The names of card_state's indexes and triggers, as a connection sees them. */
static void cards_objects(sqlite3 *s, char *out, size_t size)
{
	q_text(s, "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master "
	       "WHERE tbl_name = 'card_state' ORDER BY name)", out, size);
}

/* A large job sets aside only what the writes would maintain, brings it
 * back identical at the commit (the table's indexes serve their queries
 * again), and a rollback brings back the schema and the data. */
static void test_large_job(void **state)
{
	struct fx *f = *state;
	enum { N = 40 };
	struct cas_card c[N];
	int result[N];
	char before[4000], after[4000], plan[300];
	f->db = open_db(f);
	for (int i = 0; i < N; i++)
		make_card(&c[i], 2100000000 + (uint32_t)i);
	assert_int_equal(cas_db_cards_insert(f->db, c, N, &casprog), 0);
	sqlite3 *s = raw_open(f->path);
	sqlite3 *own = cas_db_sqlite(f->db);
	cards_schema(s, before, sizeof before);

	/* packages change: cards_change_no and cards_edited go, the finish
	 * and block indexes stay */
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_large_begin(f->db), 1);
	assert_int_equal(cas_db_large_begin(f->db), 0);	/* one at a time */
	for (int i = 0; i < N; i++)
		c[i].access_criteria = 0x30;
	f->clock = T0 + 5;
	assert_int_equal(cas_db_cards_update(f->db, c, N, CAS_CARD_F_AC, 0, &api, result), 0);
	cards_objects(own, after, sizeof after);
	assert_string_equal(after, "card_state cards_active_finish cards_blocked cards_finish cards_tombstone");
	/* new cards keep the indexes that are there up to date (in serial
	 * order, as billing files come, that is appending) */
	struct cas_card extra[2];
	make_card(&extra[0], 2100000100);
	make_card(&extra[1], 2100000101);
	assert_int_equal(cas_db_cards_insert(f->db, extra, 2, &casprog), 0);
	cards_objects(own, after, sizeof after);
	assert_string_equal(after, "card_state cards_active_finish cards_blocked cards_finish cards_tombstone");
	assert_int_equal(q_int(own, "SELECT count(*) FROM card_state INDEXED BY cards_finish WHERE finish > 0"), N + 2);
	assert_int_equal(cas_db_commit(f->db), 0);
	cards_schema(s, after, sizeof after);
	assert_string_equal(after, before);
	assert_integrity(s);
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE access_criteria = 48 AND edited = 1735689605"), N);
	assert_int_equal(q_int(s, "SELECT count(DISTINCT change_no) FROM cards"), N + 2);
	assert_int_equal(q_int(s, "SELECT count(*) FROM audit WHERE field = 'access_criteria'"), N);
	q_plan(s, "SELECT * FROM cards WHERE change_no > 5 ORDER BY change_no", plan, sizeof plan);
	assert_string_equal(plan, "SEARCH s USING INDEX cards_change_no (change_no>?); "
			    "SEARCH d USING INTEGER PRIMARY KEY (rowid=?); ");
	/* a change by hand (the view's trigger) takes a change number */
	int64_t max0 = q_int(s, "SELECT value FROM seq");
	q_exec(s, "UPDATE cards SET name = 'by hand' WHERE serial_no = 2100000000");
	assert_int_equal(q_int(s, "SELECT change_no FROM cards WHERE serial_no = 2100000000"), max0 + 1);

	/* rolled back: schema and data as they were */
	char data[200];
	q_text(s, "SELECT group_concat(serial_no || ':' || finish || ':' || change_no) FROM cards", data, sizeof data);
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_large_begin(f->db), 1);
	for (int i = 0; i < N; i++)
		c[i].finish = T0 + 99 * DAY;
	assert_int_equal(cas_db_cards_update(f->db, c, N, CAS_CARD_F_FINISH, 0, &api, result), 0);
	cards_objects(own, after, sizeof after);
	assert_string_equal(after, "card_state cards_blocked cards_tombstone");
	assert_int_equal(cas_db_rollback(f->db), 0);
	cards_schema(s, after, sizeof after);
	assert_string_equal(after, before);
	char data2[200];
	q_text(s, "SELECT group_concat(serial_no || ':' || finish || ':' || change_no) FROM cards", data2, sizeof data2);
	assert_string_equal(data2, data);
	assert_integrity(s);
	/* a write undone by a rollback to a savepoint takes its set-aside
	 * indexes back with it; the commit does not create them twice */
	assert_int_equal(cas_db_begin(f->db), 0);
	assert_int_equal(cas_db_large_begin(f->db), 1);
	q_exec(own, "SAVEPOINT caller");
	for (int i = 0; i < N; i++)
		c[i].access_criteria = 0x77;
	assert_int_equal(cas_db_cards_update(f->db, c, N, CAS_CARD_F_AC, 0, &api, result), 0);
	cards_objects(own, after, sizeof after);
	assert_string_equal(after, "card_state cards_active_finish cards_blocked cards_finish cards_tombstone");
	q_exec(own, "ROLLBACK TO caller; RELEASE caller");
	assert_int_equal(cas_db_commit(f->db), 0);
	cards_schema(s, after, sizeof after);
	assert_string_equal(after, before);
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards WHERE access_criteria = 119"), 0);
	assert_integrity(s);
	/* outside a transaction: refused */
	assert_int_equal(cas_db_large_begin(f->db), -1);
	sqlite3_close(s);
}

static int inner_cb(void *ctx, const struct cas_card *c)
{
	(void)c;
	((struct nest *)ctx)->inner++;
	return 0;
}

static int outer_cb(void *ctx, const struct cas_card *c)
{
	struct nest *n = ctx;
	struct cas_card g;
	n->outer++;
	/* reading inside a callback: another lookup and the same query again */
	assert_int_equal(cas_db_card_get(n->db, c->serial_no, &g), 0);
	assert_int_equal(cas_db_cards_each(n->db, inner_cb, n), 0);
	return n->outer == 2 ? 42 : 0;	/* stop after two */
}

static void test_iterator_stop_and_nesting(void **state)
{
	struct fx *f = *state;
	struct cas_card c;
	struct nest n = { 0, 0, 0 };
	f->db = open_db(f);
	for (uint32_t i = 0; i < 5; i++) {
		make_card(&c, 2100000070 + i);
		assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	}
	n.db = f->db;
	assert_int_equal(cas_db_cards_each(f->db, outer_cb, &n), 42);
	assert_int_equal(n.outer, 2);
	assert_int_equal(n.inner, 10);
	/* the cached statement is usable again */
	int count = 0;
	assert_int_equal(cas_db_cards_each(f->db, count_cb, &count), 0);
	assert_int_equal(count, 5);
}

/* ---- generators, settings, backup ---- */

static int gen_count(void *ctx, const struct cas_generator *g)
{
	(void)g;
	(*(int *)ctx)++;
	return 0;
}

static void test_generators(void **state)
{
	struct fx *f = *state;
	struct cas_generator g, r;
	f->db = open_db(f);
	memset(&g, 0, sizeof g);
	g.kind = CAS_GEN_EMMG;
	strcpy(g.name, "emmgd@mux1");
	strcpy(g.peer, "127.0.0.1:3333");
	strcpy(g.state, "connecting");
	strcpy(g.settings, "bandwidth=64 protocol_version=2");
	g.pid = 4242;
	g.started = T0;
	assert_int_equal(cas_db_gen_upsert(f->db, &g), 0);
	assert_int_equal(cas_db_gen_get(f->db, CAS_GEN_EMMG, "emmgd@mux1", &r), 0);
	assert_string_equal(r.peer, "127.0.0.1:3333");
	assert_string_equal(r.settings, "bandwidth=64 protocol_version=2");
	assert_int_equal(r.pid, 4242);
	assert_int_equal(r.updated, T0);
	assert_int_equal(cas_db_gen_get(f->db, CAS_GEN_ECMG, "emmgd@mux1", &r), CAS_DB_NOTFOUND);

	f->clock = T0 + 10;
	strcpy(g.state, "running");
	strcpy(g.peer, "ignored by a counter update");
	g.emms = 1234;
	g.bytes = 1234 * 188;
	g.queue_len = 99;
	g.cycle_ms = 60000;
	g.bandwidth = 64;
	g.last_seen = T0 + 9;
	assert_int_equal(cas_db_gen_update_counters(f->db, &g), 0);
	assert_int_equal(cas_db_gen_get(f->db, CAS_GEN_EMMG, "emmgd@mux1", &r), 0);
	assert_string_equal(r.state, "running");
	assert_string_equal(r.peer, "127.0.0.1:3333");
	assert_int_equal(r.emms, 1234);
	assert_int_equal(r.bytes, 1234 * 188);
	assert_int_equal(r.queue_len, 99);
	assert_int_equal(r.cycle_ms, 60000);
	assert_int_equal(r.last_seen, T0 + 9);
	assert_int_equal(r.updated, T0 + 10);

	/* upsert replaces */
	strcpy(g.peer, "10.0.0.2:3333");
	assert_int_equal(cas_db_gen_upsert(f->db, &g), 0);
	assert_int_equal(cas_db_gen_get(f->db, CAS_GEN_EMMG, "emmgd@mux1", &r), 0);
	assert_string_equal(r.peer, "10.0.0.2:3333");

	struct cas_generator e = { .kind = CAS_GEN_ECMG, .name = "ecmgd@2222" };
	e.cw_provisions = 7;
	e.ecms = 7;
	assert_int_equal(cas_db_gen_update_counters(f->db, &e), CAS_DB_NOTFOUND);
	assert_int_equal(cas_db_gen_upsert(f->db, &e), 0);
	int n = 0;
	assert_int_equal(cas_db_gen_each(f->db, gen_count, &n), 0);
	assert_int_equal(n, 2);
	sqlite3 *s = raw_open(f->path);
	assert_int_equal(q_int(s, "SELECT cw_provisions FROM generators WHERE kind = 'ecmg' AND name = 'ecmgd@2222'"), 7);
	sqlite3_close(s);
	assert_int_equal(cas_db_gen_delete(f->db, CAS_GEN_ECMG, "ecmgd@2222"), 0);
	assert_int_equal(cas_db_gen_delete(f->db, CAS_GEN_ECMG, "ecmgd@2222"), CAS_DB_NOTFOUND);
	struct cas_generator bad = { .kind = (enum cas_gen_kind)9, .name = "x" };
	assert_int_equal(cas_db_gen_upsert(f->db, &bad), -1);
	assert_string_equal(cas_db_errmsg(f->db), "generator x: unknown kind 9");
}

static void test_settings(void **state)
{
	struct fx *f = *state;
	char v[16];
	f->db = open_db(f);
	assert_int_equal(cas_db_setting_get(f->db, "emmg.reload", v, sizeof v), CAS_DB_NOTFOUND);
	assert_string_equal(v, "");
	assert_int_equal(cas_db_setting_set(f->db, "emmg.reload", "1"), 0);
	assert_int_equal(cas_db_setting_get(f->db, "emmg.reload", v, sizeof v), 0);
	assert_string_equal(v, "1");
	assert_int_equal(cas_db_setting_set(f->db, "emmg.reload", "0123456789abcde"), 0);
	assert_int_equal(cas_db_setting_get(f->db, "emmg.reload", v, sizeof v), 0);
	assert_string_equal(v, "0123456789abcde");
	assert_int_equal(cas_db_setting_set(f->db, "emmg.reload", "0123456789abcdef"), 0);
	assert_int_equal(cas_db_setting_get(f->db, "emmg.reload", v, sizeof v), -1);
	assert_string_equal(cas_db_errmsg(f->db), "setting emmg.reload: value longer than 15 bytes");
	assert_int_equal(cas_db_setting_set(f->db, "emmg.reload", NULL), 0);
	assert_int_equal(cas_db_setting_get(f->db, "emmg.reload", v, sizeof v), CAS_DB_NOTFOUND);
}

static void test_backup(void **state)
{
	struct fx *f = *state;
	struct cas_card c, g;
	struct cas_db *b = NULL;
	char bpath[200], buf[32];
	struct stat st;
	f->db = open_db(f);
	for (uint32_t i = 0; i < 10; i++) {
		make_card(&c, 2100000080 + i);
		assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	}
	snprintf(bpath, sizeof bpath, "%s/backup/cas-1.db", f->dir);
	assert_int_equal(cas_db_backup(f->db, bpath), 0);
	assert_int_equal(stat(bpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(buf, sizeof buf, "%s", "");
	char tmp[220];
	snprintf(tmp, sizeof tmp, "%s.tmp", bpath);
	assert_int_equal(access(tmp, F_OK), -1);
	/* a standalone file (no WAL needed to read it) */
	sqlite3 *s = raw_open(bpath);
	q_text(s, "PRAGMA journal_mode", buf, sizeof buf);
	assert_string_equal(buf, "delete");
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards"), 10);
	sqlite3_close(s);
	/* changes after the backup are not in it */
	make_card(&c, 2100000090);
	assert_int_equal(cas_db_card_insert(f->db, &c, &api), 0);
	/* it opens with the same master key; keys come back */
	assert_int_equal(cas_db_open(&b, bpath, &f->mk, NULL), 0);
	assert_int_equal(cas_db_card_get(b, 2100000085, &g), 0);
	make_card(&c, 2100000085);
	assert_memory_equal(g.key, c.key, 16);
	assert_int_equal(cas_db_card_get(b, 2100000090, &g), CAS_DB_NOTFOUND);
	cas_db_close(b);
	/* a second backup replaces the first */
	assert_int_equal(cas_db_backup(f->db, bpath), 0);
	s = raw_open(bpath);
	assert_int_equal(q_int(s, "SELECT count(*) FROM cards"), 11);
	sqlite3_close(s);
	/* a place it cannot be written */
	char bad[220];
	snprintf(bad, sizeof bad, "%s/backup/cas-1.db/x.db", f->dir);
	assert_int_equal(cas_db_backup(f->db, bad), -1);
	char want[400];
	snprintf(want, sizeof want, "unable to create folder %s/backup/cas-1.db: Not a directory", f->dir);
	assert_string_equal(cas_db_errmsg(f->db), want);
	cas_card_wipe(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_card_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_card_get_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_plaintext_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moved_key_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_master_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_no, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_card_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cards_view_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_insert_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_jobs_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_jobs_many_small_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_jobs_statement_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cards_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iterator_stop_and_nesting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generators, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
