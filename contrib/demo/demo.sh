#!/bin/sh
# FreeCAS end to end on one machine (`make demo`).
#
# In a temporary folder: a configuration with a fresh ECM key and API key,
# a database with a handful of cards made by casprog, ecmgd, emmgd and
# casapid on 127.0.0.1; demo-headend scrambles a generated MPEG-TS with
# DVB-CSA under a new control word every crypto-period, with the ECMs from
# ecmgd and the EMMs from emmgd; one software card (cardemu) and one
# receiver (demo-receiver) per card descramble it and compare every packet
# with the clear input.  Halfway through, the billing API takes a package
# away from one card and gives it back.
#
# Usage: sh contrib/demo/demo.sh [BUILD]       (binaries in BUILD/bin)
# Environment:
#   DEMO_SECONDS   length of the stream (default 60)
#   DEMO_CP_MS     crypto-period in ms (default 2000; ecmgd accepts >= 1000)
#   DEMO_QUIET=1   no live table, only the events and the final table
#   DEMO_RESULT=D  copy the status files, logs and the start of the streams
#                  to folder D (the integration test reads them)
#   DEMO_KEEP=1    keep the temporary folder
#   DEMO_LOG_LEVEL log.level of the daemons (default info)
#   DEMO_CONF      more configuration lines (e.g. "ecmg.delay_start = -200")
# Ctrl-C stops everything; nothing is left running.
set -u

BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
bin=$BUILD/bin
seconds=${DEMO_SECONDS:-60}
cp_ms=${DEMO_CP_MS:-2000}
quiet=${DEMO_QUIET:-0}
result=${DEMO_RESULT:-}
keep=${DEMO_KEEP:-0}

die() { echo "demo: fatal: $*" >&2; exit 111; }

for p in ecmgd emmgd casapid casprog cardemu demo-headend demo-receiver; do
  [ -x "$bin/$p" ] || die "$bin/$p is missing: run make first"
done
for p in curl python3; do
  command -v $p >/dev/null 2>&1 || die "$p is missing: run sh contrib/deps.sh as root"
done

tmp=$(mktemp -d /tmp/freecas-demo.XXXXXX) || die "unable to create a temporary folder"
pids=""

# Stops every process this script started (SIGTERM, then SIGKILL after 5 s,
# which is reported: every program must stop on SIGTERM) and removes the
# temporary folder.
cleanup() {
  trap - EXIT INT TERM HUP
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null
    i=0
    while [ $i -lt 50 ]; do
      alive=""
      for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
      [ -z "$alive" ] && break
      sleep 0.1; i=$((i + 1))
    done
    if [ -n "$alive" ]; then
      for p in $alive; do
        event "warning: $(ps -o comm= -p "$p") (pid $p) did not stop on SIGTERM within 5 s: killed"
      done
      kill -KILL $alive 2>/dev/null
    fi
    wait 2>/dev/null
  fi
  if [ -n "$result" ]; then
    mkdir -p "$result"
    cp "$tmp"/*.status "$tmp"/*.log "$tmp/events" "$tmp/cards.txt" "$result"/ 2>/dev/null
    echo "$tmp" >"$result/tmpdir"
    [ -f "$tmp/out.ts" ] && head -c 1880000 "$tmp/out.ts" >"$result/out-start.ts"
  fi
  if [ "$keep" = 1 ]; then echo "demo: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM HUP

# started NAME PID: remember a child to stop at the end
started() { pids="$pids $2"; echo "$2" >"$tmp/$1.pid"; }

# stop NAME: SIGTERM, wait up to 5 s (then SIGKILL, reported); returns its
# exit code
stop() {
  p=$(cat "$tmp/$1.pid")
  kill -TERM "$p" 2>/dev/null
  i=0
  while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$p" 2>/dev/null; then
    event "warning: $1 (pid $p) did not stop on SIGTERM within 5 s: killed"
    kill -KILL "$p" 2>/dev/null
  fi
  wait "$p" 2>/dev/null
  rc=$?
  pids=$(echo " $pids " | sed "s/ $p / /")
  return $rc
}

# start_ready NAME CMD...: a daemon with -r 3; waits for its readiness line
start_ready() {
  name=$1; shift
  mkfifo "$tmp/$name.ready"
  "$@" -r 3 3>"$tmp/$name.ready" 2>"$tmp/$name.log" &
  started "$name" $!
  # one newline: the daemon serves; end of file: it exited first
  got=$(timeout 15 head -c 1 "$tmp/$name.ready" | wc -c)
  [ "$got" = 1 ] || { tail -n 5 "$tmp/$name.log" >&2; die "$name did not start"; }
}

event() {
  printf '%s  %s\n' "$(elapsed)" "$*" >>"$tmp/events"
  if [ "$quiet" = 1 ]; then printf 'demo: %s  %s\n' "$(elapsed)" "$*"; fi
  return 0
}
t_start=$(date +%s)
elapsed() { s=$(( $(date +%s) - t_start )); printf '%02d:%02d' $((s / 60)) $((s % 60)); }

# ---- configuration -------------------------------------------------------
ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))') || die "no free TCP port"
set -- $ports
ecmg_port=$1 mux_port=$2 api_port=$3
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
api_key=$(hex 24)
cat >"$tmp/cas.conf" <<EOF
# FreeCAS demo configuration (made by contrib/demo/demo.sh)
db = $tmp/var/cas.db
master_key = $tmp/var/master.key
super_cas_id = 0x0B000000
ecm_key = $(hex 32)
trademark = FREECAS DEMO
log.level = ${DEMO_LOG_LEVEL:-info}
card.dir = $tmp/cards
ecmg.listen = 127.0.0.1:$ecmg_port
ecmg.min_cp_duration = 10
emmg.mux = 127.0.0.1:$mux_port
emmg.bandwidth = 64
api.listen = 127.0.0.1:$api_port
api.key = $api_key
EOF
[ -n "${DEMO_CONF:-}" ] && printf '%s\n' "$DEMO_CONF" >>"$tmp/cas.conf"
chmod 600 "$tmp/cas.conf"
: >"$tmp/events"

# ---- cards -----------------------------------------------------------------
# role, access criteria, start, finish (days from now).  The programme is
# sent with access_criteria 00000001 (package 1).
now=$(date +%s)
day=86400
: >"$tmp/cards.txt"
mkcard() {
  role=$1 ac=$2 start=$(( now + $3 * day )) finish=$(( now + $4 * day ))
  out=$("$bin/casprog" -f "$tmp/cas.conf" create --ac "$ac" --start "$start" --finish "$finish" \
        2>>"$tmp/casprog.log") || { cat "$tmp/casprog.log" >&2; die "casprog create failed"; }
  set -- $out
  echo "$1 $role $2" >>"$tmp/cards.txt"
}
mkcard entitled      00000001  -1  30
mkcard two-packages  00000003  -1  30
mkcard api-toggled   00000001  -1  30
mkcard wrong-package 00000002  -1  30
mkcard expired       00000001 -30  -1
mkcard not-started   00000001   1  30
toggled=$(awk '$2 == "api-toggled" {print $1}' "$tmp/cards.txt")
event "casprog created $(wc -l <"$tmp/cards.txt") cards and their personalisation files"

# ---- daemons ---------------------------------------------------------------
start_ready ecmgd "$bin/ecmgd" -f "$tmp/cas.conf"
event "ecmgd listens on 127.0.0.1:$ecmg_port"
start_ready casapid "$bin/casapid" -f "$tmp/cas.conf"
event "casapid listens on 127.0.0.1:$api_port"

# ---- cards and receivers ---------------------------------------------------
n=0
while read -r serial role file; do
  "$bin/cardemu" --state "$tmp/card$n.state" --pty "$tmp/card$n.tty" "$file" 2>"$tmp/cardemu$n.log" &
  started cardemu$n $!
  "$bin/demo-receiver" --card "$tmp/card$n.tty" --ts "$tmp/out.ts" --clear "$tmp/clear.ts" \
    --done "$tmp/done" --status "$tmp/rx$n.status" --name "$serial" 2>"$tmp/rx$n.log" &
  started rx$n $!
  n=$((n + 1))
done <"$tmp/cards.txt"
ncards=$n

# ---- the head-end ----------------------------------------------------------
"$bin/demo-headend" --out "$tmp/out.ts" --clear "$tmp/clear.ts" --ecmg 127.0.0.1:$ecmg_port \
  --mux 127.0.0.1:$mux_port --cp "$cp_ms" --status "$tmp/headend.status" \
  --done "$tmp/done" 2>"$tmp/headend.log" &
started headend $!
headend=$!
i=0
until grep -q '^state=running' "$tmp/headend.status" 2>/dev/null; do
  kill -0 $headend 2>/dev/null || { tail -n 5 "$tmp/headend.log" >&2; die "demo-headend exited"; }
  i=$((i + 1)); [ $i -lt 150 ] || die "demo-headend did not start"
  sleep 0.1
done
event "demo-headend: SCS connected to ecmgd, stream on air (crypto-period $cp_ms ms)"
start_ready emmgd "$bin/emmgd" -f "$tmp/cas.conf"
event "emmgd connected to the multiplexer"

# ---- the API calls ---------------------------------------------------------
# GET /api.php?api_key=K&serial_no=S&set[access_criteria]=X (TVCAS API)
api_set_ac() {
  curl -sS -g --max-time 5 \
    "http://127.0.0.1:$api_port/api.php?api_key=$api_key&serial_no=$1&set[access_criteria]=$2" \
    >"$tmp/api.out" 2>&1
  rc=$?
  ac_back=$(sed -n 's/.*"access_criteria":"\([0-9A-Fa-f]*\)".*/\1/p' "$tmp/api.out")
  if [ $rc -eq 0 ] && [ "$ac_back" = "$2" ]; then
    event "API: card $1 access_criteria -> $2"
  else
    event "API call failed (curl $rc): $(head -c 200 "$tmp/api.out")"
  fi
}

# ---- the table -------------------------------------------------------------
field() { sed -n "s/^$2=//p" "$1" 2>/dev/null; }

table() {
  hs=$tmp/headend.status
  printf 'FreeCAS demo  %s / %ds   crypto-period %s s   CP %s\n' "$(elapsed)" "$seconds" \
    "$(awk -v ms="$cp_ms" 'BEGIN {print ms / 1000}')" "$(field "$hs" cp)"
  printf 'ecmgd  %s CW_provisions, %s ECMs (slowest %s ms)   emmgd  %s EMM datagrams at %s kbit/s   on air: %s ECM + %s EMM packets\n\n' \
    "$(field "$hs" cw_provisions)" "$(field "$hs" ecm_responses)" "$(field "$hs" ecm_comp_ms_max)" \
    "$(field "$hs" emm_datagrams)" "$(field "$hs" emm_kbit)" "$(field "$hs" ecm_packets)" \
    "$(field "$hs" emm_packets)"
  printf '%-11s %-13s %-8s %-10s %-8s %-9s %-4s %-24s %s\n' card role packages until answer ECMs EMMs \
    'crypto-periods (O . p X)' 'output = clear input'
  n=0
  while read -r serial role file; do
    awk -F= -v serial="$serial" -v role="$role" '
      { v[$1] = substr($0, length($1) + 2) }
      END {
        total = v["cp_ok"] + v["cp_nocw"] + v["cp_part"] + v["cp_bad"]
        if (v["last"] == "OK") out = "yes"
        else if (v["last"] == "NOCW") out = "no: no control word"
        else if (v["last"] == "PART") out = "partly"
        else if (v["last"] == "BAD") out = "NO: wrong bytes"
        else out = "-"
        if (total > 0) out = sprintf("%-22s %d/%d CPs", out, v["cp_ok"], total)
        card = v["ecm_last"] == "ok" ? "CWs" : v["ecm_last"] == "refused" ? "refused" : "-"
        ecms = sprintf("%d/%d", v["ecm_ok"], v["ecm_refused"])
        printf "%-11s %-13s %-8s %-10s %-8s %-9s %-4s %-24s %s\n", serial, role, v["card_ac"],
          v["card_finish"], card, ecms, v["emm_sent"], substr(v["history"], length(v["history"]) - 23), out
      }' "$tmp/rx$n.status" 2>/dev/null || printf '%-11s %-13s starting\n' "$serial" "$role"
    n=$((n + 1))
  done <"$tmp/cards.txt"
  echo
  tail -n 6 "$tmp/events"
}

# ---- run -------------------------------------------------------------------
revoke_at=$(( seconds * 35 / 100 ))
restore_at=$(( seconds * 65 / 100 ))
revoked=0 restored=0
tty=0
[ "$quiet" != 1 ] && [ -t 1 ] && tty=1
last_print=0
while :; do
  kill -0 $headend 2>/dev/null || { tail -n 5 "$tmp/headend.log" >&2; die "demo-headend exited"; }
  ms=$(field "$tmp/headend.status" stream_ms)
  t=$(( ${ms:-0} / 1000 ))
  [ $t -ge "$seconds" ] && break
  if [ $revoked = 0 ] && [ $t -ge $revoke_at ]; then
    api_set_ac "$toggled" 00000000; revoked=1
  elif [ $restored = 0 ] && [ $t -ge $restore_at ]; then
    api_set_ac "$toggled" 00000001; restored=1
  fi
  if [ $tty = 1 ]; then
    printf '\033[H\033[J'; table
  elif [ "$quiet" != 1 ] && [ $((t - last_print)) -ge 10 ]; then
    table; echo; last_print=$t
  fi
  sleep 0.5
done
# the end, in head-end order: the EMMG leaves the multiplexer, then the
# scrambler closes its ECM channel and ends the stream
if stop emmgd; then event "emmgd stopped"; else event "warning: emmgd: exit code $rc"; fi
stop headend || { tail -n 5 "$tmp/headend.log" >&2; die "demo-headend failed (exit $rc)"; }
event "stream ended after $(( $(field "$tmp/headend.status" cp) + 1 )) crypto-periods"
# the receivers finish the stream on their own (10 s at most)
n=0
while [ $n -lt $ncards ]; do
  p=$(cat "$tmp/rx$n.pid")
  i=0
  while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  stop rx$n || event "warning: demo-receiver of card $n: exit code $rc"
  n=$((n + 1))
done
# then the rest; any exit code but 0 is reported
n=0
while [ $n -lt $ncards ]; do
  stop cardemu$n || event "warning: cardemu $n: exit code $rc"
  n=$((n + 1))
done
stop casapid || event "warning: casapid: exit code $rc"
stop ecmgd || event "warning: ecmgd: exit code $rc"
[ $tty = 1 ] && printf '\033[H\033[J'
table
echo
[ "$keep" = 1 ] || echo "demo: every process stopped, $tmp removed (DEMO_KEEP=1 keeps it)"
exit 0
