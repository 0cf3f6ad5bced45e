#!/bin/sh
# cardemu on a pseudo-terminal, driven by cardhost (libcas t0host) the way a
# Phoenix reader sees a card: reset by line flush and ATR, byte-level T=0
# with the echo and procedure bytes checked exactly, INS 26/82/C6, the
# reference ECMs (tvcas3-vectors.json card_model) with their exact answers,
# EMMs; then a restart on the same state file (pairing and rights kept, a
# foreign host refused), a clean SIGTERM, no CW or key in the log; and a
# blank card personalised, read back, locked and protected over the wire.
set -eu
: "${BUILD:=build}"
bin=$BUILD/bin
t=$(mktemp -d)
emu=""
cleanup() {
  [ -n "$emu" ] && kill "$emu" 2>/dev/null && wait "$emu" 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$t"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done; exit 1; }
unhex() { python3 -c "import sys; open(sys.argv[2], 'wb').write(bytes.fromhex(sys.argv[1]))" "$1" "$2"; }

# Golden bytes: reference/tvcas3-vectors.json (bin[0], emm[*], card_model).
BIN0=7D2B7500004BBE8C54564341532E434F4D202020202020659200806774857F0000000161417F4C0001007E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE07C8BA92E8EA422E00EFCB68329AA4A9
ECM0=1438008070347032642192E580E215D5C632E62ABAE17450417D7E156067CFF80561D08FAB8C1E6EBCC5D4E2EFE6AE79CA96241108596C18E355
ECM1=143800817034703264218416E40C1AF0ABD9605136F6DDABEC3664E54B863F957E1061EEE02A0621D2EE4FB3347D683EA6B9FA4E881B041D8630
ECM2=14380080703470326421D16ADB781386F177374B39A97E96B64A1B32D956153A297A3A2CC34EF57C0E9ACF443673F4EF9B966FF8B14E6425FFB1
ECM3=14380081703470326421CB6FB1928555FBCBE25BD0EBA57AD5E8B498ABFA67884E8595BD3F11F6610872571272C1131E17D4095CD47445298801
ECM4=1438008070347032642159A43C69C93DD441E4C83C2ADBFD6B12FBF6F832F3032F00C7DA18A126190028E90CF9FFF95C204F4F0553B3A7D38945
ECM5=14380081703470326421AABB454D19DC695ADA0D8A3172501A3D88FAB4751B61DCA52D48DF35E4F4D548882E9772153192BC12BED33C1F4AF234
CW4=250D00000100000102030405060708250D0000000000111213141516171831024000
EMM1=82703B0000007D2B75007032641099CD8027649CC90DA931E594C131311498FD54EF74EA2DAFEED91C69AB4EF1E8991A631E9DE29880C6CAAAF43E2CFF9F
EMM2=82703B0000007D2B79D27032641007B8A64DF59B7A8F912709876B46F14A7D64E09A865B6BCE0BACFE29D5BB1E90CDB463E922C1D44B5D19D26A1A06E76A
ATR=3B240030423030
# tvcas3.md §6 answers for BIN #1 (CAID 0B00, SA 4B BE 8C, host E0 30 2B)
INFO=20014028020B002F02002C300102230102
ADDR_OSCAM=110F01B00FFFFFFB000009040B00E0302B
ADDR_ANSWER=221809040B00E03023070000007D2B75002307000000004BBE8C
SUBS_HEAD=322F1010010F54564341532E434F4D2020202020
DATES=3002614130027F4C

start_emu() {
  "$bin/cardemu" "$@" 2>>"$t/emu.log" &
  emu=$!
  i=0
  while [ ! -L "$t/tty" ] || ! grep -q "waiting for a reset" "$t/emu.log"; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "cardemu did not create $t/tty"
    kill -0 "$emu" 2>/dev/null || fail "cardemu exited"
    sleep 0.05
  done
}
stop_emu() {
  kill -TERM "$emu"
  set +e; wait "$emu"; rc=$?; set -e
  emu=""
  [ $rc -eq 0 ] || fail "cardemu exit code $rc after SIGTERM"
  [ ! -e "$t/tty" ] || fail "cardemu left $t/tty behind"
  : >"$t/tty.gone"
  rm -f "$t/tty.gone"
}
host() {
  name=$1; shift
  timeout 60 "$bin/cardhost" "$t/tty" "$t/$name" >"$t/$name.log" 2>&1 || { cat "$t/$name.log"; fail "cardhost $name"; }
  tail -n 1 "$t/$name.log"
}

unhex "$BIN0" "$t/card.bin"

# ---- session 1: a fresh card from BIN #1 ----
start_emu --state "$t/state" --pty "$t/tty" "$t/card.bin"
cat >"$t/s1" <<EOF
reset $ATR
# INS 26 byte by byte: header echo + ACK 26, data echo + 98 11, CA read
raw DD26000003 DD2600000326
raw 100140 1001409811
raw DDCA000011 DDCA000011CA${INFO}9000
conax 82 $ADDR_OSCAM 9000 $ADDR_ANSWER
conax C6 1C0100 9000 ${SUBS_HEAD}20${DATES}200400000001${DATES}200400FFFF00
conax 26 1C0101 9000 -
# the reference ECMs: not started, not started, expired, not started,
# released, wrong package (card_model vectors 0..5)
conax A2 $ECM0 9000 31020000
conax A2 $ECM1 9000 31020000
conax A2 $ECM2 9000 31020000
conax A2 $ECM3 9000 31020000
conax A2 $ECM4 9000 $CW4
conax A2 $ECM5 9000 31020000
# the released ECM byte by byte: ACK A2, 98 22, then CA + 34 bytes + 90 00
raw DDA200003A DDA200003AA2
raw $ECM4 ${ECM4}9822
raw DDCA000022 DDCA000022CA${CW4}9000
# unknown instruction: a status word at once, never a hang
raw DD44000000 DD440000006D00
# EMM #2 for this card: pair on (host E0 30 2B), protect off; EMM #3 is
# for card 2100001234
conax 84 123E$EMM1 9000 -
conax 84 123E$EMM2 9000 -
conax C6 1C0100 9000 ${SUBS_HEAD}2B${DATES}200400000001${DATES}200401E6E6??
conax A2 $ECM4 9000 $CW4
# two resets in a row: the second flush follows an ATR with no command in
# between, cardemu takes it for OSCam's post-ATR flush; t0host retries
reset $ATR
reset $ATR
recv DDD8000008 01020A5A7D2B7500 9000
EOF
host s1
grep -q "ecm table 80 time 1710000000: ecm: cw released" "$t/emu.log" || fail "no ECM line in the log"
grep -q "ecm table 80 time 1735689600: ecm refused: subscription expired" "$t/emu.log" || fail "no refusal line"
grep -q "emm for another card (address 2100001234)" "$t/emu.log" || fail "no foreign EMM line"
grep -q "host E0302B: addresses sent" "$t/emu.log" || fail "no host line"
stop_emu
[ "$(stat -c %a "$t/state")" = 600 ] || fail "state file mode $(stat -c %a "$t/state")"
[ "$(stat -c %s "$t/state")" = 332 ] || fail "state file size"
[ ! -e "$t/state.tmp" ] || fail "temp state file left behind"
echo "ok: session 1 (echo, procedure bytes, INS 26/82/C6, 6 reference ECMs, EMMs)"

# ---- session 2: restart on the same state ----
start_emu --state "$t/state" --pty "$t/tty" "$t/card.bin"
cat >"$t/s2" <<EOF
reset $ATR
conax C6 1C0100 9000 ${SUBS_HEAD}2B${DATES}200400000001${DATES}2004??????00
conax 82 $ADDR_OSCAM 9000 $ADDR_ANSWER
conax A2 $ECM4 9000 $CW4
# another host (id 11 22 33): the paired card refuses it
reset $ATR
conax 82 110F01B00FFFFFFB000009040B00112233 9000 221809040B00112223070000007D2B75002307000000004BBE8C
conax A2 $ECM4 9000 31020000
EOF
host s2
grep -q "paired to another host" "$t/emu.log" || fail "no pairing refusal in the log"
stop_emu
echo "ok: session 2 (state kept across a restart: rights, pairing, binding)"

# a state file of another card is refused, not overwritten
python3 -c "import sys; b=bytearray(bytes.fromhex(sys.argv[1])); b[3]=1; open(sys.argv[2],'wb').write(b)" "$BIN0" "$t/other.bin"
set +e
"$bin/cardemu" --state "$t/state" --pty "$t/tty" "$t/other.bin" 2>"$t/other.err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "other card: exit $rc"
grep -q "holds card 2100000000, .*other.bin is card 2100000001" "$t/other.err" || fail "other card message: $(cat "$t/other.err")"

# ---- a blank card personalised over the wire ----
start_emu --blank --state "$t/blank" --pty "$t/tty"
cat >"$t/s3" <<EOF
reset $ATR
recv DDD8000008 0100000000000000 9000
conax 26 100140 6985 -
send DDD000005A$BIN0 9000
recv DDD200005A $BIN0 9000
recv DDD8000008 0101015A7D2B7500 9000
send DDD4000000 9000
send DDD00000017D 6982
recv DDD200005A - 6982
recv DDD200002A $(echo $BIN0 | cut -c1-84) 9000
send DDD6000000 6982
conax A2 $ECM4 9000 $CW4
EOF
host s3
stop_emu
start_emu --blank --state "$t/blank" --pty "$t/tty"
cat >"$t/s4" <<EOF
reset $ATR
recv DDD8000008 0102015A7D2B7500 9000
conax 26 100140 9000 $INFO
EOF
host s4
stop_emu
echo "ok: blank card written, read back, locked, erase refused, kept across a restart"

# Never a CW or a key in the log.
for secret in 0102030405060708 1112131415161718 7E33A278 07C8BA92 07AC67E0; do
  ! grep -qi "$secret" "$t/emu.log" || fail "log contains $secret"
done
echo "ok: $(wc -l <"$t/emu.log") log lines, no CW or key"
