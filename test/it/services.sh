#!/bin/sh
# The service definitions in contrib/: every runit and s6 script parses
# (sh -n) and is executable; then the runit services of ecmgd, emmgd,
# casapid and cascron really run under Debian's runsvdir in a temporary
# folder, as an operator installs them (env/ folder, an unprivileged user
# when run as root, svlogd logs): ecmgd answers a scrambler (demo-headend
# gets its ECMs), emmgd connects to that scrambler's multiplexer port,
# casapid answers /healthz; `sv down` and runsvdir's SIGHUP stop them and
# nothing is left running.
set -u
: "${BUILD:=build}"
: "${TOP:=$(pwd)}"
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
bin=$BUILD/bin
t=$(mktemp -d /tmp/it-services.XXXXXX)
chmod 755 "$t"
svdir_pid=""
headend=""
tree=""
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# runsvdir's runsv processes and what they supervise
svtree() {
  for p in $(pgrep -P "$svdir_pid"); do echo "$p $(pgrep -P "$p" | tr '\n' ' ')"; done | tr '\n' ' '
}
# Whatever happened, nothing stays: runit stops what it can, then the
# remembered processes are killed.
cleanup() {
  [ -n "$headend" ] && kill -TERM "$headend" 2>/dev/null
  if [ -n "$svdir_pid" ] && kill -0 "$svdir_pid" 2>/dev/null; then
    tree="$tree $(svtree)"
    sv -w 5 force-stop "$t"/service/* "$t"/service/*/log >/dev/null 2>&1
    kill -HUP "$svdir_pid" 2>/dev/null
    wait "$svdir_pid" 2>/dev/null
  fi
  for p in $tree; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$t"
}
trap cleanup EXIT

# ---- every script parses and is executable ---------------------------------
n=0
for f in "$TOP"/contrib/runit/*/run "$TOP"/contrib/runit/*/run.env "$TOP"/contrib/runit/*/log/run \
         "$TOP"/contrib/runit/*/log/run.env "$TOP"/contrib/s6/*/run "$TOP"/contrib/s6/*/log/run; do
  [ -e "$f" ] || continue
  n=$((n + 1))
  rel=${f#"$TOP"/}
  sh -n "$f" 2>"$t/sh-n.err" || bad "sh -n $rel: $(cat "$t/sh-n.err")"
  [ -x "$f" ] || bad "$rel is not executable"
  head -n 1 "$f" | grep -q '^#!/bin/sh' || bad "$rel does not start with #!/bin/sh"
done
[ $n -ge 12 ] && ok "$n runit and s6 scripts parse (sh -n) and are executable" || bad "only $n scripts found"
for f in "$TOP"/contrib/s6/*/notification-fd; do
  [ "$(cat "$f")" = 3 ] || bad "${f#"$TOP"/} is not 3"
  d=$(dirname "$f")
  grep -q -- '-r 3' "$d/run" || bad "${d#"$TOP"/}/run does not pass -r 3"
done

# ---- a real run under runsvdir ---------------------------------------------
for p in runsvdir sv chpst svlogd curl python3; do
  command -v $p >/dev/null 2>&1 || { bad "$p is missing (sh contrib/deps.sh)"; exit 1; }
done
if [ "$(id -u)" = 0 ]; then user=nobody; else user=$(id -un); fi
set -- $(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
ecmg_port=$1 mux_port=$2 api_port=$3
mkdir -p "$t/home" "$t/etc" "$t/log" "$t/service"
cat >"$t/etc/cas.conf" <<EOF
db = ./var/cas.db
master_key = ./var/master.key
ecm_key = $(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
ecmg.listen = 127.0.0.1:$ecmg_port
emmg.mux = 127.0.0.1:$mux_port
api.listen = 127.0.0.1:$api_port
api.key = $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
EOF
if [ "$(id -u)" = 0 ]; then
  chown "$user" "$t/home"
  chgrp "$(id -gn "$user")" "$t/etc/cas.conf"
fi
chmod 0640 "$t/etc/cas.conf"
chmod 0700 "$t/home"
services="ecmgd emmgd casapid cascron"
# The programs are installed where the unprivileged user can run them: the
# build folder may sit in a home or a mktemp folder only its owner enters
# (chpst: "access denied" otherwise), as /usr/sbin would not.
mkdir -p "$t/sbin"
for s in $services; do install -m 0755 "$bin/$s" "$t/sbin/$s" || bad "unable to install $s into $t/sbin"; done
for s in $services; do
  # as the README says: a copy of contrib/runit/PROG and an env/ folder
  cp -r "$TOP/contrib/runit/$s" "$t/service/$s"
  d=$t/service/$s/env
  mkdir -p "$d"
  echo "$t/etc/cas.conf" >"$d/FREECAS_CONF"
  echo "$t/home" >"$d/FREECAS_HOME"
  echo "$user" >"$d/FREECAS_USER"
  echo "$t/log" >"$d/FREECAS_LOGDIR"
  echo "$t/sbin:/usr/sbin:/usr/bin:/sbin:/bin" >"$d/PATH"
done
# runsvdir from an empty environment, as init starts it
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin runsvdir -P "$t/service" 'log: ..........' \
  >"$t/runsvdir.out" 2>&1 &
svdir_pid=$!

# a scrambler and multiplexer for ecmgd and emmgd (it retries the ECMG
# while runsv starts it; emmgd retries the multiplexer)
"$bin/demo-headend" --out "$t/out.ts" --clear "$t/clear.ts" --ecmg 127.0.0.1:$ecmg_port \
  --mux 127.0.0.1:$mux_port --cp 1000 --status "$t/headend.status" 2>"$t/headend.log" &
headend=$!

# casapid answers
i=0
until curl -sf --max-time 2 "http://127.0.0.1:$api_port/healthz" >"$t/healthz" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
done
[ $i -lt 100 ] && ok "casapid under runsv answers /healthz: $(head -c 60 "$t/healthz")" \
  || bad "casapid does not answer on 127.0.0.1:$api_port"

# ecmgd answers the scrambler, emmgd sets up its stream on the multiplexer
val() { sed -n "s/^$1=//p" "$t/headend.status" 2>/dev/null; }
i=0
until [ "$(val ecm_responses)" -ge 5 ] 2>/dev/null && [ "$(val emmg_streams)" -ge 1 ] 2>/dev/null; do
  kill -0 $headend 2>/dev/null || break
  i=$((i + 1)); [ $i -lt 300 ] || break; sleep 0.1
done
[ "$(val ecm_responses)" -ge 5 ] 2>/dev/null && ok "ecmgd under runsv: $(val ecm_responses) ECMs for demo-headend" \
  || { bad "ecmgd: $(val ecm_responses) ECMs"; cat "$t/headend.log"; }
[ "$(val emmg_streams)" -ge 1 ] 2>/dev/null && ok "emmgd under runsv set up its stream on the multiplexer" \
  || bad "emmgd did not set up a stream on 127.0.0.1:$mux_port"

# each daemon as the service user, with a timestamped svlogd log
for s in ecmgd emmgd casapid; do
  st=$(sv status "$t/service/$s")
  pid=$(echo "$st" | sed -n 's/^run: [^(]*(pid \([0-9]*\)).*/\1/p')
  if [ -z "$pid" ]; then bad "$s is not running: $st"; continue; fi
  owner=$(ps -o user= -p "$pid" | tr -d ' ')
  comm=$(ps -o comm= -p "$pid")
  [ "$comm" = "$s" ] && [ "$owner" = "$user" ] && ok "$s runs as $owner (pid $pid)" \
    || bad "$s: pid $pid is '$comm' run by '$owner', expected $s by $user"
  grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9:.]+ $s: info: " "$t/log/$s/current" 2>/dev/null && ok "$s logs through svlogd" \
    || bad "$s: no svlogd log ($(ls "$t/log/$s" 2>&1))"
done
key=$t/home/var/master.key
[ "$(stat -c '%a %U' "$key" 2>/dev/null)" = "600 $user" ] && ok "master key created 0600 by $user" \
  || bad "master key: $(stat -c '%a %U' "$key" 2>&1)"
grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9:.]+ cascron: " "$t/log/cascron/current" 2>/dev/null || [ "$(sv status "$t/service/cascron" | cut -c1-4)" = "run:" ] \
  && ok "cascron minute loop under runsv" || bad "cascron: $(sv status "$t/service/cascron")"

# no restarts: each daemon kept its first pid
for s in ecmgd emmgd casapid; do
  starts=$(grep -c "$s: info: \(listening\|starting\)" "$t/log/$s/current" 2>/dev/null)
  [ "${starts:-0}" -le 1 ] || bad "$s restarted ($starts starts): $(tail -n 3 "$t/log/$s/current")"
done

# ---- stop ------------------------------------------------------------------
# runsv runs with a relative path: remember it and what it supervises
tree=$(svtree)
# in the order of a head-end shutdown: the EMMG leaves the multiplexer,
# the scrambler closes its ECM channel, then the ECMG and the API stop
sv -w 15 down "$t"/service/emmgd >"$t/sv.out" 2>&1 && ok "sv down emmgd" || bad "sv down emmgd: $(cat "$t/sv.out")"
grep -q "EMMG .*: stream [0-9]* closed" "$t/headend.log" && ok "emmgd closed its stream on the multiplexer" \
  || bad "emmgd did not close its stream: $(tail -n 2 "$t/headend.log")"
kill -TERM $headend
wait $headend
rc=$?
headend=""
[ $rc -eq 0 ] && ok "demo-headend stopped (exit 0)" || bad "demo-headend exit $rc"
sv -w 15 down "$t"/service/ecmgd "$t"/service/casapid >"$t/sv.out" 2>&1 \
  && ok "sv down ecmgd casapid" || bad "sv down: $(cat "$t/sv.out")"
for s in ecmgd emmgd casapid; do
  grep -q "$s: info: stopped" "$t/log/$s/current" && ok "$s logged a clean stop" \
    || bad "$s: no clean stop in its log: $(tail -n 2 "$t/log/$s/current")"
done
grep -q "channel 1 closed" "$t/log/ecmgd/current" && ok "the scrambler closed its ECM channel" \
  || bad "ecmgd saw no channel_close"
kill -HUP "$svdir_pid"
i=0
while pgrep -f "$t/" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
done
wait "$svdir_pid" 2>/dev/null
svdir_pid=""
i=0
while :; do
  left=""
  for p in $tree; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
  [ -z "$left" ] && break
  i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
done
[ -n "$left" ] && left="$(ps -o pid=,args= -p "$(echo $left | tr ' ' ',')")"
left="$left$(pgrep -fa "$t/")"
[ -z "$left" ] && ok "runsvdir, runsv, svlogd and the daemons are gone" || bad "left running: $left"

if [ $fails -ne 0 ]; then
  for f in "$t"/log/*/current "$t/runsvdir.out"; do echo "--- $f"; tail -n 10 "$f"; done
fi
echo "services: $fails failure(s)"
[ $fails -eq 0 ]
