#!/bin/sh
# cascron on a 1,000,000-card database: a run with nothing to do, the
# expiry sweep (goal: < 2 s), renewal, CSV export, CSV import of 1,000,000
# rows (goal: >= 200,000 rows/s: unchanged, all changed, all new), a backup.  Drives the real program on a
# clock set with --now; prints the figures.
set -u
BUILD=${BUILD:-build}
bin=$BUILD/bin
N=${CASCRON_BENCH_CARDS:-1000000}
tmp=$(mktemp -d /tmp/bench-cascron.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
T0=1735689600
FIRST=2100000000
cat >"$tmp/cas.conf" <<EOF
db = $tmp/var/cas.db
master_key = $tmp/var/master.key
backup.keep = 0
EOF
rc=0
now_ms() { date +%s%3N; }
# timed LABEL ARGS...: runs cascron, prints its summary and the wall time
timed() {
  label=$1; shift
  # each step starts with the previous one's writes on disk: the kernel
  # flushing hundreds of MB behind the next step skews it by seconds
  sync
  s=$(now_ms)
  "$bin/cascron" -f "$tmp/cas.conf" "$@" >"$tmp/out" 2>"$tmp/err" || { echo "cascron $*: failed"; tail -3 "$tmp/err"; rc=1; }
  ms=$(( $(now_ms) - s ))
  printf '%-34s %8d ms   %s\n' "$label" "$ms" "$(sed 's/^cascron: summary: //' "$tmp/out" | cut -c1-90)"
}

# 10% of the cards end at T0 + 100, the rest at T0 + 200
s=$(now_ms)
"$bin/cardfill" -f "$tmp/cas.conf" $FIRST $((N / 10)) $((T0 - 86400 * 30)) $((T0 + 100)) >/dev/null 2>&1 &&
"$bin/cardfill" -f "$tmp/cas.conf" $((FIRST + N / 10)) $((N - N / 10)) $((T0 - 86400 * 30)) $((T0 + 200)) >/dev/null 2>&1 ||
  { echo "cardfill failed"; exit 1; }
ms=$(( $(now_ms) - s ))
echo "cascron bench: $N cards created in $ms ms ($(( N * 1000 / (ms + 1) )) cards/s, keys wrapped)"
echo "cascron bench: database $(( $(stat -c %s "$tmp/var/cas.db") / 1000000 )) MB"

timed "run, nothing due ($N cards)" --now $T0
timed "run, nothing due, again" --now $T0
timed "expiry sweep: $((N / 10)) of $N expire" --now $((T0 + 101))
exp10_ms=$ms
# those cards active again (an operator's UPDATE), then all expire at once
sqlite3 "$tmp/var/cas.db" "UPDATE cards SET status = 1 WHERE status = 2"
timed "expiry sweep: all $N expire" --now $((T0 + 201))
exp_ms=$ms
timed "run, nothing due (all expired)" --now $((T0 + 202))
sqlite3 "$tmp/var/cas.db" "UPDATE cards SET finish = $((T0 + 86400 * 365)) WHERE serial_no < $((FIRST + N / 10))"
timed "renewal: $((N / 10)) cards active again" --now $((T0 + 203))

s=$(now_ms)
"$bin/cascron" -f "$tmp/cas.conf" export --layout operator >"$tmp/oper.csv" 2>/dev/null || { echo "export failed"; rc=1; }
ms=$(( $(now_ms) - s ))
echo "cascron bench: export of $N rows (operator layout) in $ms ms ($(( N * 1000 / (ms + 1) )) rows/s, $(( $(stat -c %s "$tmp/oper.csv") / 1000000 )) MB)"

timed "import $N rows, none changed" --now $((T0 + 204)) import "$tmp/oper.csv"
imp0_ms=$ms
# every row changed: another access_criteria
awk -F';' 'BEGIN { OFS = ";" } NR > 1 { $4 = "000000FF" } { print }' "$tmp/oper.csv" >"$tmp/changed.csv"
timed "import $N rows, all changed" --now $((T0 + 205)) import "$tmp/changed.csv"
imp1_ms=$ms
timed "import of the same file again" --now $((T0 + 206)) import "$tmp/changed.csv"
sed -i 's/^backup.keep = 0$/backup.keep = 2/' "$tmp/cas.conf"
timed "backup of $N cards" --now $((T0 + 207)) backup

# the first load: every card new, from an admin-layout export, into an empty database
"$bin/cascron" -f "$tmp/cas.conf" export --layout admin >"$tmp/admin.csv" 2>/dev/null || { echo "admin export failed"; rc=1; }
sed -e "s|^db = .*|db = $tmp/new/cas.db|" -e "s|^master_key = .*|master_key = $tmp/new/master.key|" \
  "$tmp/cas.conf" >"$tmp/new.conf"
mkdir -p "$tmp/new"
sync
s=$(now_ms)
"$bin/cascron" -f "$tmp/new.conf" --now $((T0 + 208)) import "$tmp/admin.csv" >"$tmp/out" 2>"$tmp/err" ||
  { echo "first load failed"; tail -3 "$tmp/err"; rc=1; }
imp2_ms=$(( $(now_ms) - s ))
printf '%-34s %8d ms   %s\n' "import $N new cards (admin layout)" "$imp2_ms" "$(sed 's/^cascron: summary: //' "$tmp/out" | cut -c1-90)"

echo "cascron bench: expiry sweep over $N cards: $exp10_ms ms with $((N / 10)) due, $exp_ms ms with all due [goal < 2000 ms]"
echo "cascron bench: import of $N rows: $(( N * 1000 / (imp0_ms + 1) )) rows/s unchanged, $(( N * 1000 / (imp1_ms + 1) )) rows/s all changed, $(( N * 1000 / (imp2_ms + 1) )) rows/s all new [goal >= 200000 rows/s]"
exit $rc
