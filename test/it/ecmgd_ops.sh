#!/bin/sh
# ecmgd operations: refuses to start without ecm_key (exit 1, nothing
# created), on a port in use or with an unusable master key (exit 111);
# raises its open-files limit; SIGHUP reloads the configuration without
# dropping a running channel (a new ecm_key serves the next CW_provision;
# a broken file changes nothing); SIGTERM closes connections and exits 0.
set -u
: "${BUILD:=build}" "${TOP:=.}"
tmp=$(mktemp -d /tmp/it-ecmgd-ops.XXXXXX)
EPID=
SIMPID=
trap '[ -n "$EPID" ] && kill -9 $EPID 2>/dev/null; [ -n "$SIMPID" ] && kill -9 $SIMPID 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
. "$TOP/test/it/ecmgd.lib"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
ecmgd="$BUILD/bin/ecmgd"

# expect_exit CODE LINE -- COMMAND...: exit code and one exact stderr line
expect_exit() {
  want=$1; line=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" = "$want" ] && grep -qxF -- "$line" "$tmp/err"; then ok "exit $got: $line"
  else bad "exit $got (want $want), stderr:"; cat "$tmp/err"; fi
}

# ---- refusing to start ----
cat >"$tmp/nokey.conf" <<CONF
db = $tmp/nokey/cas.db
master_key = $tmp/nokey/master.key
CONF
expect_exit 1 "ecmgd: fatal: ecm_key is not set in $tmp/nokey.conf: add ecm_key = <64 hex digits> (profile tvcas3)" \
  -- "$ecmgd" -f "$tmp/nokey.conf"
[ ! -e "$tmp/nokey" ] && ok "nothing created without ecm_key" || bad "files created without ecm_key"
printf 'ecm_key = 0011\n' >>"$tmp/nokey.conf"
"$ecmgd" -f "$tmp/nokey.conf" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "^ecmgd: fatal: $tmp/nokey.conf:3: ecm_key: " "$tmp/err" && ok "short ecm_key: exit 1, $(cat "$tmp/err")" \
  || { bad "short ecm_key: exit $rc"; cat "$tmp/err"; }
grep -q 0011 "$tmp/err" && bad "the key value is in the message"

base_conf "$tmp/a.conf"
start_ecmgd "$tmp/a.conf" "$tmp/a.log" || exit 1
sed "s|^db = .*|db = $tmp/b/cas.db|; s|^master_key = .*|master_key = $tmp/b/master.key|" "$tmp/a.conf.run" >"$tmp/b.conf"
expect_exit 111 "ecmgd: fatal: unable to bind 127.0.0.1:$EPORT: Address already in use" -- "$ecmgd" -f "$tmp/b.conf"
chmod 644 "$tmp/var/master.key"
sed "s|^ecmg.listen = .*|ecmg.listen = 127.0.0.1:1|" "$tmp/a.conf.run" >"$tmp/c.conf"
expect_exit 111 "ecmgd: fatal: master key $tmp/var/master.key: mode 0644 gives access to group or others (chmod 600 $tmp/var/master.key)" \
  -- "$ecmgd" -f "$tmp/c.conf"
chmod 600 "$tmp/var/master.key"
"$ecmgd" --help | grep -q '^  -r FD ' && ok "--help documents -r FD" || bad "--help lacks -r"

# ---- the open-files limit: raised to the hard limit, or a warning ----
lim=$(sed -n 's/^Max open files *\([0-9]*\) *\([0-9]*\).*/\1 \2/p' /proc/$EPID/limits)
set -- $lim
[ "$1" = "$2" ] && ok "open files limit raised to the hard limit ($1)" || bad "open files limit: $lim"
# (a database it cannot create makes it exit right after the warning)
sed "s|^db = .*|db = $tmp/nokey.conf/cas.db|" "$tmp/c.conf" >"$tmp/d.conf"
(ulimit -n 300; ulimit -Hn 300; exec "$ecmgd" -f "$tmp/d.conf") 2>"$tmp/err" >/dev/null
grep -qxF "ecmgd: warning: open files limit 300 is below ecmg.max_channels (10000) + 64: raise it (ulimit -n) to serve that many scramblers" "$tmp/err" \
  && ok "warns about a low hard limit" || { bad "no open-files warning"; cat "$tmp/err"; }

# ---- SIGHUP: a new ecm_key for the next CW_provision, the channel stays ----
"$BUILD/bin/scs_sim" -p "$EPORT" -k "$KEY" -K "$KEY2" -d 3 hold >"$tmp/hold" 2>&1 &
SIMPID=$!
i=0; while ! grep -q '^ready' "$tmp/hold" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 1
sed "s/^ecm_key = .*/ecm_key = $KEY2/" "$tmp/a.conf.run" >"$tmp/a.conf.new" && mv "$tmp/a.conf.new" "$tmp/a.conf.run"
kill -HUP $EPID
wait $SIMPID; rc=$?; SIMPID=
cat "$tmp/hold" | grep '^ok\|^FAIL'
[ $rc = 0 ] && ok "ECMs switch from the old key to the new one on the open channel" || { bad "reload under load"; cat "$tmp/hold"; }
grep -qxF "ecmgd: info: configuration reloaded from $tmp/a.conf.run" "$tmp/a.log" && ok "reload logged" || bad "reload not logged"

# A broken file changes nothing: still the new key, still serving.
cp "$tmp/a.conf.run" "$tmp/good.conf"
echo "ecmg.delay_start = lots" >>"$tmp/a.conf.run"
kill -HUP $EPID
sleep 0.3
grep -qxF "ecmgd: error: reload failed, configuration unchanged: $tmp/a.conf.run:6: ecmg.delay_start: 'lots' is not an integer" "$tmp/a.log" \
  && ok "a broken file on reload is refused and logged" || { bad "broken reload"; tail -3 "$tmp/a.log"; }
"$BUILD/bin/scs_sim" -p "$EPORT" -k "$KEY2" -S 1 -n 2 session >"$tmp/out" 2>&1 \
  && ok "still serving with the reloaded key" || { bad "session after a broken reload"; cat "$tmp/out"; }
# A key that needs a restart is named.
sed "s/^ecmg.listen = .*/ecmg.listen = 127.0.0.1:1/; s/^ecmg.delay_start.*//" "$tmp/good.conf" >"$tmp/a.conf.run"
kill -HUP $EPID
sleep 0.3
grep -qxF "ecmgd: warning: ecmg.listen changed: it takes effect when ecmgd restarts" "$tmp/a.log" \
  && ok "a listen change on reload is named as needing a restart" || bad "no warning for ecmg.listen"

# ---- SIGTERM with a channel open ----
"$BUILD/bin/scs_sim" -p "$EPORT" -k "$KEY2" -d 10 -E hold >"$tmp/hold" 2>&1 &
SIMPID=$!
i=0; while ! grep -q '^ready' "$tmp/hold" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.3
stop_ecmgd && ok "SIGTERM with a channel open: exit 0" || fails=$((fails + 1))
wait $SIMPID; rc=$?; SIMPID=
[ $rc = 0 ] && ok "the SCS saw the connection closed" || { bad "scs_sim after SIGTERM"; cat "$tmp/hold"; }
grep -qxF "ecmgd: info: stopping (SIGTERM), 1 connections open" "$tmp/a.log" || bad "no stopping line"
grep -q ": disconnected: ecmgd stops (" "$tmp/a.log" || bad "no disconnect line at stop"
db_wait "SELECT count(*) FROM generators WHERE kind = 'ecmg' AND name LIKE '%/%' AND state != 'closed'" 0 \
  && db_wait "SELECT state FROM generators WHERE kind = 'ecmg' AND name = '127.0.0.1:$EPORT'" stopped \
  && ok "every connection row closed, the server row stopped" || fails=$((fails + 1))
echo "ecmgd_ops: $fails failure(s)"
[ $fails -eq 0 ]
