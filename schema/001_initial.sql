-- FreeCAS schema, version 1: cards, their change sequence, the audit log,
-- settings and the migration bookkeeping.
--
-- Applied by cas_db_open() inside one transaction, which then records the
-- version in schema_migrations and in PRAGMA user_version (libcas/db.c).
-- Times are Unix seconds (UTC).  Card keys are never stored in clear: the
-- key column holds the 16-byte card key wrapped with the master key
-- (libcas/mkey.h), so the database file alone reveals no key.

CREATE TABLE schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied INTEGER NOT NULL
);

-- Named counters.  'card_change' is the one sequence every change of a card
-- (insert, update, delete) draws its change_no from, so emmgd can ask for
-- "cards with change_no > N".  Writers hold SQLite's single write lock while
-- they draw a number, so numbers commit in order and a reader that sees
-- change N also sees every change before it.
CREATE TABLE seq (
	name TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO seq (name, value) VALUES ('card_change', 0);

-- serial_no is the rowid: a point lookup is one b-tree search, and a card
-- cannot be renumbered by an update (tvcas3.md §8).
CREATE TABLE cards (
	serial_no INTEGER PRIMARY KEY
		CHECK (serial_no BETWEEN 0 AND 4294967295),
	name TEXT NOT NULL DEFAULT ''
		CHECK (length(CAST(name AS BLOB)) <= 255),
	info TEXT NOT NULL DEFAULT ''
		CHECK (length(CAST(info AS BLOB)) <= 1023),
	-- version byte, 24-byte nonce, 16-byte ciphertext, 16-byte tag
	key BLOB NOT NULL CHECK (length(key) = 57),
	-- 32-bit package mask (TVCAS shows it as 8 hex digits)
	access_criteria INTEGER NOT NULL DEFAULT 0
		CHECK (access_criteria BETWEEN 0 AND 4294967295),
	pair INTEGER NOT NULL DEFAULT 0 CHECK (pair IN (0, 1)),
	-- what the card is bound to (e.g. the CAM id), NULL when unknown
	pair_host TEXT CHECK (pair_host IS NULL OR length(CAST(pair_host AS BLOB)) <= 64),
	-- anti-sharing protection: 1 on, 2 off (the TVCAS 3 values)
	type INTEGER NOT NULL DEFAULT 1 CHECK (type IN (1, 2)),
	-- subscription window; u32 on the wire (tvcas3.md §3.2)
	start INTEGER NOT NULL DEFAULT 0 CHECK (start BETWEEN 0 AND 4294967295),
	finish INTEGER NOT NULL DEFAULT 0 CHECK (finish BETWEEN 0 AND 4294967295),
	-- 0 disabled, 1 active, 2 expired (set by cascron when finish passes)
	status INTEGER NOT NULL DEFAULT 1 CHECK (status IN (0, 1, 2)),
	-- 0 = not blocked, else blocked until this time (lifted by cascron)
	blocked_until INTEGER NOT NULL DEFAULT 0 CHECK (blocked_until >= 0),
	created INTEGER NOT NULL DEFAULT 0,
	edited INTEGER NOT NULL DEFAULT 0,
	change_no INTEGER NOT NULL
);

CREATE UNIQUE INDEX cards_change_no ON cards (change_no);
-- emmgd's "on air" selection: finish >= now OR edited >= now - off_days
CREATE INDEX cards_finish ON cards (finish);
CREATE INDEX cards_edited ON cards (edited);
-- cascron: active cards whose finish has passed, blocks to lift
CREATE INDEX cards_active_finish ON cards (finish) WHERE status = 1;
CREATE INDEX cards_blocked ON cards (blocked_until) WHERE blocked_until != 0;

-- libcas draws change_no itself.  This trigger keeps the sequence whole
-- when a row is changed by anything else (an operator's sqlite3 session).
-- There is no such trigger on INSERT: a trigger would make every insert
-- keep a statement journal, which costs bulk inserts more than half their
-- speed; change_no NOT NULL makes a foreign insert name its number.
CREATE TRIGGER cards_change_update AFTER UPDATE ON cards
WHEN NEW.change_no IS OLD.change_no
BEGIN
	UPDATE seq SET value = value + 1 WHERE name = 'card_change';
	UPDATE cards SET change_no = (SELECT value FROM seq WHERE name = 'card_change')
		WHERE serial_no = NEW.serial_no;
END;

-- Who changed what, when and from where.  Card keys never appear here.
CREATE TABLE audit (
	id INTEGER PRIMARY KEY,
	time INTEGER NOT NULL,
	who TEXT NOT NULL,		-- api, csv, cron, casprog, admin, ...
	addr TEXT,			-- client address, NULL for local tools
	serial_no INTEGER,		-- NULL when not about one card
	field TEXT,			-- the column changed, NULL for events
	old_value TEXT,
	new_value TEXT,
	message TEXT
);
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_serial ON audit (serial_no, id) WHERE serial_no IS NOT NULL;

CREATE TABLE settings (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	updated INTEGER NOT NULL
) WITHOUT ROWID;
