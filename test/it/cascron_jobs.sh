#!/bin/sh
# cascron's every-minute run on a clock the test sets (--now): expiry at the
# exact second, blocks lifted when due, renewed cards active again, disabled
# cards left alone, each change audited with a new change_no; audit
# retention; backups (due by backup.every, rotation by backup.keep, a backup
# that dumps and exports identically to the live database); the lock; usage
# errors; a failing backup does not stop the other jobs.  Checks rows with
# sqlite3 and exact stdout/stderr lines.
set -u
BUILD=${BUILD:-build}
bin=$BUILD/bin
tmp=$(mktemp -d /tmp/it-cascron-jobs.XXXXXX)
holder=
trap '[ -n "$holder" ] && kill $holder 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

T0=1735689600	# 2025-01-01 00:00:00 UTC
DAY=86400
db=$tmp/var/cas.db
conf=$tmp/cas.conf
cat >"$conf" <<EOF
db = $db
master_key = $tmp/var/master.key
EOF

# cron ARGS...: runs cascron; exit code in $rc, stdout in out, stderr in err
cron() {
  "$bin/cascron" -f "$conf" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
}
# summary TEXT: the summary line, time masked, is exactly TEXT
summary() {
  got=$(sed 's/ time=[0-9.]*s / time=T /' "$tmp/out")
  if [ "$got" = "cascron: summary: $1" ]; then ok "summary: $1"; else
    bad "summary: got '$got', want 'cascron: summary: $1'"; cat "$tmp/err"; fi
}
expect_rc() {
  if [ "$rc" = "$1" ]; then ok "$2 (exit $rc)"; else bad "$2: exit $rc, want $1"; cat "$tmp/out" "$tmp/err"; fi
}
# err_is FILE: stderr is exactly the lines of FILE
err_is() {
  if cmp -s "$1" "$tmp/err"; then ok "stderr as expected ($(wc -l <"$1") lines)"; else
    bad "stderr differs:"; diff "$1" "$tmp/err"; fi
}
q() { sqlite3 "$db" "$1"; }
check() {	# check DESCRIPTION SQL WANT
  got=$(q "$2")
  if [ "$got" = "$3" ]; then ok "$1"; else bad "$1: got '$got', want '$3'"; fi
}

# ---- a fresh database, the first run makes the first backup ----
cron --now $T0
expect_rc 0 "first run"
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=0 backup=cas-20250101-000000.db time=T exit=0"
[ -f "$tmp/var/backup/cas-20250101-000000.db" ] && ok "backup file in backup/ next to the database" \
  || bad "no backup file: $(ls -R "$tmp/var")"
[ "$(stat -c %a "$tmp/var/backup/cas-20250101-000000.db")" = 600 ] && ok "backup mode 0600" || bad "backup mode"
[ -f "$db.cron.lock" ] && ok "lock file next to the database" || bad "no lock file $db.cron.lock"

# ---- cards ----
# serials, count, start, finish, blocked_until, status
"$bin/cardfill" -f "$conf" 2100000000 3 $((T0 - 30 * DAY)) $((T0 + 100)) >/dev/null || bad "cardfill"
"$bin/cardfill" -f "$conf" 2100000010 2 $((T0 - 30 * DAY)) $((T0 + 365 * DAY)) $((T0 + 200)) >/dev/null || bad "cardfill"
"$bin/cardfill" -f "$conf" 2100000020 1 $((T0 - 30 * DAY)) $((T0 - 100)) 0 0 >/dev/null || bad "cardfill"
"$bin/cardfill" -f "$conf" 2100000030 1 $((T0 - 30 * DAY)) $((T0 + 100)) >/dev/null || bad "cardfill"
max0=$(q "SELECT value FROM seq WHERE name = 'card_change'")
edited0=$(q "SELECT group_concat(edited, ' ') FROM (SELECT edited FROM cards WHERE serial_no IN (2100000000, 2100000001, 2100000002, 2100000030) ORDER BY serial_no)")

# finish == now: not expired yet (a card works while t <= finish, tvcas3.md §2.3)
cron --now $((T0 + 100))
expect_rc 0 "run at finish"
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=0 backup=none time=T exit=0"
[ ! -s "$tmp/err" ] && ok "a run with nothing to do is silent on stderr" || { bad "stderr:"; cat "$tmp/err"; }
check "no change number drawn" "SELECT value FROM seq WHERE name = 'card_change'" "$max0"

# one second later: four cards expire
cron --now $((T0 + 101))
expect_rc 0 "run after finish"
summary "billing=none expired=4 renewed=0 unblocked=0 audit_removed=0 backup=none time=T exit=0"
cat >"$tmp/want" <<EOF
cascron: info: card 2100000000 expired
cascron: info: card 2100000001 expired
cascron: info: card 2100000002 expired
cascron: info: card 2100000030 expired
EOF
err_is "$tmp/want"
check "expired cards have status 2" \
  "SELECT group_concat(serial_no, ' ') FROM (SELECT serial_no FROM cards WHERE status = 2 ORDER BY serial_no)" \
  "2100000000 2100000001 2100000002 2100000030"
check "disabled card left alone" "SELECT status FROM cards WHERE serial_no = 2100000020" "0"
check "expired cards keep their edit time (a sweep is not an edit)" \
  "SELECT group_concat(edited, ' ') FROM (SELECT edited FROM cards WHERE status = 2 ORDER BY serial_no)" "$edited0"
check "each expired card took a new change_no" \
  "SELECT group_concat(change_no, ' ') FROM (SELECT change_no FROM cards WHERE status = 2 ORDER BY change_no)" \
  "$((max0 + 1)) $((max0 + 2)) $((max0 + 3)) $((max0 + 4))"
check "the change sequence moved by 4" "SELECT value FROM seq WHERE name = 'card_change'" "$((max0 + 4))"
check "one audit row per expired card" \
  "SELECT group_concat(serial_no || ' ' || time || ' ' || field || ' ' || old_value || '>' || new_value, ',') FROM (SELECT * FROM audit WHERE who = 'cron' AND field IS NOT NULL ORDER BY id)" \
  "2100000000 $((T0 + 101)) status 1>2,2100000001 $((T0 + 101)) status 1>2,2100000002 $((T0 + 101)) status 1>2,2100000030 $((T0 + 101)) status 1>2"

# blocks: lifted at blocked_until
cron --now $((T0 + 199))
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=0 backup=none time=T exit=0"
cron --now $((T0 + 200))
expect_rc 0 "run at the end of the blocks"
summary "billing=none expired=0 renewed=0 unblocked=2 audit_removed=0 backup=none time=T exit=0"
cat >"$tmp/want" <<EOF
cascron: info: card 2100000010 unblocked (was blocked until 2025-01-01 00:03:20 UTC)
cascron: info: card 2100000011 unblocked (was blocked until 2025-01-01 00:03:20 UTC)
EOF
err_is "$tmp/want"
check "blocks cleared" "SELECT count(*) FROM cards WHERE blocked_until != 0" "0"
check "unblocked cards took new change numbers" \
  "SELECT group_concat(change_no, ' ') FROM (SELECT change_no FROM cards WHERE serial_no IN (2100000010, 2100000011) ORDER BY serial_no)" \
  "$((max0 + 5)) $((max0 + 6))"
check "block lifts audited" \
  "SELECT group_concat(serial_no || ' ' || old_value || '>' || new_value, ',') FROM (SELECT * FROM audit WHERE field = 'blocked_until' ORDER BY id)" \
  "2100000010 $((T0 + 200))>0,2100000011 $((T0 + 200))>0"

# renewal: an operator moves a finish into the future; the next run
# sets the card active again
q "UPDATE cards SET finish = $((T0 + 30 * DAY)) WHERE serial_no = 2100000001"
cron --now $((T0 + 300))
summary "billing=none expired=0 renewed=1 unblocked=0 audit_removed=0 backup=none time=T exit=0"
echo "cascron: info: card 2100000001 active again (its finish was moved into the future)" >"$tmp/want"
err_is "$tmp/want"
check "renewed card active" "SELECT status FROM cards WHERE serial_no = 2100000001" "1"
check "renewal audited" "SELECT old_value || '>' || new_value FROM audit WHERE serial_no = 2100000001 AND field = 'status' ORDER BY id DESC LIMIT 1" "2>1"

# ---- retention: log.keep_days (default 90) ----
q "INSERT INTO audit (time, who, message) VALUES ($((T0 - 91 * DAY)), 'test', 'old'), ($((T0 - 80 * DAY)), 'test', 'recent')"
cron --now $((T0 + 400))
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=1 backup=none time=T exit=0"
echo "cascron: info: removed 1 audit entry older than 90 days" >"$tmp/want"
err_is "$tmp/want"
check "only the old entry removed" "SELECT group_concat(message) FROM audit WHERE who = 'test'" "recent"

# ---- the lock: another process holds it ----
audit_before=$(q "SELECT count(*) FROM audit")
if command -v flock >/dev/null 2>&1; then
  # a subshell that takes the lock on fd 9, then becomes `sleep` (same pid)
  ( flock 9 && echo 4242 >"$db.cron.lock" && touch "$tmp/held" && exec sleep 20 ) 9>>"$db.cron.lock" &
  holder=$!
  i=0; while [ ! -f "$tmp/held" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  cron --now $((T0 + 2 * DAY))
  expect_rc 2 "run while the lock is held"
  echo "cascron: warning: another cascron run (pid 4242) holds $db.cron.lock; this one does nothing" >"$tmp/want"
  err_is "$tmp/want"
  [ ! -s "$tmp/out" ] && ok "no summary from a run that did nothing" || bad "stdout: $(cat "$tmp/out")"
  check "nothing written while locked out" "SELECT count(*) FROM audit" "$audit_before"
  kill $holder 2>/dev/null; wait $holder 2>/dev/null; holder=
else
  bad "flock(1) is missing (util-linux)"
fi

# ---- backups: due by backup.every, rotation by backup.keep ----
printf 'backup.keep = 2\nbackup.every = 60\n' >>"$conf"
: >"$tmp/var/backup/cas-20250101-000000.db.tmp"	# left by an interrupted backup
cron --now $((T0 + 3599))
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=0 backup=none time=T exit=0"
cron --now $((T0 + 3600))
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=0 backup=cas-20250101-010000.db time=T exit=0"
cron --now $((T0 + 7200))
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=0 backup=cas-20250101-020000.db time=T exit=0"
cat >"$tmp/want" <<EOF
cascron: info: backup $tmp/var/backup/cas-20250101-020000.db written in T s
cascron: info: removed 1 old backup (backup.keep = 2)
EOF
sed -i 's/written in [0-9.]* s/written in T s/' "$tmp/err"
err_is "$tmp/want"
got=$(ls "$tmp/var/backup" | tr '\n' ' ')
[ "$got" = "cas-20250101-010000.db cas-20250101-020000.db " ] && ok "two newest backups kept, leftover removed" \
  || bad "backups: $got"

# `cascron backup`: now, whatever backup.every says; the copy dumps and
# exports (card keys unwrapped) exactly like the database
cron --now $((T0 + 7201)) backup
expect_rc 0 "cascron backup"
summary "backup=cas-20250101-020001.db time=T exit=0"
b=$tmp/var/backup/cas-20250101-020001.db
check "the backup is audited" "SELECT message FROM audit ORDER BY id DESC LIMIT 1" "backup cas-20250101-020001.db"
sqlite3 "$db" .dump >"$tmp/live.sql"
sqlite3 "$b" .dump >"$tmp/backup.sql"
if cmp -s "$tmp/live.sql" "$tmp/backup.sql" && [ "$(wc -l <"$tmp/live.sql")" -gt 20 ]; then
  ok "backup dumps identically to the database ($(wc -l <"$tmp/live.sql") lines)"
else
  bad "dumps differ"; diff "$tmp/live.sql" "$tmp/backup.sql" | head -20
fi
[ "$(sqlite3 "$b" 'PRAGMA journal_mode')" = delete ] && ok "backup is a self-contained file (no WAL)" || bad "backup journal mode"
mkdir -p "$tmp/restore"
cp "$b" "$tmp/restore/cas.db"
printf 'db = %s\nmaster_key = %s\n' "$tmp/restore/cas.db" "$tmp/var/master.key" >"$tmp/restore.conf"
"$bin/cascron" -f "$conf" export --layout admin >"$tmp/live.csv" 2>/dev/null
"$bin/cascron" -f "$tmp/restore.conf" export --layout admin >"$tmp/restored.csv" 2>"$tmp/err"; rc=$?
expect_rc 0 "export from the restored database"
if cmp -s "$tmp/live.csv" "$tmp/restored.csv" && [ "$(wc -l <"$tmp/live.csv")" = 8 ]; then
  ok "restored database exports the same 7 cards with their keys"
else
  bad "exports differ"; diff "$tmp/live.csv" "$tmp/restored.csv" | head; cat "$tmp/err"
fi

# ---- a backup that fails does not stop the other jobs ----
: >"$tmp/notadir"
cp "$conf" "$tmp/badbackup.conf"
echo "backup.dir = $tmp/notadir/sub" >>"$tmp/badbackup.conf"
q "UPDATE cards SET finish = $((T0 + 2 * DAY)) WHERE serial_no = 2100000010"
"$bin/cascron" -f "$tmp/badbackup.conf" --now $((T0 + 3 * DAY)) >"$tmp/out" 2>"$tmp/err"; rc=$?
expect_rc 111 "run with an impossible backup folder"
summary "billing=none expired=1 renewed=0 unblocked=0 audit_removed=0 backup=failed time=T exit=111"
cat >"$tmp/want" <<EOF
cascron: info: card 2100000010 expired
cascron: error: unable to read backup folder $tmp/notadir/sub: Not a directory
EOF
err_is "$tmp/want"
check "cards expired all the same" "SELECT status FROM cards WHERE serial_no = 2100000010" "2"
# the copy itself fails (its temporary name is taken by a folder): audited
mkdir "$tmp/var/backup/cas-20250105-000000.db.tmp"
cron --now $((T0 + 4 * DAY))
expect_rc 111 "run whose backup cannot be written"
summary "billing=none expired=0 renewed=0 unblocked=0 audit_removed=0 backup=failed time=T exit=111"
echo "cascron: error: unable to back up to $tmp/var/backup/cas-20250105-000000.db.tmp: File exists" >"$tmp/want"
err_is "$tmp/want"
check "the failed backup is audited" "SELECT group_concat(message, ',') FROM (SELECT message FROM audit ORDER BY id DESC LIMIT 2)" \
  "backup cas-20250105-000000.db failed,backup cas-20250105-000000.db"
rmdir "$tmp/var/backup/cas-20250105-000000.db.tmp"

# ---- many changes: one line per card up to 100, then one line ----
"$bin/cardfill" -f "$conf" 2100001000 150 $((T0 - 30 * DAY)) $((T0 + 4 * DAY)) >/dev/null || bad "cardfill"
cron --now $((T0 + 5 * DAY))
summary "billing=none expired=150 renewed=0 unblocked=0 audit_removed=0 backup=cas-20250106-000000.db time=T exit=0"
n=$(grep -c '^cascron: info: card 21000010[0-9][0-9] expired$' "$tmp/err")
[ "$n" = 100 ] && ok "100 cards logged one by one" || bad "$n card lines"
grep -qxF "cascron: info: 50 more card changes not logged one by one (the audit log has every one)" "$tmp/err" \
  && ok "the rest counted" || { bad "no count line"; tail -3 "$tmp/err"; }
check "all 150 audited" "SELECT count(*) FROM audit WHERE who = 'cron' AND field = 'status' AND serial_no >= 2100001000" "150"

# ---- usage ----
for args in "bogus|cascron: fatal: usage: unknown command 'bogus' (see cascron --help)" \
            "--now|cascron: fatal: usage: --now needs a Unix time 0..4294967295 (see cascron --help)" \
            "--now 12x|cascron: fatal: usage: --now needs a Unix time 0..4294967295 (see cascron --help)" \
            "--frobnicate|cascron: fatal: usage: unknown option '--frobnicate' (see cascron --help)" \
            "import|cascron: fatal: usage: import needs a source: a path, -, or a URL" \
            "export --layout x|cascron: fatal: usage: --layout needs admin or operator" \
            "backup now|cascron: fatal: usage: unexpected argument 'now' (see cascron --help)"; do
  a=${args%%|*}; want=${args#*|}
  # shellcheck disable=SC2086
  cron $a
  expect_rc 100 "cascron $a"
  echo "$want" >"$tmp/want"
  err_is "$tmp/want"
done

echo "cascron_jobs: $fails failure(s)"
[ "$fails" -eq 0 ]
