#!/bin/sh
# emmgd with 1,000,000 cards (EMMGD_BENCH_CARDS to change), against the MUX
# simulator, TS-packet mode:
#  1. 60 s at 1 Mbit/s: the rate the simulator measures versus the
#     allocation (goal within +-2 %), every EMM decrypted and checked, the
#     change-to-air latency of a card changed through the database every
#     250 ms (goal p99 < 1 s), emmgd's peak RSS (goal < 200 MB);
#  2. at 65535 kbit/s (the largest bandwidth the protocol can ask for): the
#     time of one full cycle over all cards, measured by the simulator as the
#     time between two EMMs of the same card (median) and by emmgd itself,
#     versus the ideal cards x 188 bytes x 8 / bandwidth (goal within 5 %).
# The EMM build rate on one core is bench_carousel's figure.
set -u
: "${BUILD:=build}"
bin=$BUILD/bin
N=${EMMGD_BENCH_CARDS:-1000000}
B=$(mktemp -d /tmp/bench-emmgd.XXXXXX)
SP=""; EP=""; CP=""
cleanup() {
  for p in $SP $EP $CP; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$B"
}
trap cleanup EXIT INT TERM
now_ms() { date +%s%3N; }

conf() {
  cat >"$B/cas.conf" <<EOF
db = $B/cas.db
master_key = $B/master.key
emmg.mux = 127.0.0.1:${PORT:-1}
emmg.section_tspkt_flag = 1
emmg.min_cycle = 0
emmg.bandwidth = $1
EOF
}
start_sim() {
  rm -f "$B/port"
  "$bin/mux_sim" -P "$B/port" -T -s "$@" >"$B/sim.out" 2>&1 &
  SP=$!
  while [ ! -s "$B/port" ]; do sleep 0.1; done
  PORT=$(cat "$B/port")
}
start_emmgd() {
  "$bin/emmgd" -f "$B/cas.conf" 2>"$B/emmgd.err" &
  EP=$!
  i=0
  until grep -q "cards on air" "$B/emmgd.err" 2>/dev/null || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
}
stop() {
  kill -TERM "$EP"; wait "$EP"; EP=""
  wait "$SP"; SP=""
}
sim() { sed -n "s/^summary: .* $1=\([^ ]*\).*/\1/p" "$B/sim.out"; }

conf 1000
t=$(now_ms)
"$bin/cardtool" -c "$B/cas.conf" create 2100000000 "$N" >/dev/null || { echo "emmgd bench: cardtool failed"; exit 1; }
echo "emmgd_bench_db_create       $N cards in $(( $(now_ms) - t )) ms"

# 1. rate, latency, memory at 1 Mbit/s
start_sim -c "$B/cas.conf" -L -b 1000 -d 75 -o "$B/emm.log" -x
conf 1000
t=$(now_ms)
start_emmgd
echo "emmgd_bench_load            $(sed -n 's/.*cards on air (\([0-9]*\) loaded in \(.*\) s)/\1 cards in \2 s/p' "$B/emmgd.err")"
"$bin/cardtool" -c "$B/cas.conf" churn 60 250 2100000000 "$N" >"$B/changes" &
CP=$!
sleep 61
wait "$CP"; CP=""
rss=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$EP/status")
stop
rate=$(sim rate_bps)
awk -v r="$rate" -v m="$(sim max_1s_bps)" -v s="$(sim seconds)" 'BEGIN {
  d = (r - 1000000) / 10000
  printf "emmgd_bench_rate            %.0f bit/s over %.0f s for 1000000 allocated: %+.2f %% (goal +-2 %%: %s); busiest second %.0f bit/s\n",
    r, s, d, (d >= -2 && d <= 2) ? "ok" : "MISSED", m }'
echo "emmgd_bench_emms_checked    $(sim emms) EMMs, $(sim ok) decrypted to their row's rights, $(sim stale) stale, $(grep -c FAIL "$B/sim.out") faults"
awk 'NR == FNR { t[$2 " " $3] = $4; order[++n] = $2 " " $3; next }
     ($2 " " $3) in t && !(($2 " " $3) in seen) && $1 >= t[$2 " " $3] { seen[$2 " " $3] = $1 - t[$2 " " $3] }
     END {
       m = 0
       for (i = 1; i <= n; i++) if (order[i] in seen) lat[++m] = seen[order[i]]
       # sort
       for (i = 2; i <= m; i++) { v = lat[i]; j = i - 1; while (j > 0 && lat[j] > v) { lat[j + 1] = lat[j]; j-- } lat[j + 1] = v }
       p50 = lat[int(m * 0.50) + (m * 0.50 > int(m * 0.50))]; p99 = lat[int(m * 0.99) + (m * 0.99 > int(m * 0.99))]
       printf "emmgd_bench_latency         %d changes, %d on air: p50 %d ms, p99 %d ms, max %d ms (goal p99 < 1000 ms: %s)\n",
         n, m, p50, p99, lat[m], (m == n && p99 < 1000) ? "ok" : "MISSED"
     }' "$B/changes" "$B/emm.log"
awk -v k="$rss" -v n="$N" 'BEGIN { printf "emmgd_bench_rss             %.1f MB peak with %d cards (goal < 200 MB: %s)\n", k / 1024, n, (k > 0 && k < 204800) ? "ok" : "MISSED" }'

# 2. one full cycle at 65535 kbit/s
start_sim -y -d 60
conf 65535
start_emmgd
sleep 55
"$bin/cardtool" -c "$B/cas.conf" gen >"$B/gen"
stop
own=$(sed -n "s/^gen name=127.0.0.1:$PORT .* cycle_ms=\([0-9]*\) .*/\1/p" "$B/gen")
awk -v n="$N" -v med="$(sim cycle_median_ms)" -v c="$(sim cycled)" -v own="$own" -v r="$(sim rate_bps)" 'BEGIN {
  ideal = n * 188 * 8 / 65535000 * 1000
  d = (med - ideal) / ideal * 100
  printf "emmgd_bench_cycle           %.0f ms (median over %d cards; emmgd says %d ms) for ideal %.0f ms: %+.2f %% (goal within 5 %%: %s); rate %.0f bit/s\n",
    med, c, own, ideal, d, (d >= -5 && d <= 5) ? "ok" : "MISSED", r }'
