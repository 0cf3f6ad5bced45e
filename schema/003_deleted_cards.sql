-- FreeCAS schema, version 3: deleted cards leave a tombstone carrying the
-- change_no of their deletion, so a reader following the change sequence
-- (emmgd: "changes after N") learns about deletions too.  A serial that is
-- inserted again loses its tombstone (libcas deletes it with the insert):
-- a serial is either a card or a tombstone, never both.

CREATE TABLE cards_deleted (
	serial_no INTEGER PRIMARY KEY,
	change_no INTEGER NOT NULL,
	deleted INTEGER NOT NULL
);
CREATE UNIQUE INDEX cards_deleted_change_no ON cards_deleted (change_no);

CREATE TRIGGER cards_tombstone AFTER DELETE ON cards
BEGIN
	UPDATE seq SET value = value + 1 WHERE name = 'card_change';
	INSERT OR REPLACE INTO cards_deleted (serial_no, change_no, deleted)
		VALUES (OLD.serial_no, (SELECT value FROM seq WHERE name = 'card_change'),
			CAST(strftime('%s', 'now') AS INTEGER));
END;
