#!/bin/sh
# casprog write / info / erase through a pseudo-terminal, the way a Phoenix
# reader shows a card: contrib/cardemu (the software card) and
# test/sim/fakecard (faulty cards).  What is checked: casprog's exact output
# and exit codes, and the card itself, read back independently with
# cardhost's raw APDUs against the bytes of the personalisation file and
# the reference vectors (tvcas3-vectors.json: bin[0], emm[1]).
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
fail() { echo "FAIL: $*"; for f in "$t"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done; exit 1; }
unhex() { python3 -c "import sys; open(sys.argv[2], 'wb').write(bytes.fromhex(sys.argv[1]))" "$1" "$2"; }
hexof() { od -An -v -tx1 "$1" | tr -d ' \n' | tr a-f A-F; }

ECMKEY=7E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE
BIN0=7D2B7500004BBE8C54564341532E434F4D202020202020659200806774857F0000000161417F4C0001007E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE07C8BA92E8EA422E00EFCB68329AA4A9
# emm[1]: card 2100000000, pair 1, type 2 (protection off), same window
EMM1=82703B0000007D2B75007032641099CD8027649CC90DA931E594C131311498FD54EF74EA2DAFEED91C69AB4EF1E8991A631E9DE29880C6CAAAF43E2CFF9F
ATR=3B240030423030
cat >"$t/cas.conf" <<EOF
db = $t/var/cas.db
master_key = $t/var/master.key
ecm_key = $ECMKEY
trademark = TESTCAS
card.dir = $t/cards
card.port = $t/tty
card.reset = flush
card.timeout = 500
EOF
cp() { "$bin/casprog" -f "$t/cas.conf" "$@"; }
start_emu() {
  : >"$t/emu.log"
  "$bin/cardemu" "$@" 2>>"$t/emu.log" &
  emu=$!
  i=0
  while ! grep -q "waiting for a reset" "$t/emu.log"; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "cardemu did not start"
    sleep 0.05
  done
}
stop_emu() { kill -TERM "$emu"; wait "$emu" || fail "cardemu exit code"; emu=""; }
host() {	# host DEVICE NAME: runs the cardhost script $t/NAME
  timeout 20 "$bin/cardhost" "$1" "$t/$2" >"$t/$2.log" 2>&1 || { cat "$t/$2.log"; fail "cardhost $2"; }
}
expect() {	# expect EXIT NAME ARGS...: casprog's exit code; output in $t/NAME.out/.err
  want=$1 name=$2; shift 2
  set +e; cp "$@" >"$t/$name.out" 2>"$t/$name.err"; rc=$?; set -e
  [ $rc -eq "$want" ] || fail "$name: casprog $*: exit $rc, want $want: $(cat "$t/$name.err")"
}
has() { grep -qxF "$2" "$t/$1" || fail "$1 lacks '$2': $(cat "$t/$1")"; }

cp create -n 2 --ac 0000000A --start 2024-01-01 --finish 2024-12-31T23:59:59 >/dev/null 2>"$t/create.err" || fail "create"
C0=$t/cards/210-000-000-0.bin
C1=$t/cards/210-000-000-1.bin

# ---- a blank card: written, verified, locked ----
start_emu --blank --state "$t/state" --pty "$t/tty"
expect 0 info0 info
[ "$(cat "$t/info0.out")" = "state           blank (not personalised)" ] || fail "blank info: $(cat "$t/info0.out")"
expect 0 w0 write "$C0"
[ "$(cat "$t/w0.out")" = "2100000000 written, verified and locked" ] || fail "write output: $(cat "$t/w0.out")"
for l in "casprog: info: a card answers on $t/tty; writing card 2100000000" \
         "casprog: info: card 2100000000: 18 of 90 bytes written" \
         "casprog: info: card 2100000000: 90 of 90 bytes written" \
         "casprog: info: card 2100000000: verified, locking" \
         "casprog: info: card 2100000000: written, verified and locked"; do
  has w0.err "$l"
done
grep -q "personalised: card 2100000000" "$t/emu.log" || fail "cardemu saw no personalisation"
# The card itself: STATUS = version 1, locked, protect, 90 bytes, serial;
# the public part reads back as the file's bytes 0..41; the keys do not.
F=$(hexof "$C0")
cat >"$t/s1" <<EOF
reset $ATR
recv DDD8000008 0102015A7D2B7500 9000
recv DDD200002A $(echo "$F" | cut -c1-84) 9000
recv DDD200005A - 6982
send DDD00000017D 6982
EOF
host "$t/tty" s1
expect 0 info1 info
cat >"$t/info1.want" <<EOF
serial          2100000000
caid            0B00
version         64
shared address  4BBE8C
state           locked, protect on, pair off
package 1010    TESTCAS
  start         2024-01-01
  finish        2024-12-31
  access        0000000A
emm count       0 (last checksums FF/FF)
EOF
cmp -s "$t/info1.want" "$t/info1.out" || fail "info table: $(cat "$t/info1.out")"
expect 0 info1j info --json
[ "$(cat "$t/info1j.out")" = '{"serial":2100000000,"caid":"0B00","version":64,"shared_addresses":["4BBE8C"],"state":"locked","protect":true,"pair":false,"bound":false,"blocked":false,"packages":[{"id":"1010","name":"TESTCAS","entitlements":[{"start":"2024-01-01","finish":"2024-12-31","access":"0000000A"}]}],"emm_count":0}' ] \
  || fail "info --json: $(cat "$t/info1j.out")"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['serial'] == 2100000000" "$t/info1j.out" || fail "JSON does not parse"
# an issued card is neither rewritten nor erased
expect 2 w1 write "$C1"
has w1.err "casprog: fatal: the card in the reader is card 2100000000, already issued and locked (protected): casprog write refuses it"
[ ! -s "$t/w1.out" ] || fail "refused write printed $(cat "$t/w1.out")"
expect 2 e1 erase
has e1.err "casprog: fatal: card 2100000000 is protected: erase refused (switch its protection off from the head-end, card type 2, and let its EMM reach the card first)"
host "$t/tty" s1
stop_emu
echo "ok: blank card written, verified, locked; info table and JSON; rewrite and erase refused"

# ---- the reference card: an EMM switches protection off, then erase ----
unhex "$BIN0" "$t/ref.bin"
start_emu --state "$t/state2" --pty "$t/tty" "$t/ref.bin"
cat >"$t/s2" <<EOF
reset $ATR
conax 82 110F01B00FFFFFFB000009040B00E0302B 9000 221809040B00E03023070000007D2B75002307000000004BBE8C
conax 84 123E$EMM1 9000 -
EOF
host "$t/tty" s2
expect 0 info2 info
cat >"$t/info2.want" <<EOF
serial          2100000000
caid            0B00
version         64
shared address  4BBE8C
state           locked, protect off, pair on (bound to a host)
package 1010    TVCAS.COM     +
  start         2024-01-01
  finish        2024-12-31
  access        00000001
emm count       1 (last checksums E6/E6)
EOF
cmp -s "$t/info2.want" "$t/info2.out" || fail "info after the EMM: $(cat "$t/info2.out")"
expect 0 e2 erase
[ "$(cat "$t/e2.out")" = "2100000000 erased: the card is blank" ] || fail "erase output: $(cat "$t/e2.out")"
cat >"$t/s3" <<EOF
reset $ATR
recv DDD8000008 0100000000000000 9000
conax 26 100140 6985 -
EOF
host "$t/tty" s3
expect 0 e3 erase
[ "$(cat "$t/e3.out")" = "the card is blank already" ] || fail "erase of a blank card: $(cat "$t/e3.out")"
# and issued again from the reference file
expect 0 w2 write "$t/ref.bin"
cat >"$t/s4" <<EOF
reset $ATR
recv DDD8000008 0102015A7D2B7500 9000
recv DDD200002A $(echo "$BIN0" | cut -c1-84) 9000
EOF
host "$t/tty" s4
stop_emu
echo "ok: reference card: EMM (protect off, pair on) shown by info, erased, written again"

# ---- a terminal gets a progress bar ----
start_emu --blank --pty "$t/tty"
script -qec "$bin/casprog -f $t/cas.conf write $C1" /dev/null >"$t/tty.out" 2>&1 </dev/null || fail "write on a terminal: $(cat "$t/tty.out")"
tr '\r' '\n' <"$t/tty.out" | grep -q '^\[##############################\] 100% card 2100000001: written, verified and locked' \
  || fail "no progress bar: $(od -c "$t/tty.out" | head)"
grep -q "casprog: info" "$t/tty.out" && fail "log lines on a terminal"
stop_emu
echo "ok: progress bar on a terminal"

# ---- errors ----
fk=""
start_fake() {
  "$bin/fakecard" --pty "$t/fk" "$@" 2>"$t/fake.log" &
  fk=$!
  i=0
  while [ ! -L "$t/fk" ]; do i=$((i + 1)); [ $i -lt 100 ] || fail "fakecard"; sleep 0.05; done
}
stop_fake() { kill "$fk"; wait "$fk" 2>/dev/null || true; rm -f "$t/fk"; }

expect 111 x1 info --port "$t/nothing"
has x1.err "casprog: fatal: unable to open $t/nothing: No such file or directory (is the reader plugged in?)"

start_fake --silent
expect 2 x2 write --port "$t/fk" --timeout 200 "$C1"
has x2.err "casprog: fatal: no card in the reader on $t/fk: no answer to reset (reset by flush)"
[ ! -s "$t/x2.out" ] || fail "no card: printed $(cat "$t/x2.out")"
expect 111 x3 info --port "$t/fk" --reset rts
has x3.err "casprog: fatal: $t/fk: unable to read the modem lines: Inappropriate ioctl for device ($t/fk has no modem lines: a pseudo-terminal needs --reset flush)"
stop_fake

start_fake --atr 3B34940030423030
expect 2 x4 info --port "$t/fk"
has x4.err "casprog: fatal: wrong ATR 3B 34 94 00 30 42 30 30 on $t/fk: not a FreeCAS / TVCAS 3 card (expected 3B 24 00 30 42 30 30)"
stop_fake

start_fake --mute-after 3
expect 2 x5 write --port "$t/fk" --timeout 200 "$C1"
has x5.err "casprog: fatal: writing bytes 36..53 of card 2100000001: timeout waiting for the procedure byte (0 of 1 bytes)"
has x5.err "casprog: error: card 2100000001 is NOT issued (not written and locked completely): run casprog write again"
[ ! -s "$t/x5.out" ] || fail "timeout: printed $(cat "$t/x5.out")"
stop_fake

# the card stops answering at the LOCK: written and verified is not issued;
# the next write finds the unfinished personalisation and completes it
start_fake --mute-after 8
expect 2 x5b write --port "$t/fk" --timeout 200 "$C1"
has x5b.err "casprog: info: card 2100000001: verified, locking"
has x5b.err "casprog: fatal: locking card 2100000001: timeout waiting for the procedure byte (0 of 1 bytes)"
has x5b.err "casprog: error: card 2100000001 is NOT issued (not written and locked completely): run casprog write again"
[ ! -s "$t/x5b.out" ] || fail "lock timeout: printed $(cat "$t/x5b.out")"
expect 0 x5c info --port "$t/fk"
grep -qx "state           personalised, not locked, protect on, pair off" "$t/x5c.out" || fail "unlocked card info: $(cat "$t/x5c.out")"
expect 0 x5d write --port "$t/fk" "$C1"
has x5d.err "casprog: warning: the card holds an unfinished personalisation (card 2100000001, not locked): overwriting it"
[ "$(cat "$t/x5d.out")" = "2100000001 written, verified and locked" ] || fail "second write: $(cat "$t/x5d.out")"
stop_fake

start_fake --corrupt-read
expect 2 x6 write --port "$t/fk" "$C1"
has x6.err "casprog: fatal: verify mismatch: card 2100000001 gave back other bytes than written (first at byte 89 of 90)"
has x6.err "casprog: error: card 2100000001: the card was erased; write it again or discard it"
has x6.err "casprog: error: card 2100000001 is NOT issued (not written and locked completely): run casprog write again"
[ ! -s "$t/x6.out" ] || fail "mismatch: printed $(cat "$t/x6.out")"
# nothing half-written stays on the card: it is blank again, not locked
printf 'reset %s\nrecv DDD8000008 0100000000000000 9000\n' "$ATR" >"$t/s5"
host "$t/fk" s5
stop_fake

# bad files are refused before the card is touched
head -c 89 "$C1" >"$t/short.bin"
expect 2 x7 write "$t/short.bin"
has x7.err "casprog: fatal: $t/short.bin: 89 bytes, a personalisation file has 90"
head -c 5000 /dev/zero >"$t/big.bin"
expect 2 x7b write "$t/big.bin"
has x7b.err "casprog: fatal: $t/big.bin: more than 4096 bytes, a personalisation file has 90"
head -c 91 /dev/zero >"$t/big.bin"
expect 2 x7c write "$t/big.bin"
has x7c.err "casprog: fatal: $t/big.bin: 91 bytes, a personalisation file has 90"
python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[50]^=1; open(sys.argv[2],'wb').write(b)" "$C1" "$t/bad.bin"
expect 2 x8 write "$t/bad.bin"
has x8.err "casprog: fatal: $t/bad.bin: card 2100000001: the shared address does not match the ECM key in the file (damaged file?)"
sed "s/^ecm_key = .*/ecm_key = $(echo $ECMKEY | rev)/" "$t/cas.conf" >"$t/other.conf"
set +e; "$bin/casprog" -f "$t/other.conf" write "$C1" >/dev/null 2>"$t/x9.err"; rc=$?; set -e
[ $rc -eq 2 ] || fail "other ecm_key: exit $rc"
has x9.err "casprog: fatal: $C1: card 2100000001: made with another ecm_key than the configuration's; the card would decrypt nothing"
expect 100 x10 write
has x10.err "casprog: fatal: usage: casprog write needs a personalisation FILE (see casprog --help)"
expect 100 x11 info --reset cts
has x11.err "casprog: fatal: usage: --reset wants rts, dtr or flush, not 'cts' (see casprog --help)"
expect 100 x12 frobnicate
has x12.err "casprog: fatal: usage: unknown command 'frobnicate' (see casprog --help)"
echo "ok: errors (no port, no card, no modem lines, wrong ATR, timeouts, an unlocked card completed, verify mismatch, bad files, usage)"

# No key of a card in any output or log.
K0=$(hexof "$C0" | cut -c149-180)
K1=$(hexof "$C1" | cut -c149-180)
for k in "$K0" "$K1" 07C8BA92E8EA422E "$ECMKEY"; do
  ! cat "$t"/*.out "$t"/*.err "$t"/*.log | grep -qi "$k" || fail "a key appears in the output"
done
echo "ok: no key in any output"
