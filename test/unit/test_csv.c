/* Unit tests: the CSV module (libcas/csv.c) — parsing and its error
 * messages, import into a real database (rows checked through a raw sqlite3
 * connection), all-or-nothing, export bytes, round trip.  Expected files are
 * written by hand from tvcas3.md §7. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "db.h"
#include "mkey.h"

#define S(x) x, sizeof(x) - 1
#define T0 1735689600LL	/* 2025-01-01 00:00:00 UTC */

static const struct cas_db_actor csv_actor = { "csv", "192.0.2.9" };

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

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	uint8_t m[32];
	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/test_csv.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/cas.db", f->dir);
	for (int i = 0; i < 32; i++)
		m[i] = (uint8_t)(3 + 5 * i);
	if (cas_mkey_from_bytes(&f->mk, m) < 0)
		return -1;
	f->clock = T0;
	if (cas_db_open(&f->db, f->path, &f->mk, NULL) != 0)
		return -1;
	cas_db_set_clock(f->db, fake_clock, &f->clock);
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

static const struct cas_csv_opts any = { CAS_CSV_AUTO, 0, 0, T0 };
static const struct cas_csv_opts oper = { CAS_CSV_OPERATOR, 2100000000u, 2109999999u, T0 };
static const struct cas_csv_opts admin = { CAS_CSV_ADMIN, 2100000000u, 2109999999u, T0 };

static void report_is(const struct cas_csv_report *r, const char *want)
{
	char got[4096];
	cas_csv_report_format(r, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("report:\n%s\nwanted:\n%s", got, want);
}

/* parse() must refuse `text` with exactly this report */
static void refused(const struct cas_csv_opts *o, const char *text, const char *want)
{
	struct cas_csv_report r;
	assert_int_equal(cas_csv_parse(text, strlen(text), o, NULL, NULL, &r), CAS_CSV_REJECTED);
	report_is(&r, want);
}

struct rows {
	size_t n;
	struct cas_csv_row row[8];
};

static int collect(void *ctx, const struct cas_csv_row *row, struct cas_csv_report *r)
{
	struct rows *rs = ctx;
	(void)r;
	if (rs->n < 8)
		rs->row[rs->n] = *row;
	rs->n++;
	return 0;
}

static void test_parse_valid(void **state)
{
	(void)state;
	struct cas_csv_report r;
	struct rows rs = { 0 };
	static const char op[] =
		"serial_no;name;info;access_criteria;pair;start;finish\n"
		"2100000000;Ivan;flat 1/2;01010101;0;1586693700;1589285580\n"
		"2100000001;;;ffffffff;1;0;0\r\n"
		"2100000002;\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F;\"quoted\" 'text' % `x`;00000000;0;0631152000;3155759999";
	assert_int_equal(cas_csv_parse(op, strlen(op), &oper, collect, &rs, &r), 0);
	assert_int_equal(r.layout, CAS_CSV_OPERATOR);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.nerrors, 0);
	assert_int_equal(rs.n, 3);
	const struct cas_card *c = &rs.row[0].card;
	assert_int_equal(rs.row[0].line, 2);
	assert_int_equal(c->serial_no, 2100000000u);
	assert_string_equal(c->name, "Ivan");
	assert_string_equal(c->info, "flat 1/2");
	assert_int_equal(c->access_criteria, 0x01010101u);
	assert_int_equal(c->pair, 0);
	assert_int_equal(c->start, 1586693700);
	assert_int_equal(c->finish, 1589285580);
	assert_int_equal(rs.row[0].fields, CAS_CARD_F_NAME | CAS_CARD_F_INFO | CAS_CARD_F_AC |
			 CAS_CARD_F_PAIR | CAS_CARD_F_START | CAS_CARD_F_FINISH);
	c = &rs.row[1].card;
	assert_int_equal(rs.row[1].line, 3);
	assert_string_equal(c->name, "");
	assert_int_equal(c->access_criteria, 0xFFFFFFFFu);
	assert_int_equal(c->pair, 1);
	assert_int_equal(c->start, 0);
	c = &rs.row[2].card;
	assert_string_equal(c->name, "\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F");
	assert_string_equal(c->info, "\"quoted\" 'text' % `x`");	/* kept byte for byte */
	assert_int_equal(c->finish, 3155759999LL);

	/* admin, layout detected from the header */
	static const char ad[] =
		"serial_no;name;info;key;access_criteria;type;pair;start;finish;edit\n"
		"2100000000;A;B;07C8BA92E8EA422E00EFCB68329AA4A9;0000000F;2;1;1704067200;1735689599;\n"
		"2100000005;;;07c8ba92e8ea422e00efcb68329aa4a9;0000000F;1;0;0;0;1700000000\n";
	memset(&rs, 0, sizeof rs);
	assert_int_equal(cas_csv_parse(ad, strlen(ad), &any, collect, &rs, &r), 0);
	assert_int_equal(r.layout, CAS_CSV_ADMIN);
	assert_int_equal(r.rows, 2);
	c = &rs.row[0].card;
	static const uint8_t key[16] = { 0x07, 0xC8, 0xBA, 0x92, 0xE8, 0xEA, 0x42, 0x2E,
					 0x00, 0xEF, 0xCB, 0x68, 0x32, 0x9A, 0xA4, 0xA9 };
	assert_memory_equal(c->key, key, 16);
	assert_int_equal(c->type, 2);
	assert_int_equal(c->pair, 1);
	assert_int_equal(rs.row[0].edit, -1);
	assert_int_equal(rs.row[1].edit, 1700000000);
	assert_memory_equal(rs.row[1].card.key, key, 16);
	assert_true(rs.row[0].fields & CAS_CARD_F_KEY);
	assert_true(rs.row[0].fields & CAS_CARD_F_TYPE);

	/* header only: valid, no rows */
	assert_int_equal(cas_csv_parse(S(CAS_CSV_HEADER_OPERATOR "\n"), &any, NULL, NULL, &r), 0);
	assert_int_equal(r.rows, 0);
	assert_int_equal(cas_csv_parse(S(CAS_CSV_HEADER_ADMIN), &any, NULL, NULL, &r), 0);
	assert_int_equal(r.layout, CAS_CSV_ADMIN);
}

static void test_parse_header_errors(void **state)
{
	(void)state;
	struct cas_csv_report r;
	assert_int_equal(cas_csv_parse(NULL, 0, &any, NULL, NULL, &r), CAS_CSV_REJECTED);
	report_is(&r, "line 1: header: missing (the file is empty)");
	refused(&any, "\xEF\xBB\xBF" CAS_CSV_HEADER_OPERATOR "\n",
		"line 1: header: starts with a byte order mark (save the file as UTF-8 without BOM)");
	refused(&any, "serial;name;info;ac;pair;start;finish\n2100000000;a;b;00000001;0;0;0\n",
		"line 1: header: expected \"serial_no;name;info;access_criteria;pair;start;finish\" "
		"(operator) or \"serial_no;name;info;key;access_criteria;type;pair;start;finish;edit\" (admin)");
	refused(&oper, "Serial_no;name;info;access_criteria;pair;start;finish\n",
		"line 1: header: expected \"serial_no;name;info;access_criteria;pair;start;finish\" "
		"(operator layout)");
	refused(&oper, CAS_CSV_HEADER_ADMIN "\n",
		"line 1: header: this is the admin layout, expected the operator layout");
	refused(&admin, CAS_CSV_HEADER_OPERATOR "\n",
		"line 1: header: this is the operator layout, expected the admin layout");
	refused(&any, "\n" CAS_CSV_HEADER_OPERATOR "\n",
		"line 1: header: expected \"serial_no;name;info;access_criteria;pair;start;finish\" "
		"(operator) or \"serial_no;name;info;key;access_criteria;type;pair;start;finish;edit\" (admin)");
}

static void test_parse_row_errors(void **state)
{
	(void)state;
	/* one error per field, each named with its line */
	refused(&oper,
		CAS_CSV_HEADER_OPERATOR "\n"
		"2100000000;a;b;0101010;0;1586693700;1589285580\n"
		"2100000001;a;b;01010101;2;1586693700;1589285580\n"
		"2100000002;a;b;01010101;0;123456789;1589285580\n"
		"2100000003;a;b;01010101;0;1586693700;1x\n"
		"2100000004;a\tb;b;01010101;0;1586693700;1589285580\n"
		"2100000005;a;caf\xE9;01010101;0;1586693700;1589285580\n"
		"2000000000;a;b;01010101;0;1586693700;1589285580\n"
		"21000000x7;a;b;01010101;0;1586693700;1589285580\n"
		"2100000008;a;b;01010101;0;1586693700\n"
		"\n"
		"2100000010;a;b;01010101;0;1586693700;3155760000;x\n",
		"line 2: access_criteria: must be exactly 8 hex digits\n"
		"line 3: pair: must be 0 or 1\n"
		"line 4: start: must be between 0631152000 (1990-01-01) and 3155759999 (2069-12-31 23:59:59 UTC), the Conax date range\n"
		"line 5: finish: must be a Unix time of at most 10 digits, or 0\n"
		"line 6: name: contains a control character\n"
		"line 7: info: is not valid UTF-8\n"
		"line 8: serial_no: out of range 2100000000..2109999999\n"
		"line 9: serial_no: must be a number\n"
		"line 10: 6 fields, expected 7 (operator layout)\n"
		"line 11: empty line (expected 7 fields)\n"
		"... and 1 more error");

	/* several bad fields on one line are all reported */
	refused(&admin,
		CAS_CSV_HEADER_ADMIN "\n"
		"2100000000;a;b;07C8;1234567G;0;x;3155760000;0631151999;12a\n",
		"line 2: key: must be exactly 32 hex digits\n"
		"line 2: access_criteria: must be exactly 8 hex digits\n"
		"line 2: type: must be 1 (protection on) or 2 (off)\n"
		"line 2: pair: must be 0 or 1\n"
		"line 2: start: must be between 0631152000 (1990-01-01) and 3155759999 (2069-12-31 23:59:59 UTC), the Conax date range\n"
		"line 2: finish: must be between 0631152000 (1990-01-01) and 3155759999 (2069-12-31 23:59:59 UTC), the Conax date range\n"
		"line 2: edit: must be empty or a number up to 4294967295");

	/* ';' cannot be data: it is one field too many */
	refused(&oper, CAS_CSV_HEADER_OPERATOR "\n2100000000;Ivanov; flat 5;b;01010101;0;0;0\n",
		"line 2: 8 fields, expected 7 (operator layout)");
	/* a CR inside a line (not before its LF) is a control character */
	refused(&oper, CAS_CSV_HEADER_OPERATOR "\n2100000000;a\rb;b;01010101;0;0;0\n",
		"line 2: name: contains a control character");
	/* name and info limits */
	char big[2000];
	int n = snprintf(big, sizeof big, "%s\n2100000000;", CAS_CSV_HEADER_OPERATOR);
	memset(big + n, 'n', 256);
	n += 256;
	n += snprintf(big + n, sizeof big - (size_t)n, ";x;01010101;0;0;0\n");
	refused(&oper, big, "line 2: name: longer than 255 bytes");

	/* a repeated serial: the later lines are the errors */
	refused(&oper,
		CAS_CSV_HEADER_OPERATOR "\n"
		"2100000001;a;b;01010101;0;0;0\n"
		"2100000002;a;b;01010101;0;0;0\n"
		"2100000001;a;b;01010101;0;0;0\n"
		"2100000001;c;d;01010101;0;0;0\n",
		"line 4: serial_no: 2100000001 repeats line 2\n"
		"line 5: serial_no: 2100000001 repeats line 2");
}

static void test_error_limit(void **state)
{
	(void)state;
	/* 30 bad lines: the first 10 by line are kept, whatever the order in
	 * which they were found (the repeats are found last) */
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof text, "%s\n", CAS_CSV_HEADER_OPERATOR);
	n += (size_t)snprintf(text + n, sizeof text - n, "2100000000;a;b;01010101;0;0;0\n");
	for (int i = 0; i < 5; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "2100000000;a;b;01010101;0;0;0\n");
	for (int i = 0; i < 25; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "21000001%02d;a;b;0101010Z;0;0;0\n", i);
	struct cas_csv_report r;
	assert_int_equal(cas_csv_parse(text, n, &oper, NULL, NULL, &r), CAS_CSV_REJECTED);
	assert_int_equal(r.nerrors, 30);
	assert_int_equal(r.kept, 10);
	report_is(&r,
		  "line 3: serial_no: 2100000000 repeats line 2\n"
		  "line 4: serial_no: 2100000000 repeats line 2\n"
		  "line 5: serial_no: 2100000000 repeats line 2\n"
		  "line 6: serial_no: 2100000000 repeats line 2\n"
		  "line 7: serial_no: 2100000000 repeats line 2\n"
		  "line 8: access_criteria: must be exactly 8 hex digits\n"
		  "line 9: access_criteria: must be exactly 8 hex digits\n"
		  "line 10: access_criteria: must be exactly 8 hex digits\n"
		  "line 11: access_criteria: must be exactly 8 hex digits\n"
		  "line 12: access_criteria: must be exactly 8 hex digits\n"
		  "... and 20 more errors");
	char small[40];
	assert_int_equal(cas_csv_report_format(&r, small, sizeof small), 39);
	assert_int_equal(strlen(small), 39);
	assert_int_equal(cas_csv_report_format(&r, small, 0), 0);
}

/* ---- with a database ---- */

/* Every card row and the change sequence, as text: what "nothing changed"
 * compares. */
static void dump(struct fx *f, char *out, size_t size)
{
	sqlite3 *s;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(f->path, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(s,
		"SELECT serial_no || '|' || name || '|' || info || '|' || hex(key) || '|' || "
		"access_criteria || '|' || pair || '|' || type || '|' || start || '|' || finish || '|' || "
		"status || '|' || created || '|' || edited || '|' || change_no FROM cards "
		"UNION ALL SELECT 'seq ' || value FROM seq "
		"UNION ALL SELECT 'audit ' || count(*) FROM audit", -1, &st, NULL), SQLITE_OK);
	size_t len = 0;
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		int n = snprintf(out + len, size - len, "%s\n", (const char *)sqlite3_column_text(st, 0));
		assert_true(n > 0 && (size_t)n < size - len);
		len += (size_t)n;
	}
	sqlite3_finalize(st);
	sqlite3_close(s);
}

static int64_t q_int(struct fx *f, const char *sql)
{
	sqlite3 *s;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(f->path, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(s));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(s);
	return v;
}

static void q_text(struct fx *f, const char *sql, char *out, size_t size)
{
	sqlite3 *s;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(f->path, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(s));
	out[0] = '\0';
	size_t len = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		int n = snprintf(out + len, size - len, "%s\n", t ? (const char *)t : "NULL");
		assert_true(n > 0 && (size_t)n < size - len);
		len += (size_t)n;
	}
	sqlite3_finalize(st);
	sqlite3_close(s);
}

static const char admin_file[] =
	"serial_no;name;info;key;access_criteria;type;pair;start;finish;edit\n"
	"2100000002;\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F;Moscow, Krasnaya square 1/2;"
	"00112233445566778899AABBCCDDEEFF;FFFFFFFF;1;0;1596955440;1602674640;\n"
	"2100000000;Ivan;flat 1;07c8ba92e8ea422e00efcb68329aa4a9;00000001;2;1;1704067200;1735689599;123\n"
	"2100000001;;;0102030405060708090A0B0C0D0E0F10;0000000f;1;0;0;0;\n";

static void test_import_admin_creates(void **state)
{
	struct fx *f = *state;
	struct cas_csv_report r;
	char out[4096];
	assert_int_equal(cas_csv_import(f->db, S(admin_file), &admin, &csv_actor, &r), 0);
	assert_int_equal(r.layout, CAS_CSV_ADMIN);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.added, 3);
	assert_int_equal(r.updated, 0);
	assert_int_equal(r.unchanged, 0);
	q_text(f, "SELECT serial_no || '|' || name || '|' || info || '|' || access_criteria || '|' || "
		  "type || '|' || pair || '|' || start || '|' || finish || '|' || status || '|' || "
		  "created || '|' || edited || '|' || length(key) FROM cards ORDER BY serial_no",
	       out, sizeof out);
	assert_string_equal(out,
		"2100000000|Ivan|flat 1|1|2|1|1704067200|1735689599|1|1735689600|1735689600|57\n"
		"2100000001|||15|1|0|0|0|1|1735689600|1735689600|57\n"
		"2100000002|\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F|Moscow, Krasnaya square 1/2|4294967295|1|0|"
		"1596955440|1602674640|1|1735689600|1735689600|57\n");
	/* the key is stored wrapped, and unwraps to the file's key */
	struct cas_card c;
	assert_int_equal(cas_db_card_get(f->db, 2100000000u, &c), 0);
	static const uint8_t key[16] = { 0x07, 0xC8, 0xBA, 0x92, 0xE8, 0xEA, 0x42, 0x2E,
					 0x00, 0xEF, 0xCB, 0x68, 0x32, 0x9A, 0xA4, 0xA9 };
	assert_memory_equal(c.key, key, 16);
	assert_int_equal(q_int(f, "SELECT count(*) FROM cards WHERE instr(hex(key), '07C8BA92E8EA422E') > 0"), 0);
	/* three change numbers drawn; one "created" row and the import summary */
	assert_int_equal(q_int(f, "SELECT value FROM seq WHERE name = 'card_change'"), 3);
	q_text(f, "SELECT who || '|' || addr || '|' || coalesce(serial_no, '') || '|' || message FROM audit ORDER BY id",
	       out, sizeof out);
	assert_string_equal(out,
		"csv|192.0.2.9||3 cards created (2100000002..2100000001)\n"
		"csv|192.0.2.9||CSV import (admin layout): 3 rows, 3 added, 0 updated, 0 unchanged\n");
	cas_card_wipe(&c);
}

static void test_import_operator_updates(void **state)
{
	struct fx *f = *state;
	struct cas_csv_report r;
	char out[4096];
	assert_int_equal(cas_csv_import(f->db, S(admin_file), &admin, &csv_actor, &r), 0);
	f->clock = T0 + 100;
	static const char op[] =
		"serial_no;name;info;access_criteria;pair;start;finish\n"
		"2100000000;Ivan;flat 1;00000003;1;1704067200;1767225599\n"	/* ac, finish */
		"2100000001;;;0000000F;0;0;0\n"					/* the same */
		"2100000002;Maria;Moscow, Krasnaya square 1/2;FFFFFFFF;0;1596955440;1602674640\n";	/* name */
	assert_int_equal(cas_csv_import(f->db, S(op), &oper, &csv_actor, &r), 0);
	assert_int_equal(r.layout, CAS_CSV_OPERATOR);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.added, 0);
	assert_int_equal(r.updated, 2);
	assert_int_equal(r.unchanged, 1);
	q_text(f, "SELECT serial_no || '|' || field || '|' || old_value || '|' || new_value FROM audit "
		  "WHERE field IS NOT NULL ORDER BY id", out, sizeof out);
	assert_string_equal(out,
		"2100000000|access_criteria|00000001|00000003\n"
		"2100000000|finish|1735689599|1767225599\n"
		"2100000002|name|\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F|Maria\n");
	/* type and key are not in the operator layout: untouched */
	assert_int_equal(q_int(f, "SELECT type FROM cards WHERE serial_no = 2100000000"), 2);
	/* changed cards took new change numbers and the new edit time; the
	 * unchanged one kept its own (3: the file created 2100000002 first) */
	q_text(f, "SELECT serial_no || '|' || change_no || '|' || edited FROM cards ORDER BY serial_no", out, sizeof out);
	assert_string_equal(out,
		"2100000000|4|1735689700\n"
		"2100000001|3|1735689600\n"
		"2100000002|5|1735689700\n");
}

static void test_import_bad_row_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cas_csv_report r;
	char before[8192], after[8192];
	assert_int_equal(cas_csv_import(f->db, S(admin_file), &admin, &csv_actor, &r), 0);
	dump(f, before, sizeof before);
	/* 3 good rows (1 new) and one bad one at the end */
	static const char bad[] =
		"serial_no;name;info;key;access_criteria;type;pair;start;finish;edit\n"
		"2100000000;Ivan;changed;07C8BA92E8EA422E00EFCB68329AA4A9;00000001;2;1;1704067200;1735689599;\n"
		"2100000003;New;;07C8BA92E8EA422E00EFCB68329AA4A9;00000001;2;1;1704067200;1735689599;\n"
		"2100000001;;;0102030405060708090A0B0C0D0E0F10;0000000f;1;0;0;0;\n"
		"2100000002;x;y;00112233445566778899AABBCCDDEEFF;FFFFFFFFF;1;0;1596955440;1602674640;\n";
	assert_int_equal(cas_csv_import(f->db, S(bad), &admin, &csv_actor, &r), CAS_CSV_REJECTED);
	report_is(&r, "line 5: access_criteria: must be exactly 8 hex digits");
	assert_int_equal(r.added + r.updated + r.unchanged, 0);
	dump(f, after, sizeof after);
	assert_string_equal(after, before);

	/* the operator layout names a card that does not exist: refused in the
	 * second pass, after row 2 was already updated in the transaction */
	static const char ghost[] =
		"serial_no;name;info;access_criteria;pair;start;finish\n"
		"2100000000;Ivan;changed;00000003;1;1704067200;1767225599\n"
		"2100000077;a;b;00000001;0;0;0\n"
		"2100000001;;;0000000F;0;0;0\n"
		"2100000078;a;b;00000001;0;0;0\n";
	assert_int_equal(cas_csv_import(f->db, S(ghost), &oper, &csv_actor, &r), CAS_CSV_REJECTED);
	report_is(&r,
		  "line 3: serial_no: no card 2100000077 (the operator layout only updates cards; "
		  "create cards with the admin layout or casprog)\n"
		  "line 5: serial_no: no card 2100000078 (the operator layout only updates cards; "
		  "create cards with the admin layout or casprog)");
	dump(f, after, sizeof after);
	assert_string_equal(after, before);
	assert_int_equal(cas_db_in_transaction(f->db), 0);
}

static void test_import_renews_expired(void **state)
{
	struct fx *f = *state;
	struct cas_csv_report r;
	assert_int_equal(cas_csv_import(f->db, S(admin_file), &admin, &csv_actor, &r), 0);
	/* cascron expired 2100000000 (finish 1735689599 < now) */
	f->clock = T0 + 10;
	int64_t n = 0;
	static const struct cas_db_actor cron = { "cron", NULL };
	assert_int_equal(cas_db_cards_expire(f->db, T0 + 10, &cron, &n), 0);
	assert_int_equal(q_int(f, "SELECT status FROM cards WHERE serial_no = 2100000000"), CAS_CARD_EXPIRED);
	/* the same finish again: still expired */
	struct cas_csv_opts o = oper;
	o.now = T0 + 10;
	static const char same[] = "serial_no;name;info;access_criteria;pair;start;finish\n"
				   "2100000000;Ivan;flat 1;00000001;1;1704067200;1735689599\n";
	assert_int_equal(cas_csv_import(f->db, S(same), &o, &csv_actor, &r), 0);
	assert_int_equal(r.unchanged, 1);
	assert_int_equal(q_int(f, "SELECT status FROM cards WHERE serial_no = 2100000000"), CAS_CARD_EXPIRED);
	/* renewed: finish in the future makes it active again, audited */
	static const char renew[] = "serial_no;name;info;access_criteria;pair;start;finish\n"
				    "2100000000;Ivan;flat 1;00000001;1;1704067200;1767225599\n";
	assert_int_equal(cas_csv_import(f->db, S(renew), &o, &csv_actor, &r), 0);
	assert_int_equal(r.updated, 1);
	assert_int_equal(q_int(f, "SELECT status FROM cards WHERE serial_no = 2100000000"), CAS_CARD_ACTIVE);
	assert_int_equal(q_int(f, "SELECT count(*) FROM audit WHERE who = 'csv' AND field = 'status' "
			       "AND old_value = '2' AND new_value = '1'"), 1);
}

/* A file as large as the table (25,000 rows, past the large-job threshold
 * of csv.c): created with the admin layout, then every card's packages
 * changed with the operator layout, a bad last row refused, a renewal in
 * the middle.  The rows are those of small files: one audit row per
 * change, change numbers in the file's order; and the table's indexes and
 * trigger are all back afterwards. */
static char *big_file(int admin_layout, uint32_t ac, int bad_last, uint32_t renewed, size_t *len)
{
	enum { N = 25000 };
	size_t cap = (size_t)N * 120 + 200, n = 0;
	char *t = malloc(cap);
	assert_non_null(t);
	n += (size_t)snprintf(t + n, cap - n, "%s\n", admin_layout ? CAS_CSV_HEADER_ADMIN : CAS_CSV_HEADER_OPERATOR);
	for (uint32_t i = 0; i < N; i++) {
		uint32_t serial = 2100000000u + (i * 7919u) % N;	/* not in serial order */
		long long finish = serial == renewed ? T0 + 86400 : T0 - 10;
		if (admin_layout)
			n += (size_t)snprintf(t + n, cap - n, "%u;card %u;;%032X;%08X;1;0;1704067200;%lld;\n",
					      serial, serial, serial, ac, finish);
		else
			n += (size_t)snprintf(t + n, cap - n, "%u;card %u;;%08X;0;1704067200;%lld\n", serial,
					      serial, ac, finish);
	}
	if (bad_last)
		n += (size_t)snprintf(t + n, cap - n, "2100099999;x;;0000000G;0;0;0\n");
	*len = n;
	return t;
}

static void test_import_large(void **state)
{
	struct fx *f = *state;
	struct cas_csv_report r;
	char schema[4000], after[4000], text[300];
	size_t len;
	q_text(f, "SELECT group_concat(name || ': ' || sql, '; ') FROM (SELECT * FROM sqlite_master "
	       "WHERE tbl_name = 'cards' ORDER BY name)", schema, sizeof schema);
	char *file = big_file(1, 0x01, 0, 0, &len);
	assert_int_equal(cas_csv_import(f->db, file, len, &admin, &csv_actor, &r), 0);
	free(file);
	assert_int_equal(r.added, 25000);
	assert_int_equal(q_int(f, "SELECT count(*) FROM cards WHERE access_criteria = 1 AND key IS NOT NULL"), 25000);

	/* cascron expires them all (finish T0 - 10), then billing renews one */
	f->clock = T0 + 5;
	int64_t n = 0;
	static const struct cas_db_actor cron = { "cron", NULL };
	assert_int_equal(cas_db_cards_expire(f->db, T0 + 5, &cron, &n), 0);
	assert_int_equal(n, 25000);
	int64_t max0 = q_int(f, "SELECT value FROM seq");

	/* a bad last row: nothing of the 25,000 good ones is written */
	f->clock = T0 + 60;
	struct cas_csv_opts o = oper;
	o.now = T0 + 60;
	file = big_file(0, 0xF0, 1, 2100000005u, &len);
	assert_int_equal(cas_csv_import(f->db, file, len, &o, &csv_actor, &r), CAS_CSV_REJECTED);
	report_is(&r, "line 25002: access_criteria: must be exactly 8 hex digits");
	assert_int_equal(q_int(f, "SELECT count(*) FROM cards WHERE access_criteria = 1"), 25000);
	assert_int_equal(q_int(f, "SELECT value FROM seq"), max0);
	free(file);

	/* applied as a large job: the indexes were built again (the schema
	 * version moved), which the rollback above undid */
	int64_t version = q_int(f, "PRAGMA schema_version");
	file = big_file(0, 0xF0, 0, 2100000005u, &len);
	assert_int_equal(cas_csv_import(f->db, file, len, &o, &csv_actor, &r), 0);
	assert_int_not_equal(q_int(f, "PRAGMA schema_version"), version);
	assert_int_equal(r.updated, 25000);
	assert_int_equal(r.unchanged, 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM cards WHERE access_criteria = 240 AND edited = 1735689660"),
			 25000);
	assert_int_equal(q_int(f, "SELECT count(*) FROM audit WHERE who = 'csv' AND time = 1735689660 AND "
			       "field = 'access_criteria' AND old_value = '00000001' AND new_value = '000000F0'"),
			 25000);
	/* the renewal: 2100000005's finish is in the future */
	q_text(f, "SELECT group_concat(field || ':' || old_value || '>' || new_value, ' ') FROM "
	       "(SELECT * FROM audit WHERE serial_no = 2100000005 AND time = 1735689660 ORDER BY id)",
	       text, sizeof text);
	assert_string_equal(text, "access_criteria:00000001>000000F0 finish:1735689590>1735776000 status:2>1\n");
	assert_int_equal(q_int(f, "SELECT count(*) FROM cards WHERE status = 1"), 1);
	/* change numbers follow the file's lines */
	q_text(f, "SELECT group_concat(serial_no) FROM (SELECT serial_no FROM cards WHERE change_no > "
	       "(SELECT value FROM seq) - 3 ORDER BY change_no)", text, sizeof text);
	assert_string_equal(text, "2100001243,2100009162,2100017081\n");
	assert_int_equal(q_int(f, "SELECT value FROM seq"), max0 + 25000);
	free(file);

	q_text(f, "SELECT group_concat(name || ': ' || sql, '; ') FROM (SELECT * FROM sqlite_master "
	       "WHERE tbl_name = 'cards' ORDER BY name)", after, sizeof after);
	assert_string_equal(after, schema);
	q_text(f, "PRAGMA integrity_check", text, sizeof text);
	assert_string_equal(text, "ok\n");
}

struct sink {
	char buf[16384];
	size_t len;
	int calls;
	int fail_at;	/* call number that fails, 0 = never */
};

static int sink_write(void *ctx, const char *data, size_t len)
{
	struct sink *s = ctx;
	s->calls++;
	if (s->fail_at && s->calls == s->fail_at)
		return -1;
	assert_true(s->len + len < sizeof s->buf);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return 0;
}

static void test_export(void **state)
{
	struct fx *f = *state;
	struct cas_csv_report r;
	struct sink s = { .len = 0 };
	char err[200];
	size_t rows = 99;
	/* an empty database: the header alone */
	assert_int_equal(cas_csv_export(f->db, CAS_CSV_OPERATOR, sink_write, &s, &rows, err, sizeof err), 0);
	assert_string_equal(s.buf, "serial_no;name;info;access_criteria;pair;start;finish\n");
	assert_int_equal(rows, 0);

	assert_int_equal(cas_csv_import(f->db, S(admin_file), &admin, &csv_actor, &r), 0);
	memset(&s, 0, sizeof s);
	assert_int_equal(cas_csv_export(f->db, CAS_CSV_OPERATOR, sink_write, &s, &rows, err, sizeof err), 0);
	assert_int_equal(rows, 3);
	assert_string_equal(s.buf,
		"serial_no;name;info;access_criteria;pair;start;finish\n"
		"2100000000;Ivan;flat 1;00000001;1;1704067200;1735689599\n"
		"2100000001;;;0000000F;0;0;0\n"
		"2100000002;\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F;Moscow, Krasnaya square 1/2;FFFFFFFF;0;"
		"1596955440;1602674640\n");
	memset(&s, 0, sizeof s);
	assert_int_equal(cas_csv_export(f->db, CAS_CSV_ADMIN, sink_write, &s, &rows, err, sizeof err), 0);
	assert_string_equal(s.buf,
		"serial_no;name;info;key;access_criteria;type;pair;start;finish;edit\n"
		"2100000000;Ivan;flat 1;07C8BA92E8EA422E00EFCB68329AA4A9;00000001;2;1;1704067200;1735689599;1735689600\n"
		"2100000001;;;0102030405060708090A0B0C0D0E0F10;0000000F;1;0;0;0;1735689600\n"
		"2100000002;\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F;Moscow, Krasnaya square 1/2;"
		"00112233445566778899AABBCCDDEEFF;FFFFFFFF;1;0;1596955440;1602674640;1735689600\n");

	/* the sink fails */
	memset(&s, 0, sizeof s);
	s.fail_at = 1;
	assert_int_equal(cas_csv_export(f->db, CAS_CSV_ADMIN, sink_write, &s, &rows, err, sizeof err), -1);
	assert_string_equal(err, "unable to write the CSV");

	/* a card that CSV cannot hold (written by other means) */
	struct cas_card c;
	assert_int_equal(cas_db_card_get(f->db, 2100000001u, &c), 0);
	strcpy(c.name, "a;b");
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_NAME, &csv_actor, NULL), 0);
	memset(&s, 0, sizeof s);
	assert_int_equal(cas_csv_export(f->db, CAS_CSV_OPERATOR, sink_write, &s, &rows, err, sizeof err), -1);
	assert_string_equal(err, "card 2100000001: name contains ';', which CSV cannot hold");
	strcpy(c.name, "");
	strcpy(c.info, "line\nbreak");
	assert_int_equal(cas_db_card_update(f->db, &c, CAS_CARD_F_NAME | CAS_CARD_F_INFO, &csv_actor, NULL), 0);
	assert_int_equal(cas_csv_export(f->db, CAS_CSV_OPERATOR, sink_write, &s, &rows, err, sizeof err), -1);
	assert_string_equal(err, "card 2100000001: info contains a line break, which CSV cannot hold");
	cas_card_wipe(&c);
}

struct gsink {
	char *buf;
	size_t len, cap;
};

static int gsink_write(void *ctx, const char *data, size_t len)
{
	struct gsink *g = ctx;
	if (g->len + len + 1 > g->cap) {
		g->cap = (g->len + len + 1) * 2;
		g->buf = realloc(g->buf, g->cap);
		assert_non_null(g->buf);
	}
	memcpy(g->buf + g->len, data, len);
	g->len += len;
	g->buf[g->len] = '\0';
	return 0;
}

/* export -> import -> nothing changes -> export gives the same bytes */
static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct cas_csv_report r;
	char err[200];
	size_t rows;
	/* 3000 cards with varied fields, created through the db layer: the
	 * export crosses its 64 KiB pieces */
	const uint32_t N = 3000;
	struct cas_card *cards = calloc(N, sizeof *cards);
	assert_non_null(cards);
	for (uint32_t i = 0; i < N; i++) {
		struct cas_card *c = &cards[i];
		c->serial_no = 2100000000u + (i * 7919u) % 9999999u;	/* not in insertion order */
		snprintf(c->name, sizeof c->name, "Name %u \xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD", i);
		if (i % 3)
			snprintf(c->info, sizeof c->info, "info/%u \"q\" 'a' %% \\ +", i);
		for (int k = 0; k < 16; k++)
			c->key[k] = (uint8_t)(i * 13 + (uint32_t)k);
		c->access_criteria = i * 0x01010101u;
		c->pair = (int)(i & 1);
		c->type = i % 5 ? 1 : 2;
		c->start = i % 7 ? 1600000000 + i : 0;
		c->finish = i % 7 ? 1700000000 + i * 1000 : 0;
		c->status = CAS_CARD_ACTIVE;
	}
	assert_int_equal(cas_db_cards_insert(f->db, cards, N, &csv_actor), 0);
	free(cards);
	char *before = malloc(1 << 20), *after = malloc(1 << 20);
	assert_true(before && after);
	for (int layout = CAS_CSV_OPERATOR; layout <= CAS_CSV_ADMIN; layout++) {
		struct gsink g1 = { NULL, 0, 0 }, g2 = { NULL, 0, 0 };
		assert_int_equal(cas_csv_export(f->db, (enum cas_csv_layout)layout, gsink_write, &g1,
						&rows, err, sizeof err), 0);
		assert_int_equal(rows, N);
		dump(f, before, 1 << 20);
		f->clock += 60;
		struct cas_csv_opts o = { CAS_CSV_AUTO, 0, 0, T0 };
		assert_int_equal(cas_csv_import(f->db, g1.buf, g1.len, &o, &csv_actor, &r), 0);
		assert_int_equal(r.layout, layout);
		assert_int_equal(r.rows, N);
		assert_int_equal(r.unchanged, N);
		assert_int_equal(r.added + r.updated, 0);
		dump(f, after, 1 << 20);
		/* the same rows; only the import summary was added to the audit */
		char *ab = strstr(before, "audit "), *aa = strstr(after, "audit ");
		assert_non_null(ab);
		assert_non_null(aa);
		assert_int_equal(atoi(aa + 6), atoi(ab + 6) + 1);
		*ab = *aa = '\0';
		assert_string_equal(after, before);
		assert_int_equal(cas_csv_export(f->db, (enum cas_csv_layout)layout, gsink_write, &g2,
						&rows, err, sizeof err), 0);
		assert_int_equal(g2.len, g1.len);
		assert_memory_equal(g2.buf, g1.buf, g1.len);
		/* ordered by serial */
		const char *p = strchr(g1.buf, '\n') + 1;
		unsigned long prev = 0;
		for (uint32_t i = 0; i < N; i++) {
			unsigned long s = strtoul(p, NULL, 10);
			assert_true(s > prev);
			prev = s;
			p = strchr(p, '\n') + 1;
		}
		assert_int_equal(*p, '\0');
		free(g1.buf);
		free(g2.buf);
	}
	free(before);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_header_errors),
		cmocka_unit_test(test_parse_row_errors),
		cmocka_unit_test(test_error_limit),
		cmocka_unit_test_setup_teardown(test_import_admin_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_operator_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_bad_row_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_renews_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
