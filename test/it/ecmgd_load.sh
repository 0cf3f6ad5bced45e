#!/bin/sh
# ecmgd with 1,000 concurrent SCS connections: all open at once, every one
# with ECM_channel_id 1 (channel ids are scoped per connection), one stream
# each, two CW_provisions each; every ECM checked by scs_sim.  Then the
# generators table holds one row per connection and the server's totals.
set -u
: "${BUILD:=build}" "${TOP:=.}"
tmp=$(mktemp -d /tmp/it-ecmgd-load.XXXXXX)
EPID=
trap '[ -n "$EPID" ] && kill -9 $EPID 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
. "$TOP/test/it/ecmgd.lib"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
N=1000

base_conf "$tmp/l.conf"
sed -i 's/^log.level = debug$/log.level = info/' "$tmp/l.conf"
start_ecmgd "$tmp/l.conf" "$tmp/l.log" || exit 1
start=$(date +%s.%N)
"$BUILD/bin/scs_sim" -p "$EPORT" -k "$KEY" -c $N concurrent >"$tmp/out" 2>&1 || bad "concurrent connections"
cat "$tmp/out"
end=$(date +%s.%N)
echo "ok: $N connections served in $(awk "BEGIN { printf \"%.2f\", $end - $start }") s"
n=$(grep -c ': connected$' "$tmp/l.log")
[ "$n" = $N ] && echo "ok: $N connections logged" || bad "$n connections logged"
n=$(grep -c ': channel 1 set up (Super_CAS_id 0x0B000000, protocol version 2)$' "$tmp/l.log")
[ "$n" = $N ] && echo "ok: $N channels with id 1 logged" || bad "$n channel set-ups logged"
db_wait "SELECT cw_provisions, ecms, errors FROM generators WHERE kind = 'ecmg' AND name = '127.0.0.1:$EPORT'" \
  "$((2 * N))|$((2 * N))|0" && echo "ok: server row: $((2 * N)) CW_provisions and ECMs, no error" || fails=$((fails + 1))
db_wait "SELECT count(*), sum(ecms) FROM generators WHERE kind = 'ecmg' AND name LIKE '127.0.0.1:$EPORT/%'" \
  "$N|$((2 * N))" && echo "ok: $N connection rows" || fails=$((fails + 1))
stop_ecmgd || fails=$((fails + 1))
echo "ecmgd_load: $fails failure(s)"
[ $fails -eq 0 ]
