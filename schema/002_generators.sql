-- FreeCAS schema, version 2: one row per ECM or EMM generator (or per
-- connection of one), written by ecmgd and emmgd: their settings as they
-- started, their state and live counters, for cascron, casapid and the
-- operator (`sqlite3 cas.db 'SELECT * FROM generators'`).

CREATE TABLE generators (
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL CHECK (kind IN ('ecmg', 'emmg')),
	name TEXT NOT NULL,			-- chosen by the daemon, unique per kind
	peer TEXT NOT NULL DEFAULT '',		-- SCS or MUX address
	state TEXT NOT NULL DEFAULT '',		-- e.g. connecting, setup, running, closed
	settings TEXT NOT NULL DEFAULT '',	-- "key=value ..." as the daemon runs
	pid INTEGER NOT NULL DEFAULT 0,
	started INTEGER NOT NULL DEFAULT 0,
	last_seen INTEGER NOT NULL DEFAULT 0,	-- last message from the peer
	updated INTEGER NOT NULL DEFAULT 0,	-- last write of this row
	channels INTEGER NOT NULL DEFAULT 0,
	streams INTEGER NOT NULL DEFAULT 0,
	cw_provisions INTEGER NOT NULL DEFAULT 0,
	ecms INTEGER NOT NULL DEFAULT 0,
	emms INTEGER NOT NULL DEFAULT 0,
	bytes INTEGER NOT NULL DEFAULT 0,
	errors INTEGER NOT NULL DEFAULT 0,
	queue_len INTEGER NOT NULL DEFAULT 0,
	cycle_ms INTEGER NOT NULL DEFAULT 0,	-- last EMM carousel cycle
	bandwidth INTEGER NOT NULL DEFAULT 0,	-- kbit/s allocated by the MUX
	UNIQUE (kind, name)
);
