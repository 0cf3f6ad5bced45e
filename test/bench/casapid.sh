#!/bin/sh
# casapid under load (issue 6 goals), on loopback with wrk, against a
# database of CARDS cards (default 1,000,000) built with the db layer's bulk
# insert:
#   GET /api.php of a random card            >= 20,000 req/s, p99 < 5 ms
#   GET /api.php with set[...] (real changes) >= 5,000 req/s
#   POST /cards.csv of 1,000,000 rows         >= 200,000 rows/s
# Prints the figures and whether each goal is met; exits 1 if one is not.
# DURATION (s, default 10) per wrk run; CONNS (default 32) connections.
set -eu
: "${BUILD:=build}"
: "${CARDS:=1000000}"
: "${DURATION:=10}"
: "${CONNS:=32}"
bin=$BUILD/bin
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d /tmp/bench-casapid.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$t"
}
trap cleanup EXIT HUP INT TERM PIPE
command -v wrk >/dev/null || { echo "casapid bench: wrk is missing (contrib/deps.sh)"; exit 1; }
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export API_KEY=bench-key-5c1d8e2f9a7b CARDS
missed=0

conf() {
  cat >"$t/cas.conf" <<CONF
db = $t/$1/cas.db
master_key = $t/$1/master.key
api.listen = 127.0.0.1:$port
api.key = $API_KEY
api.csv_admin = yes
api.max_body = 1073741824
api.timeout = 120
CONF
}

start() {
  rm -f "$t/ready"; mkfifo "$t/ready"
  "$bin/casapid" -f "$t/cas.conf" -r 3 3>"$t/ready" 2>>"$t/log" &
  pid=$!
  [ "$(timeout 30 head -c 1 "$t/ready" | od -An -c | tr -d ' ')" = '\n' ] || { cat "$t/log"; exit 1; }
}

stop() { kill "$pid"; wait "$pid" || true; pid=""; }

goal() {	# goal DESCRIPTION OK(0/1)
  if [ "$2" = 1 ]; then echo "  goal met: $1"; else echo "  GOAL MISSED: $1"; missed=1; fi
}

# wrk_run SCRIPT: prints req/s and the latency percentiles, sets $rps $p50 $p99 (ms)
wrk_run() {
  wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$here/$1" "http://127.0.0.1:$port" >"$t/wrk.out" 2>&1
  rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$t/wrk.out")
  ms() { awk -v p="$1" '$1 == p { v = $2; if (v ~ /us$/) { sub("us", "", v); v /= 1000 }
    else if (v ~ /ms$/) { sub("ms", "", v) } else if (v ~ /s$/) { sub("s", "", v); v *= 1000 }
    printf "%.2f", v }' "$t/wrk.out"; }
  p50=$(ms 50%); p90=$(ms 90%); p99=$(ms 99%)
  errs=$(grep -E "Non-2xx|Socket errors|unexpected answer" "$t/wrk.out" || true)
  echo "  $rps req/s, latency p50 $p50 ms, p90 $p90 ms, p99 $p99 ms ($CONNS connections, ${DURATION} s)"
  [ -z "$errs" ] || echo "  $errs"
}

echo "casapid bench: $CARDS cards, $(nproc) CPU(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
conf full
"$BUILD/bench/casapid_mkdb" "$t/cas.conf" "$CARDS" | sed 's/^/  /'
start

# warm-up (not counted): the fresh database's pages into the page cache
wrk -t1 -c"$CONNS" -d3s -s "$here/casapid_get.lua" "http://127.0.0.1:$port" >/dev/null 2>&1
echo "GET /api.php, random card:"
wrk_run casapid_get.lua
goal "GET >= 20000 req/s and p99 < 5 ms" "$(awk -v r="$rps" -v p="$p99" 'BEGIN { print (r >= 20000 && p < 5) ? 1 : 0 }')"

a0=$(sqlite3 "$t/full/cas.db" "SELECT count(*) FROM audit")
echo "GET /api.php with set[access_criteria] and set[finish], random card:"
wrk_run casapid_set.lua
goal "set >= 5000 req/s" "$(awk -v r="$rps" 'BEGIN { print (r >= 5000) ? 1 : 0 }')"
sleep 1	# the last answers, before the export below
a1=$(sqlite3 "$t/full/cas.db" "SELECT count(*) FROM audit")
echo "  $((a1 - a0)) audit rows written"

echo "GET /cards.csv (operator layout):"
s0=$(date +%s%N)
curl -s -o "$t/all.csv" "http://127.0.0.1:$port/cards.csv?api_key=$API_KEY"
s1=$(date +%s%N)
rows=$(($(wc -l <"$t/all.csv") - 1))
echo "  $rows rows, $(($(stat -c %s "$t/all.csv") / 1048576)) MiB in $(( (s1 - s0) / 1000000 )) ms ($(awk -v n=$rows -v ns=$((s1 - s0)) 'BEGIN { printf "%d", n / (ns / 1e9) }') rows/s)"

# import FILE LABEL: POST it, print rows/s, set $irps
import() {
  s0=$(date +%s%N)
  out=$(curl -s --data-binary @"$1" "http://127.0.0.1:$port/cards.csv?api_key=$API_KEY&layout=${3:-operator}")
  s1=$(date +%s%N)
  n=$(($(wc -l <"$1") - 1))
  irps=$(awk -v n=$n -v ns=$((s1 - s0)) 'BEGIN { printf "%d", n / (ns / 1e9) }')
  echo "  $2: $n rows in $(( (s1 - s0) / 1000000 )) ms = $irps rows/s ($out)"
}

echo "POST /cards.csv:"
import "$t/all.csv" "re-import of the export, nothing changed"
ok1=$(awk -v r="$irps" 'BEGIN { print (r >= 200000) ? 1 : 0 }')
awk -F';' 'BEGIN { OFS = ";" } NR > 1 && NR % 100 == 0 { $4 = sprintf("%08X", NR) } { print }' "$t/all.csv" >"$t/one.csv"
import "$t/one.csv" "daily sync, 1% of the cards changed"
ok2=$(awk -v r="$irps" 'BEGIN { print (r >= 200000) ? 1 : 0 }')
head -n 100001 "$t/all.csv" | awk -F';' 'BEGIN { OFS = ";" } NR > 1 { $7 = sprintf("%d", 3000000000 + NR) } { print }' >"$t/chg.csv"
import "$t/chg.csv" "every row changed (100,000 rows)"
stop

echo "POST /cards.csv (admin layout) into an empty database: $CARDS new cards"
conf empty
start
awk -v n="$CARDS" 'BEGIN { srand(7); print "serial_no;name;info;key;access_criteria;type;pair;start;finish;edit";
  for (i = 0; i < n; i++) printf "%d;Subscriber %d;Street %d, flat %d;%08X%08X%08X%08X;%08X;1;0;1735689600;1767225599;\n",
    2100000000 + i, i, i % 997, i % 211, rand() * 4294967295, rand() * 4294967295, rand() * 4294967295,
    rand() * 4294967295, 2 ^ (i % 8) }' >"$t/new.csv"
import "$t/new.csv" "initial load" admin
ok3=$(awk -v r="$irps" 'BEGIN { print (r >= 200000) ? 1 : 0 }')
stop
goal "CSV import >= 200000 rows/s (re-import)" "$ok1"
goal "CSV import >= 200000 rows/s (1% changed)" "$ok2"
goal "CSV import >= 200000 rows/s (initial load)" "$ok3"
exit $missed
