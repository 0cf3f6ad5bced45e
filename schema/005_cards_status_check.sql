-- FreeCAS schema, version 5: the cards table again, with its status CHECK
-- written as three comparisons instead of an IN list.  SQLite checks
-- "status IN (0, 1, 2)" (a list of more than two values) by building a
-- temporary b-tree of the list for every row it inserts or whose status it
-- changes: a quarter of the CPU time of a 1,000,000-card bulk insert
-- (test/bench/bench_db.c) and of an expiry sweep.  The new CHECK accepts
-- exactly the same values.  A CHECK cannot be altered in place, so the table
-- is copied (https://sqlite.org/lang_altertable.html, "making other kinds of
-- table schema changes") and its indexes and triggers are created again,
-- unchanged (001_initial, 003_deleted_cards, 004_expired_index).  On a large
-- database this migration takes a few seconds, once.

CREATE TABLE cards_new (
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
	status INTEGER NOT NULL DEFAULT 1 CHECK (status = 0 OR status = 1 OR status = 2),
	-- 0 = not blocked, else blocked until this time (lifted by cascron)
	blocked_until INTEGER NOT NULL DEFAULT 0 CHECK (blocked_until >= 0),
	created INTEGER NOT NULL DEFAULT 0,
	edited INTEGER NOT NULL DEFAULT 0,
	change_no INTEGER NOT NULL
);

INSERT INTO cards_new (serial_no, name, info, key, access_criteria, pair, pair_host, type,
		       start, finish, status, blocked_until, created, edited, change_no)
	SELECT serial_no, name, info, key, access_criteria, pair, pair_host, type,
	       start, finish, status, blocked_until, created, edited, change_no
	FROM cards ORDER BY serial_no;

-- Drops the old indexes and triggers with it.
DROP TABLE cards;
ALTER TABLE cards_new RENAME TO cards;

CREATE UNIQUE INDEX cards_change_no ON cards (change_no);
-- emmgd's "on air" selection: finish >= now OR edited >= now - off_days
CREATE INDEX cards_finish ON cards (finish);
CREATE INDEX cards_edited ON cards (edited);
-- cascron: active cards whose finish has passed, blocks to lift, expired
-- cards whose finish was moved on
CREATE INDEX cards_active_finish ON cards (finish) WHERE status = 1;
CREATE INDEX cards_blocked ON cards (blocked_until) WHERE blocked_until != 0;
CREATE INDEX cards_expired_finish ON cards (finish) WHERE status = 2;

-- As in 001_initial: keeps the change sequence whole when a row is changed
-- by anything but libcas (an operator's sqlite3 session).
CREATE TRIGGER cards_change_update AFTER UPDATE ON cards
WHEN NEW.change_no IS OLD.change_no
BEGIN
	UPDATE seq SET value = value + 1 WHERE name = 'card_change';
	UPDATE cards SET change_no = (SELECT value FROM seq WHERE name = 'card_change')
		WHERE serial_no = NEW.serial_no;
END;

-- As in 003_deleted_cards: a deleted card leaves a tombstone.
CREATE TRIGGER cards_tombstone AFTER DELETE ON cards
BEGIN
	UPDATE seq SET value = value + 1 WHERE name = 'card_change';
	INSERT OR REPLACE INTO cards_deleted (serial_no, change_no, deleted)
		VALUES (OLD.serial_no, (SELECT value FROM seq WHERE name = 'card_change'),
			CAST(strftime('%s', 'now') AS INTEGER));
END;
