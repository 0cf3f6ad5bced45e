-- FreeCAS schema, version 6: a card's state apart from its data.
--
-- What changes often and in bulk (finish, status, blocked_until: cascron's
-- expiry, renewal and unblocking; access_criteria: billing's package
-- changes; edited and change_no: every change) moves to the narrow table
-- card_state, about 30 bytes a card; what changes rarely (name, info, the
-- wrapped key, pairing, start) stays in card_data, about 100 bytes a card.
-- Expiring 1,000,000 cards at once rewrote the whole 117 MB cards table and
-- wrote it twice more (the WAL, then the checkpoint): 2.5-3.4 s.  Now the
-- sweep rewrites 30 MB, and a billing file that changes every card's
-- packages does not touch card_data (test/bench/bench_db.c,
-- test/bench/cascron.sh).
--
-- "cards" is now a view joining the two: every reader (the programs, an
-- operator's sqlite3 session, the billing's reports) sees the same columns
-- as before.  libcas writes the two tables itself, in one transaction; an
-- operator's INSERT, UPDATE or DELETE on the view is carried out by the
-- INSTEAD OF triggers below, with the bookkeeping the old table's triggers
-- did (a new change number, a tombstone).  Write through the view, not to
-- the two tables, by hand.
--
-- The renewal check (an expired card whose finish was moved on) no longer
-- has an index of its own (cards_expired_finish): a scan of card_state
-- takes about 30 ms for 1,000,000 cards, where keeping the index costs a
-- mass expiry a sort of every expired card.

CREATE TABLE card_data (
	serial_no INTEGER PRIMARY KEY
		CHECK (serial_no BETWEEN 0 AND 4294967295),
	name TEXT NOT NULL DEFAULT ''
		CHECK (length(CAST(name AS BLOB)) <= 255),
	info TEXT NOT NULL DEFAULT ''
		CHECK (length(CAST(info AS BLOB)) <= 1023),
	-- version byte, 24-byte nonce, 16-byte ciphertext, 16-byte tag
	key BLOB NOT NULL CHECK (length(key) = 57),
	pair INTEGER NOT NULL DEFAULT 0 CHECK (pair IN (0, 1)),
	-- what the card is bound to (e.g. the CAM id), NULL when unknown
	pair_host TEXT CHECK (pair_host IS NULL OR length(CAST(pair_host AS BLOB)) <= 64),
	-- anti-sharing protection: 1 on, 2 off (the TVCAS 3 values)
	type INTEGER NOT NULL DEFAULT 1 CHECK (type IN (1, 2)),
	-- subscription window start; u32 on the wire (tvcas3.md §3.2)
	start INTEGER NOT NULL DEFAULT 0 CHECK (start BETWEEN 0 AND 4294967295),
	created INTEGER NOT NULL DEFAULT 0
);

-- serial_no is card_data's: each card has one row in each table.
CREATE TABLE card_state (
	serial_no INTEGER PRIMARY KEY,
	-- 32-bit package mask (TVCAS shows it as 8 hex digits)
	access_criteria INTEGER NOT NULL DEFAULT 0
		CHECK (access_criteria BETWEEN 0 AND 4294967295),
	-- subscription window end; u32 on the wire (tvcas3.md §3.2)
	finish INTEGER NOT NULL DEFAULT 0 CHECK (finish BETWEEN 0 AND 4294967295),
	-- 0 disabled, 1 active, 2 expired (set by cascron when finish passes);
	-- three comparisons, not an IN list (see 005_cards_status_check)
	status INTEGER NOT NULL DEFAULT 1 CHECK (status = 0 OR status = 1 OR status = 2),
	-- 0 = not blocked, else blocked until this time (lifted by cascron)
	blocked_until INTEGER NOT NULL DEFAULT 0 CHECK (blocked_until >= 0),
	edited INTEGER NOT NULL DEFAULT 0,
	change_no INTEGER NOT NULL
);

INSERT INTO card_data (serial_no, name, info, key, pair, pair_host, type, start, created)
	SELECT serial_no, name, info, key, pair, pair_host, type, start, created
	FROM cards ORDER BY serial_no;
INSERT INTO card_state (serial_no, access_criteria, finish, status, blocked_until, edited,
			change_no)
	SELECT serial_no, access_criteria, finish, status, blocked_until, edited, change_no
	FROM cards ORDER BY serial_no;

-- Drops the old indexes and triggers with it.
DROP TABLE cards;

CREATE VIEW cards AS
	SELECT d.serial_no AS serial_no, d.name AS name, d.info AS info, d.key AS key,
	       s.access_criteria AS access_criteria, d.pair AS pair, d.pair_host AS pair_host,
	       d.type AS type, d.start AS start, s.finish AS finish, s.status AS status,
	       s.blocked_until AS blocked_until, d.created AS created, s.edited AS edited,
	       s.change_no AS change_no
	FROM card_data AS d JOIN card_state AS s ON s.serial_no = d.serial_no;

-- The indexes of 005_cards_status_check, on the table that holds their
-- columns, under the same names.
CREATE UNIQUE INDEX cards_change_no ON card_state (change_no);
-- emmgd's "on air" selection: finish >= now OR edited >= now - off_days
CREATE INDEX cards_finish ON card_state (finish);
CREATE INDEX cards_edited ON card_state (edited);
-- cascron: active cards whose finish has passed, blocks to lift
CREATE INDEX cards_active_finish ON card_state (finish) WHERE status = 1;
CREATE INDEX cards_blocked ON card_state (blocked_until) WHERE blocked_until != 0;

-- A deleted card leaves a tombstone (as in 003_deleted_cards).
CREATE TRIGGER cards_tombstone AFTER DELETE ON card_state
BEGIN
	UPDATE seq SET value = value + 1 WHERE name = 'card_change';
	INSERT OR REPLACE INTO cards_deleted (serial_no, change_no, deleted)
		VALUES (OLD.serial_no, (SELECT value FROM seq WHERE name = 'card_change'),
			CAST(strftime('%s', 'now') AS INTEGER));
END;

-- An operator's INSERT INTO cards: the defaults of the old table; the
-- change_no must be named (as before: NOT NULL); a tombstone of the serial
-- goes.
CREATE TRIGGER cards_insert INSTEAD OF INSERT ON cards
BEGIN
	SELECT RAISE(ABORT, 'cards: serial_no must be given') WHERE NEW.serial_no IS NULL;
	DELETE FROM cards_deleted WHERE serial_no = NEW.serial_no;
	INSERT INTO card_data (serial_no, name, info, key, pair, pair_host, type, start, created)
		VALUES (NEW.serial_no, coalesce(NEW.name, ''), coalesce(NEW.info, ''), NEW.key,
			coalesce(NEW.pair, 0), NEW.pair_host, coalesce(NEW.type, 1),
			coalesce(NEW.start, 0), coalesce(NEW.created, 0));
	INSERT INTO card_state (serial_no, access_criteria, finish, status, blocked_until, edited,
				change_no)
		VALUES (NEW.serial_no, coalesce(NEW.access_criteria, 0), coalesce(NEW.finish, 0),
			coalesce(NEW.status, 1), coalesce(NEW.blocked_until, 0),
			coalesce(NEW.edited, 0), NEW.change_no);
END;

-- An operator's UPDATE cards: a new change number from the sequence unless
-- the statement sets one (as the old cards_change_update trigger did), so
-- emmgd sends the change.  A card is never renumbered (tvcas3.md §8).
CREATE TRIGGER cards_update INSTEAD OF UPDATE ON cards
BEGIN
	SELECT RAISE(ABORT, 'cards: serial_no cannot change')
		WHERE NEW.serial_no IS NOT OLD.serial_no;
	UPDATE seq SET value = value + 1
		WHERE name = 'card_change' AND NEW.change_no IS OLD.change_no;
	UPDATE card_data SET name = NEW.name, info = NEW.info, key = NEW.key, pair = NEW.pair,
			     pair_host = NEW.pair_host, type = NEW.type, start = NEW.start,
			     created = NEW.created
		WHERE serial_no = OLD.serial_no;
	UPDATE card_state SET access_criteria = NEW.access_criteria, finish = NEW.finish,
			      status = NEW.status,
			      blocked_until = NEW.blocked_until, edited = NEW.edited,
			      change_no = CASE WHEN NEW.change_no IS OLD.change_no
					  THEN (SELECT value FROM seq WHERE name = 'card_change')
					  ELSE NEW.change_no END
		WHERE serial_no = OLD.serial_no;
END;

-- An operator's DELETE FROM cards: both rows; card_state's trigger leaves
-- the tombstone.
CREATE TRIGGER cards_delete INSTEAD OF DELETE ON cards
BEGIN
	DELETE FROM card_state WHERE serial_no = OLD.serial_no;
	DELETE FROM card_data WHERE serial_no = OLD.serial_no;
END;
