#!/bin/sh
# Integration: a change made through the database layer (cardtool uses
# libcas db.h as casapid and cascron do) is on the simulator's wire within
# 1 s, and repeated emmg.repeat times emmg.repeat_interval apart: a new AC,
# a disabled card (AC 0), a touch (same EMM again), a deletion (AC 0: the
# card is revoked), a new card.  With emmg.min_cycle = 60 the background is
# idle after its first cycle, so nothing else is sent (no filler).  SIGHUP
# reads the configuration again (a new bandwidth is requested).
set -u
. "$TOP/test/it/lib/emmgd.sh"

conf() { write_conf "emmg.bandwidth = ${1:-64}" "emmg.min_cycle = 60" "emmg.repeat = 2" "emmg.repeat_interval = 1"; }
conf
cardtool create 2100000000 20 >/dev/null || bad "cardtool create"
start_sim -d 25 -x
conf
start_emmgd
sleep 1
: >"$T/changes"
cardtool set 2100000005 ac=0000ABCD >>"$T/changes"; sleep 0.5
cardtool set 2100000006 status=0 >>"$T/changes"; sleep 0.5
cardtool touch 2100000007 >>"$T/changes"; sleep 0.5
cardtool delete 2100000008 >>"$T/changes"; sleep 0.5
t=$(date +%s%3N); cardtool create 2100000100 1 ac=55 >/dev/null && echo "changed 2100000100 00000055 $t" >>"$T/changes"
sleep 3
conf 32
kill -HUP "$EMMGD_PID"
sleep 1
stop_emmgd
wait_sim 5
[ "$SIM_RC" = 0 ] && ok "mux_sim found no fault" || { bad "mux_sim exit $SIM_RC"; grep FAIL "$T/sim.out"; }
grep summary "$T/sim.out"
cat "$T/changes"

# Expected AC on the wire after each change ("-": the card's AC, unchanged).
expect_ac() {
  case $1 in 2100000006|2100000008) echo 00000000;; 2100000007) echo 00000001;; *) echo "$2";; esac
}
while read -r _ serial ac ms; do
  want=$(expect_ac "$serial" "$ac")
  awk -v s="$serial" -v a="$want" -v t="$ms" '$2 == s && $3 == a && $1 >= t {print $1 - t}' "$T/emm.log" >"$T/lat"
  n=$(wc -l <"$T/lat")
  first=$(head -n 1 "$T/lat")
  if [ -n "$first" ] && [ "$first" -lt 1000 ]; then ok "card $serial: AC $want on air after $first ms"; else
    bad "card $serial: AC $want not on air within 1 s (${first:-never})"; fi
  [ "$n" = 3 ] && ok "card $serial: sent 3 times (1 + emmg.repeat 2)" || bad "card $serial sent $n times after its change"
  gap=$(awk 'NR == 1 {p = $1} NR == 2 {print $1 - p}' "$T/lat")
  [ -n "$gap" ] && [ "$gap" -ge 900 ] && [ "$gap" -le 1300 ] && ok "card $serial: repeated after $gap ms" \
    || bad "card $serial: repetition gap ${gap:-none} ms, want about 1000"
done <"$T/changes"
[ "$(sim stale)" = 0 ] && [ "$(sim nokey)" = 0 ] && ok "every EMM carried the row's rights when sent" || bad "stale $(sim stale) nokey $(sim nokey)"

# Nothing but the first cycle and the changes: no filler, no extra cycle.
emms=$(sim emms)
[ "$emms" -le 38 ] && [ "$emms" -ge 35 ] && ok "$emms EMMs: one cycle of 20 and 5 x 3 changes" || bad "$emms EMMs sent, want 35..38"

# SIGHUP: configuration read again, the new bandwidth requested.
grep -qx "stream_BW_request bandwidth=32" "$T/sim.out" && ok "SIGHUP: 32 kbit/s requested" || bad "no second stream_BW_request"
grep -q "^emmgd: info: reload: configuration $T/cas.conf read; reloading the cards; asking for the new bandwidth$" "$T/emmgd.err" \
  && ok "SIGHUP logged" || { bad "SIGHUP log line"; cat "$T/emmgd.err"; }
grep -q "^emmgd: info: MUX 127.0.0.1:$PORT: bandwidth 32 kbit/s requested, 32 kbit/s allocated: sending at 32 kbit/s$" "$T/emmgd.err" \
  && ok "new allocation applied" || bad "no new allocation line"
finish
