#!/bin/sh
# ecmgd benchmark: the SCS load generator (build/bench/ecmg_load) against a
# real ecmgd on loopback.  ecmgd is pinned to one CPU and the generator to
# the other when taskset exists, for the throughput figures.  Prints:
#   - throughput: 10 connections x 100 streams, CW_provisions sent as fast
#     as the answers come back (goal >= 50,000 ECM/s on one core);
#   - latency: 1,000 streams at a 10 s crypto-period (goal p99 < 1 ms);
#   - 10,000 streams on 10,000 connections at 10 s (no error; RSS < 50 MB),
#     and 10,000 streams as 100 x 100;
#   - the idle probe: a silent channel gets channel_test after
#     ecmg.idle_timeout (120 s here) and is closed 30 s later, never before.
# Functional failures (an error, a wrong ECM, an early close) fail the
# script; a missed figure is reported as such (the machine is shared).
set -u
: "${BUILD:=build}" "${TOP:=.}"
tmp=$(mktemp -d /tmp/bench-ecmgd.XXXXXX)
EPID=
IDLEPID=
trap '[ -n "$EPID" ] && kill -9 $EPID 2>/dev/null; [ -n "$IDLEPID" ] && kill $IDLEPID 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
. "$TOP/test/it/ecmgd.lib"
load="$BUILD/bench/ecmg_load"
rc=0
pin0= pin1=
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; fi

base_conf "$tmp/b.conf"
sed -i 's/^log.level = debug$/log.level = info/' "$tmp/b.conf"
printf "ecmg.idle_timeout = 120\necmg.max_channels = 20000\n" >>"$tmp/b.conf"
# start_ecmgd, pinned
for _try in 1 2 3 4 5; do
  EPORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000 ))
  { cat "$tmp/b.conf"; echo "ecmg.listen = 127.0.0.1:$EPORT"; } >"$tmp/b.conf.run"
  $pin0 "$BUILD/bin/ecmgd" -f "$tmp/b.conf.run" -r 3 3>"$tmp/ready" 2>>"$tmp/b.log" &
  EPID=$!
  i=0; while [ ! -s "$tmp/ready" ] && kill -0 $EPID 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  [ -s "$tmp/ready" ] && break
  wait $EPID 2>/dev/null; EPID=
done
[ -n "$EPID" ] || { echo "ecmgd did not start"; cat "$tmp/b.log"; exit 1; }
echo "ecmgd pid $EPID on 127.0.0.1:$EPORT ${pin0:+(CPU 0; load generator on CPU 1)}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$EPID/status; }
t0=$(date +%s)
$pin1 "$load" -p "$EPORT" -k "$KEY" idle >"$tmp/idle" 2>&1 &
IDLEPID=$!

figure() { # LABEL GOAL-TEST-RESULT LINE
  echo "$3"
  grep -q ' 0 errors$' "$tmp/out" || { echo "FAIL: $1: errors"; rc=1; }
}

$pin1 "$load" -p "$EPORT" -k "$KEY" -c 10 -s 100 -d 5 max >"$tmp/out" 2>&1 || rc=1
figure throughput "" "$(grep '^max' "$tmp/out")"
ecms=$(sed -n 's/.* \([0-9]*\) ECM\/s.*/\1/p' "$tmp/out")
[ "${ecms:-0}" -ge 50000 ] && echo "  goal >= 50,000 ECM/s on one core: met ($ecms)" || echo "  goal >= 50,000 ECM/s on one core: MISSED ($ecms)"

$pin1 "$load" -p "$EPORT" -k "$KEY" -c 10 -s 100 -w 8 -d 5 max >"$tmp/out" 2>&1 || rc=1
figure pipelined "" "$(grep '^max' "$tmp/out") [8 in flight per stream]"

# Latency: no pinning from here on (on a shared machine a pinned process
# waits for its one CPU even when the other is free).
if [ -n "$pin0" ]; then taskset -pc 0-$(( $(nproc) - 1 )) $EPID >/dev/null; pin1=; fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$load" -p "$EPORT" -k "$KEY" -c 100 -s 10 -P 10000 -d 30 paced >"$tmp/out" 2>&1 || rc=1
figure latency "" "$(grep '^paced' "$tmp/out")"
p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$tmp/out")
awk "BEGIN { exit !($p99 < 1.0) }" && echo "  goal p99 < 1 ms at 1,000 streams / 10 s CP: met ($p99 ms)" \
  || echo "  goal p99 < 1 ms at 1,000 streams / 10 s CP: MISSED ($p99 ms; load average $(cut -d' ' -f1-3 /proc/loadavg))"

base=$(rss)
$pin1 "$load" -p "$EPORT" -k "$KEY" -c 10000 -s 1 -P 10000 -d 20 paced >"$tmp/out" 2>&1 &
lp=$!
sleep 15
r10k=$(rss)
wait $lp || rc=1
figure "10,000 connections" "" "$(grep '^paced' "$tmp/out")"
echo "  ecmgd RSS: ${base} kB before, ${r10k} kB with 10,000 connections and streams open"
[ "${r10k:-999999}" -lt 51200 ] && echo "  goal RSS < 50 MB at 10,000 streams: met" || echo "  goal RSS < 50 MB at 10,000 streams: MISSED"
$pin1 "$load" -p "$EPORT" -k "$KEY" -c 100 -s 100 -P 10000 -d 10 paced >"$tmp/out" 2>&1 &
lp=$!
sleep 8
r100=$(rss)
wait $lp || rc=1
figure "100 x 100" "" "$(grep '^paced' "$tmp/out")"
echo "  ecmgd RSS with 100 connections x 100 streams: ${r100} kB"
$pin1 "$load" -p "$EPORT" -k "$KEY" -c 10000 -s 1 -d 5 max >"$tmp/out" 2>&1 || rc=1
figure "10,000 at full speed" "" "$(grep '^max' "$tmp/out")"
echo "  ecmgd peak RSS: $(sed -n 's/^VmHWM:[[:space:]]*//p' /proc/$EPID/status)"

# the idle probe (ecmg.idle_timeout = 120 s, then 30 s for an answer)
left=$(( t0 + 160 - $(date +%s) ))
[ $left -gt 0 ] && { echo "waiting ${left} s more for the idle probe"; }
i=0; while kill -0 $IDLEPID 2>/dev/null && [ $i -lt $((left * 10)) ]; do sleep 0.1; i=$((i + 1)); done
wait $IDLEPID; IDLEPID=
cat "$tmp/idle" | grep '^idle'
probe=$(sed -n 's/^idle: channel_test after \([0-9]*\)\..*/\1/p' "$tmp/idle")
closed=$(sed -n 's/.*closed after \([0-9]*\)\..*/\1/p' "$tmp/idle")
if [ -n "$probe" ] && [ "$probe" -ge 120 ] && [ "$probe" -le 123 ] && [ "$closed" -ge 150 ] && [ "$closed" -le 153 ]; then
  echo "  idle channel: probed after ${probe} s, closed after ${closed} s without an answer (as configured)"
else
  echo "FAIL: idle channel: probe ${probe:-none}, closed ${closed:-?}"; rc=1
fi
grep -q 'disconnected: idle, no answer to channel_test' "$tmp/b.log" || { echo "FAIL: idle close not logged"; rc=1; }
stop_ecmgd || rc=1
grep -c ': connected$' "$tmp/b.log" | sed 's/^/  connections served: /'
grep 'error\|fatal' "$tmp/b.log" | head -5
exit $rc
