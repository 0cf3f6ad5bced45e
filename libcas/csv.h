#ifndef CAS_CSV_H
#define CAS_CSV_H
/*
 * Card lists as CSV, in the two layouts of TVCAS 3 (tvcas3.md §7): one
 * header line, then one card per line; fields separated by ';', lines
 * ended by "\n", UTF-8 without BOM, no quoting (so a field can never hold
 * ';' or a line break: cas_field_text() refuses both on the way in).
 *
 *   operator: serial_no;name;info;access_criteria;pair;start;finish
 *   admin:    serial_no;name;info;key;access_criteria;type;pair;start;finish;edit
 *
 * Export writes the header, then every card ordered by serial_no:
 * access_criteria as 8 upper-case hex digits, key as 32 upper-case hex
 * digits, edit = the card's last change (Unix time).
 *
 * Import is all-or-nothing.  Every row is checked first; a bad row is
 * reported with its line number and field, e.g.
 *     line 17: access_criteria: must be exactly 8 hex digits
 * (the first CAS_CSV_MAX_ERRORS errors by line are kept, and the total is
 * counted).  Only a file without any error is applied: one transaction that
 * upserts every row by serial_no through the database layer (db.h), so each
 * changed field is audited and the card's change number moves.  Rules
 * (field.h has the exact checks):
 *   - the header must be exactly one of the two lines above (TVCAS 3 only
 *     counted its fields); a CR before each LF is accepted, a BOM is not;
 *   - every line has exactly the layout's number of fields;
 *   - serial_no: decimal, within the serial range given; each serial at
 *     most once per file;
 *   - name <= 255 bytes, info <= 1023 bytes, well-formed UTF-8, no control
 *     character (TVCAS 3 stripped ` ' ; % instead; FreeCAS keeps every byte
 *     or refuses the line);
 *   - access_criteria exactly 8 hex digits; pair 0 or 1; type 1 or 2;
 *   - start and finish: a Unix time of 1 to 10 digits within the Conax
 *     date range (1990-01-01 .. 2069-12-31 UTC), or 0 (no date); export
 *     writes them as plain numbers, as TVCAS 3 did;
 *   - key (admin) exactly 32 hex digits; edit (admin) empty or a number,
 *     and ignored: the database sets the change time itself;
 *   - operator layout: the card must exist (TVCAS 3 created cards without
 *     a key; FreeCAS refuses: create cards with the admin layout or casprog);
 *   - admin layout: a new serial creates the card (status active).
 * A card that cascron marked expired becomes active again when the import
 * gives it a finish that is not in the past (billing renewed it).
 */
#include <stddef.h>
#include <stdint.h>

#include "db.h"

enum cas_csv_layout {
	CAS_CSV_AUTO = 0,	/* import: take the layout from the header */
	CAS_CSV_OPERATOR = 1,
	CAS_CSV_ADMIN = 2,
};

#define CAS_CSV_HEADER_OPERATOR "serial_no;name;info;access_criteria;pair;start;finish"
#define CAS_CSV_HEADER_ADMIN "serial_no;name;info;key;access_criteria;type;pair;start;finish;edit"

/* cas_csv_parse / cas_csv_import: the file was refused, nothing written. */
#define CAS_CSV_REJECTED 1

#define CAS_CSV_MAX_ERRORS 10
#define CAS_CSV_ERROR_SIZE 320

/* "operator" or "admin" ("auto" for CAS_CSV_AUTO). */
const char *cas_csv_layout_name(enum cas_csv_layout l);
/* Parses "operator" (or "oper", TVCAS 3's file suffix) and "admin". */
int cas_csv_layout_parse(const char *name, enum cas_csv_layout *out);
/* The header line of a layout, without "\n". */
const char *cas_csv_header(enum cas_csv_layout l);

struct cas_csv_opts {
	enum cas_csv_layout layout;	/* expected layout, or CAS_CSV_AUTO */
	uint32_t serial_min, serial_max;	/* accepted serials; 0, 0 = 1..4294967295 */
	int64_t now;			/* import: the time for the renewal rule; 0 = time(NULL) */
};

/* What a parse or an import found and did. */
struct cas_csv_report {
	enum cas_csv_layout layout;	/* the layout of the header */
	size_t rows;			/* data lines */
	size_t added, updated, unchanged;	/* import only */
	size_t nerrors;			/* errors found */
	size_t kept;			/* errors kept below (the first by line) */
	struct {
		size_t line;
		size_t seq;
		char text[CAS_CSV_ERROR_SIZE];	/* "line 17: access_criteria: must be ..." */
	} err[CAS_CSV_MAX_ERRORS];
	char fail[600];			/* a system or database failure, else "" */
};

/* One valid data line. */
struct cas_csv_row {
	size_t line;
	unsigned fields;	/* CAS_CARD_F_* the layout carries */
	struct cas_card card;	/* serial_no and those fields; key in clear (admin) */
	int64_t edit;		/* admin: the edit column, -1 when empty */
};

/* Called for each data line that is valid on its own (the check for
 * repeated serials comes after the last line).  Return 0 to go on, 1 after
 * recording an error with cas_csv_report_error() (the row is refused, the
 * parse goes on), or -1 to stop with r->fail set. */
typedef int cas_csv_row_fn(void *ctx, const struct cas_csv_row *row, struct cas_csv_report *r);

/* Checks a whole file (no database): header, every line, repeated serials.
 * cb may be NULL.  Returns 0 if the file is valid, CAS_CSV_REJECTED with
 * the errors in r, or -1 (out of memory, or the callback's failure). */
int cas_csv_parse(const char *text, size_t len, const struct cas_csv_opts *o,
		  cas_csv_row_fn *cb, void *ctx, struct cas_csv_report *r);

/* Checks, then applies the file in one transaction (none may be open).
 * Returns 0 (r->added/updated/unchanged set), CAS_CSV_REJECTED (errors in
 * r, nothing written) or -1 (database failure in r->fail, nothing
 * written).  Also writes one audit row summing the import up. */
int cas_csv_import(struct cas_db *db, const char *text, size_t len, const struct cas_csv_opts *o,
		   const struct cas_db_actor *who, struct cas_csv_report *r);

/* Records an error for line `line` ("line N: " is prefixed). */
void cas_csv_report_error(struct cas_csv_report *r, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The kept errors, one per line, in line order, then "... and N more
 * errors" if some were not kept; or r->fail.  Returns the length written
 * (truncated to size - 1). */
size_t cas_csv_report_format(const struct cas_csv_report *r, char *out, size_t size);

/* Export sink: returns 0, or -1 to stop the export. */
typedef int cas_csv_write_fn(void *ctx, const char *data, size_t len);

/* One card as a CSV line with its "\n" (len in *len).  Returns -1 with err
 * set ("card 2100000005: name contains ';', which CSV cannot hold") if a
 * text field holds ';', CR or LF, or if out is too small. */
int cas_csv_format_row(const struct cas_card *c, enum cas_csv_layout layout, char *out,
		       size_t size, size_t *len, char *err, size_t errsize);

/* Writes the header and every card by serial_no (one read snapshot) to w,
 * in pieces of about 64 KiB.  *rows (may be NULL) gets the number of cards.
 * Returns 0, or -1 with err set (a card CSV cannot hold, a database
 * failure, or "unable to write the CSV" when w failed). */
int cas_csv_export(struct cas_db *db, enum cas_csv_layout layout, cas_csv_write_fn *w,
		   void *ctx, size_t *rows, char *err, size_t errsize);

#endif
