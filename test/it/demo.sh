#!/bin/sh
# The demo, shortened (20 crypto-periods of 1 s): the whole chain on
# loopback - casprog cards, ecmgd, emmgd, casapid, demo-headend scrambling
# with DVB-CSA, one cardemu + demo-receiver per card.  Fails unless
#   - every entitled card's descrambled output equals the clear input in
#     every crypto-period (no packet without a control word, no wrong byte);
#   - every unentitled card (wrong package, expired, not yet started) gets
#     no control word at all and so no packet equal to the clear input;
#   - the card whose package the API takes away loses the picture within
#     two crypto-periods of the change and gets it back after the API
#     gives the package back, never showing wrong bytes;
#   - every packet outside the scrambled stream is the scrambler's input;
#   - tshark decodes the stream's PAT, CAT and PMT with good CRCs and finds
#     the CA_descriptors for the ECM and EMM PIDs;
#   - every program stops on SIGTERM, nothing is left running and the
#     temporary folder is gone.
set -u
: "${BUILD:=build}"
: "${TOP:=$(pwd)}"
t=$(mktemp -d /tmp/it-demo.XXXXXX)
trap 'rm -rf "$t"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
val() { sed -n "s/^$2=//p" "$t/res/$1.status"; }

start=$(date +%s)
DEMO_SECONDS=20 DEMO_CP_MS=1000 DEMO_QUIET=1 DEMO_RESULT="$t/res" \
  timeout 120 sh "$TOP/contrib/demo/demo.sh" "$BUILD" >"$t/demo.out" 2>&1
rc=$?
cat "$t/demo.out"
[ $rc -eq 0 ] && ok "demo ran ($(( $(date +%s) - start )) s)" || bad "demo exit code $rc"
[ -f "$t/res/cards.txt" ] || { echo "FAIL: no results"; exit 1; }

# the head-end: every CP had its ECM in time, the EMMs all went on air
hs=headend
[ "$(val $hs state)" = stopped ] && ok "head-end stopped cleanly" || bad "head-end state $(val $hs state)"
cps=$(( $(val $hs cp) + 1 ))
[ "$cps" -ge 20 ] && ok "$cps crypto-periods" || bad "only $cps crypto-periods"
[ "$(val $hs ecm_late)" = 0 ] && ok "no ECM late" || bad "$(val $hs ecm_late) ECMs late"
[ "$(val $hs ecm_errors)" = 0 ] && [ "$(val $hs mux_errors)" = 0 ] && [ "$(val $hs emm_dropped)" = 0 ] \
  && ok "no ECMG, MUX or EMM queue error" \
  || bad "errors: ECMG $(val $hs ecm_errors), MUX $(val $hs mux_errors), EMMs dropped $(val $hs emm_dropped)"
[ "$(val $hs emm_datagrams)" -ge 8 ] && ok "$(val $hs emm_datagrams) EMM datagrams from emmgd" \
  || bad "only $(val $hs emm_datagrams) EMM datagrams"

n=0
while read -r serial role file; do
  s=rx$n
  n=$((n + 1))
  st=$(val $s state)
  [ "$st" = done ] || { bad "$serial ($role): receiver state $st"; tail -n 5 "$t/res/$s.log"; continue; }
  okc=$(val $s cp_ok) nocw=$(val $s cp_nocw) part=$(val $s cp_part) badc=$(val $s cp_bad)
  pok=$(val $s pkts_ok) pnocw=$(val $s pkts_nocw) pbad=$(val $s pkts_bad)
  hist=$(val $s history | tr -d ' ')
  desc="$serial ($role): CPs $okc OK, $nocw NOCW, $part PART, $badc BAD; packets $pok OK, $pnocw NOCW, $pbad BAD [$hist]"
  [ "$(val $s other_diff)" = 0 ] || bad "$serial: $(val $s other_diff) clear packets differ from the input"
  [ "$(val $s pkts_unknown)" = 0 ] || bad "$serial: $(val $s pkts_unknown) scrambled packets before the PMT"
  [ "$(val $s emm_sent)" -ge 1 ] || bad "$serial: no EMM reached the card"
  case $role in
    entitled|two-packages)
      if [ "$okc" -ge $((cps - 1)) ] && [ "$nocw" = 0 ] && [ "$part" = 0 ] && [ "$badc" = 0 ] &&
         [ "$pnocw" = 0 ] && [ "$pbad" = 0 ] && [ "$pok" -gt 0 ]; then
        ok "entitled: $desc"
      else bad "entitled card: $desc"; fi ;;
    wrong-package|expired|not-started)
      if [ "$okc" = 0 ] && [ "$pok" = 0 ] && [ "$pbad" = 0 ] && [ "$pnocw" -gt 0 ] &&
         [ "$(val $s ecm_ok)" = 0 ]; then
        ok "not entitled: $desc"
      else bad "unentitled card: $desc"; fi ;;
    api-toggled)
      # O... before the change, a gap of NOCW (a PART where the change
      # falls inside a CP), O... again to the end
      if [ "$pbad" = 0 ] && [ "$badc" = 0 ] && echo "$hist" | grep -Eq '^O{4,}p?\.+p?O{3,}$'; then
        ok "lost and regained the picture: $desc"
      else bad "API-toggled card: $desc"; fi ;;
    *) bad "unknown role $role" ;;
  esac
done <"$t/res/cards.txt"
[ $n -ge 6 ] && ok "$n cards" || bad "only $n cards"
grep -q "API: card .* access_criteria -> 00000000" "$t/res/events" && \
  grep -q "API: card .* access_criteria -> 00000001" "$t/res/events" && ok "both API calls answered" \
  || bad "API calls: $(grep API "$t/res/events")"

# tshark, an independent MPEG-TS decoder: PSI CRCs and CA descriptors
if command -v tshark >/dev/null 2>&1; then
  timeout 60 tshark -r "$t/res/out-start.ts" -o mpeg_sect.verify_crc:TRUE -c 3000 -V \
    -Y 'mpeg_pat || mpeg_pmt || mpeg_ca' >"$t/tshark.txt" 2>/dev/null
  good=$(grep -c 'CRC 32 Status: Good' "$t/tshark.txt")
  badcrc=$(grep -c 'CRC 32 Status: Bad' "$t/tshark.txt")
  [ "$good" -ge 3 ] && [ "$badcrc" = 0 ] && ok "tshark: $good PSI sections with a good CRC" \
    || bad "tshark: $good good, $badcrc bad CRCs"
  grep -q 'CA PID: 0x0101' "$t/tshark.txt" && grep -q 'CA PID: 0x0102' "$t/tshark.txt" \
    && grep -q 'System ID: 0x0b00' "$t/tshark.txt" && ok "tshark: CA_descriptors for ECM PID 0x0101 and EMM PID 0x0102" \
    || bad "tshark: CA descriptors not found"
  timeout 60 tshark -r "$t/res/out-start.ts" -c 3000 -T fields -e mp2t.pid -e mp2t.tsc 2>/dev/null |
    awk '$1 == "0x00000100" {s[$2]++} END {for (k in s) print k, s[k]}' >"$t/tsc.txt"
  grep -q '^0x00000002 ' "$t/tsc.txt" && grep -q '^0x00000003 ' "$t/tsc.txt" \
    && ! grep -q '^0x00000000 ' "$t/tsc.txt" \
    && ok "tshark: ES packets scrambled with the even and the odd key, none in clear" \
    || bad "tshark: scrambling control values: $(tr '\n' ' ' <"$t/tsc.txt")"
else
  bad "tshark is missing (sh contrib/deps.sh)"
fi

# every program stopped on SIGTERM, with exit code 0
if grep -q "warning" "$t/res/events"; then bad "$(grep "warning" "$t/res/events")"
else ok "every program stopped on SIGTERM with exit code 0"; fi

# nothing left behind
tmpdir=$(cat "$t/res/tmpdir")
[ ! -e "$tmpdir" ] && ok "temporary folder removed" || bad "$tmpdir left behind"
left=$(pgrep -f "$tmpdir" | tr '\n' ' ')
[ -z "$left" ] && ok "no process left running" || bad "processes left running: $left"

if [ $fails -ne 0 ]; then
  for f in "$t"/res/*.log; do echo "--- $f"; tail -n 15 "$f"; done
fi
echo "demo: $fails failure(s)"
[ $fails -eq 0 ]
