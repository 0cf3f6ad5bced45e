#!/bin/sh
# Every program, started with a fresh configuration, creates the master key
# (0600) and the database (with its schema) and exits 0; -n reports a bad
# configuration as "file:line: reason" and exits 1; --help exits 0; a
# master key readable by others, or a missing one next to an existing
# database, is a fatal error with exit 111.
set -u
BUILD=${BUILD:-build}
bin=$BUILD/bin
tmp=$(mktemp -d /tmp/it-skeleton.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_exit CODE DESCRIPTION -- COMMAND...
expect_exit() {
  want=$1; what=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" = "$want" ]; then ok "$what (exit $got)"; else
    bad "$what: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"; fi
}

# expect_line FILE TEXT: FILE has exactly this line
expect_line() {
  if grep -qxF -- "$2" "$1"; then ok "prints: $2"; else
    bad "expected the line: $2"; echo "got:"; cat "$1"; fi
}

# ecmgd is a daemon that needs ecm_key: test/it/ecmgd_ops.sh covers its start.
# casapid is a daemon that needs api.key: test/it/casapid_http.sh checks
# its start-up (master key, database, errors).
for p in emmgd cascron casprog; do
  d=$tmp/$p
  # A daemon serves until SIGTERM, then exits 0: give it a second.
  case $p in emmgd) run="timeout --preserve-status -s TERM 1";; *) run="";; esac
  mkdir -p "$d"
  cat >"$d/cas.conf" <<CONF
# test configuration for $p
db = $d/var/cas.db
master_key = $d/keys/master.key
CONF
  expect_exit 0 "$p starts with a fresh configuration" -- $run "$bin/$p" -f "$d/cas.conf"
  expect_line "$tmp/err" "$p: info: created master key $d/keys/master.key"
  expect_line "$tmp/err" "$p: info: created database $d/var/cas.db"
  [ -f "$d/var/cas.db" ] && ok "$p created the database" || bad "$p: no database file"
  mode=$(stat -c %a "$d/keys/master.key" 2>/dev/null)
  size=$(stat -c %s "$d/keys/master.key" 2>/dev/null)
  [ "$mode" = 600 ] && [ "$size" = 32 ] && ok "$p created a 32-byte 0600 master key" \
    || bad "$p: master key mode=$mode size=$size"
  if command -v sqlite3 >/dev/null 2>&1; then
    tables=$(sqlite3 "$d/var/cas.db" "SELECT group_concat(type || ' ' || name, ' ') FROM (SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name)")
    [ "$tables" = "table audit table card_data table card_state view cards table cards_deleted table generators table schema_migrations table seq table settings" ] \
      && ok "$p: schema tables present" || bad "$p: tables: $tables"
    v=$(sqlite3 "$d/var/cas.db" "PRAGMA user_version")
    n=$(ls "$TOP"/schema/*.sql | wc -l)
    [ "$v" = "$n" ] && ok "$p: schema version $v" || bad "$p: schema version $v, expected $n"
  fi
  key1=$(od -An -tx1 "$d/keys/master.key")
  # second start: same key, same database, nothing created
  expect_exit 0 "$p starts again" -- $run "$bin/$p" -f "$d/cas.conf"
  if [ -n "$run" ]; then
    ! grep -q created "$tmp/err" && ok "$p: nothing created on the second start" || { bad "$p: second start said:"; cat "$tmp/err"; }
  else
    [ ! -s "$tmp/err" ] && ok "$p: silent second start" || { bad "$p: second start said:"; cat "$tmp/err"; }
  fi
  [ "$(od -An -tx1 "$d/keys/master.key")" = "$key1" ] && ok "$p kept the master key" || bad "$p: master key changed"

  expect_exit 0 "$p --help" -- "$bin/$p" --help
  grep -q "^usage: $p " "$tmp/out" && ok "$p --help prints usage" || bad "$p --help: no usage line"
  expect_exit 0 "$p -n with a valid configuration" -- "$bin/$p" -n -f "$d/cas.conf"

  # -n with a misspelt key on line 4
  cp "$d/cas.conf" "$d/typo.conf"
  echo "emmg.bandwith = 64" >>"$d/typo.conf"
  expect_exit 1 "$p -n with a misspelt key" -- "$bin/$p" -n -f "$d/typo.conf"
  expect_line "$tmp/err" "$p: fatal: $d/typo.conf:4: unknown key 'emmg.bandwith'"
  # -n with a value out of range on line 6 (after a blank line and a comment)
  cp "$d/cas.conf" "$d/range.conf"
  printf '\n# too much\nemmg.bandwidth = 70000\n' >>"$d/range.conf"
  expect_exit 1 "$p -n with a value out of range" -- "$bin/$p" -n -f "$d/range.conf"
  expect_line "$tmp/err" "$p: fatal: $d/range.conf:6: emmg.bandwidth: value out of range 1..65535"
  # the same file without -n: the same answer, and nothing created
  rm -rf "$d/var2"
  sed "s|$d/var/|$d/var2/|" "$d/range.conf" >"$d/range2.conf"
  expect_exit 1 "$p with a value out of range" -- "$bin/$p" -f "$d/range2.conf"
  [ ! -e "$d/var2" ] && ok "$p: nothing created from an invalid configuration" || bad "$p created $d/var2"
  # a busy timeout out of range
  printf 'db.busy_timeout = 0\n' >>"$d/cas.conf.bt"
  cat "$d/cas.conf" "$d/cas.conf.bt" >"$d/bt.conf"
  expect_exit 1 "$p -n with db.busy_timeout = 0" -- "$bin/$p" -n -f "$d/bt.conf"
  expect_line "$tmp/err" "$p: fatal: $d/bt.conf:4: db.busy_timeout: value out of range 1..600000"

  # a master key others can read: fatal, 111
  chmod 644 "$d/keys/master.key"
  expect_exit 111 "$p with a 0644 master key" -- "$bin/$p" -f "$d/cas.conf"
  expect_line "$tmp/err" "$p: fatal: master key $d/keys/master.key: mode 0644 gives access to group or others (chmod 600 $d/keys/master.key)"
  chmod 600 "$d/keys/master.key"
  # the master key lost but the database still there: no new key
  mv "$d/keys/master.key" "$d/keys/saved.key"
  expect_exit 111 "$p with the master key missing" -- "$bin/$p" -f "$d/cas.conf"
  expect_line "$tmp/err" "$p: fatal: master key $d/keys/master.key is missing but database $d/var/cas.db exists: restore the master key (a new one could not unwrap the card keys)"
  [ ! -e "$d/keys/master.key" ] && ok "$p did not make a new master key" || bad "$p made a new master key"
  # another master key: fatal, 111
  head -c 32 /dev/urandom >"$d/keys/master.key"; chmod 600 "$d/keys/master.key"
  expect_exit 111 "$p with another master key" -- "$bin/$p" -f "$d/cas.conf"
  expect_line "$tmp/err" "$p: fatal: master key does not match database $d/var/cas.db (was it created with another master key?)"
  mv "$d/keys/saved.key" "$d/keys/master.key"
  # a database path that cannot be created
  : >"$d/blocker"
  sed "s|^db = .*|db = $d/blocker/cas.db|" "$d/cas.conf" >"$d/blocked.conf"
  expect_exit 111 "$p with an impossible database path" -- "$bin/$p" -f "$d/blocked.conf"
  expect_line "$tmp/err" "$p: fatal: unable to create folder $d/blocker: Not a directory"
  expect_exit 0 "$p starts with everything restored" -- $run "$bin/$p" -f "$d/cas.conf"
done

echo "skeleton: $fails failure(s)"
[ "$fails" -eq 0 ]
