#!/bin/sh
# cardemu as a real PC/SC card: a private pcscd (foreground, its own
# reader.conf.d with one vsmartcard vpcd reader, its own client socket) and
# cardemu --vpcd; pcsc_scan must show the ATR 3B 24 00 30 42 30 30 and
# scriptor (pcsc-tools) must get the Conax answers through libpcsclite:
# INS 26 (98 11, then the card info), the released reference ECM (both CWs)
# and a refused one, then an EMM.  Then vpcd's reader is dropped and comes
# back: cardemu reconnects.
#
# How the private pcscd works (pcsc-lite 1.9.9 has its client socket path
# compiled in as /run/pcscd/pcscd.comm): pcscd accepts an already listening
# socket by systemd socket activation (LISTEN_FDS=1, LISTEN_PID, fd 3), so
# a small python3 helper binds $t/pcscd.comm, then execs pcscd; clients
# find it through PCSCLITE_CSOCK_NAME.  `-c DIR` points pcscd at our own
# reader.conf.d: DEVICENAME /dev/null:PORT makes vpcd listen for the card
# on PORT (and PORT+1 for its second slot).  Note: vpcd binds that port on
# all addresses (its server code uses INADDR_ANY); cardemu connects to
# 127.0.0.1.  pcscd still writes /run/pcscd/pcscd.pid.
set -eu
: "${BUILD:=build}"
bin=$BUILD/bin
t=$(mktemp -d)
emu=""
pcscd_pid=""
cleanup() {
  [ -n "$emu" ] && kill "$emu" 2>/dev/null && wait "$emu" 2>/dev/null
  [ -n "$pcscd_pid" ] && kill "$pcscd_pid" 2>/dev/null && wait "$pcscd_pid" 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$t"/*.log "$t"/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }; done; exit 1; }

for p in pcscd pcsc_scan scriptor python3; do
  command -v $p >/dev/null || fail "$p is not installed (sh contrib/deps.sh)"
done
[ -f /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || fail "vsmartcard-vpcd is not installed (sh contrib/deps.sh)"

# Golden bytes: reference/tvcas3-vectors.json (bin[0], card_model[4] and [5], emm[1]).
BIN0=7D2B7500004BBE8C54564341532E434F4D202020202020659200806774857F0000000161417F4C0001007E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE07C8BA92E8EA422E00EFCB68329AA4A9
ECM4=1438008070347032642159A43C69C93DD441E4C83C2ADBFD6B12FBF6F832F3032F00C7DA18A126190028E90CF9FFF95C204F4F0553B3A7D38945
ECM5=14380081703470326421AABB454D19DC695ADA0D8A3172501A3D88FAB4751B61DCA52D48DF35E4F4D548882E9772153192BC12BED33C1F4AF234
EMM1=82703B0000007D2B75007032641099CD8027649CC90DA931E594C131311498FD54EF74EA2DAFEED91C69AB4EF1E8991A631E9DE29880C6CAAAF43E2CFF9F
python3 -c "import sys; open(sys.argv[2], 'wb').write(bytes.fromhex(sys.argv[1]))" "$BIN0" "$t/card.bin"

# Two free ports in a row for vpcd's two slots.
port=$(python3 -c '
import socket, random
for _ in range(200):
    p = random.randrange(20000, 60000, 2)
    ok = True
    for q in (p, p + 1):
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", q))
        except OSError:
            ok = False
        s.close()
    if ok:
        print(p)
        break')
[ -n "$port" ] || fail "no free port pair"
mkdir "$t/conf"
printf 'FRIENDLYNAME "FreeCAS vpcd"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x%X\n' \
  "$port" "$port" >"$t/conf/vpcd"
reader="FreeCAS vpcd 00 00"

start_pcscd() {
  rm -f "$t/pcscd.comm"
  python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(sys.argv[2], sys.argv[2:])' "$t/pcscd.comm" pcscd --foreground --debug --config "$t/conf" >"$t/pcscd.log" 2>&1 &
  pcscd_pid=$!
  i=0
  until grep -q "daemon ready" "$t/pcscd.log"; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "pcscd did not start"
    kill -0 "$pcscd_pid" 2>/dev/null || fail "pcscd exited"
    sleep 0.1
  done
  grep -q "Started by systemd" "$t/pcscd.log" || fail "pcscd did not take our socket"
  grep -q "Waiting for virtual ICC on port $port" "$t/pcscd.log" || fail "vpcd not on port $port"
}
export PCSCLITE_CSOCK_NAME="$t/pcscd.comm"
start_pcscd
echo "ok: private pcscd ready, vpcd waiting on port $port"

"$bin/cardemu" --state "$t/state" --vpcd "127.0.0.1:$port" "$t/card.bin" 2>"$t/emu.log" &
emu=$!
i=0
until grep -q "connected to vpcd" "$t/emu.log"; do
  i=$((i + 1)); [ $i -lt 100 ] || fail "cardemu did not connect to vpcd"
  sleep 0.1
done

# pcsc_scan: the reader and the card's ATR
timeout 20 pcsc_scan -t 3 >"$t/scan.out" 2>&1 || true
grep -q "$reader" "$t/scan.out" || fail "pcsc_scan does not list $reader"
grep -q "ATR: 3B 24 00 30 42 30 30" "$t/scan.out" || fail "pcsc_scan shows no ATR 3B 24 00 30 42 30 30"
echo "ok: pcsc_scan sees $reader with ATR 3B 24 00 30 42 30 30"

# scriptor: APDUs through libpcsclite and pcscd (T=0)
sp() { echo "$1" | sed 's/../& /g; s/ $//'; }
cat >"$t/apdu" <<EOF
DD 26 00 00 03 10 01 40
DD CA 00 00 11
DD 82 00 00 11 11 0F 01 B0 0F FF FF FB 00 00 09 04 0B 00 E0 30 2B
DD CA 00 00 1A
DD A2 00 00 3A $(sp "$ECM4")
DD CA 00 00 22
DD A2 00 00 3A $(sp "$ECM5")
DD CA 00 00 04
DD 84 00 00 40 12 3E $(sp "$EMM1")
DD 44 00 00 00
EOF
timeout 20 scriptor -r "$reader" -p T=0 "$t/apdu" >"$t/scriptor.out" 2>&1 || fail "scriptor failed"
# scriptor prints each answer as "< HEX : status text", 16 bytes a line
awk '/^< / { acc = substr($0, 3); on = 1 } !/^< / && on { acc = acc " " $0 }
     on && / : / { sub(/ : .*/, "", acc); gsub(/  +/, " ", acc); sub(/ $/, "", acc); print acc; on = 0 }' \
  "$t/scriptor.out" >"$t/answers.out"
cat >"$t/want.out" <<'EOF'
98 11
20 01 40 28 02 0B 00 2F 02 00 2C 30 01 02 23 01 02 90 00
98 1A
22 18 09 04 0B 00 E0 30 23 07 00 00 00 7D 2B 75 00 23 07 00 00 00 00 4B BE 8C 90 00
98 22
25 0D 00 00 01 00 00 01 02 03 04 05 06 07 08 25 0D 00 00 00 00 00 11 12 13 14 15 16 17 18 31 02 40 00 90 00
98 04
31 02 00 00 90 00
90 00
6D 00
EOF
diff "$t/want.out" "$t/answers.out" >"$t/diff.out" || fail "scriptor answers differ: $(cat "$t/diff.out")"
grep -q "emm applied" "$t/emu.log" || fail "the EMM was not applied"
echo "ok: scriptor through pcscd: INS 26, INS 82, released and refused reference ECMs, EMM, unknown INS"

# vpcd drops the card when pcscd stops; a new pcscd: cardemu reconnects
kill "$pcscd_pid"; wait "$pcscd_pid" 2>/dev/null || true
pcscd_pid=""
i=0
until grep -q "closed the connection; reconnecting" "$t/emu.log"; do
  i=$((i + 1)); [ $i -lt 100 ] || fail "cardemu did not notice the lost vpcd"
  sleep 0.1
done
kill -0 "$emu" || fail "cardemu died with vpcd"
start_pcscd
i=0
until [ "$(grep -c "connected to vpcd" "$t/emu.log")" -ge 2 ]; do
  i=$((i + 1)); [ $i -lt 100 ] || fail "cardemu did not reconnect to the new vpcd"
  sleep 0.1
done
timeout 20 pcsc_scan -t 2 >"$t/scan2.out" 2>&1 || true
grep -q "ATR: 3B 24 00 30 42 30 30" "$t/scan2.out" || fail "no ATR after the reconnection"
kill -TERM "$emu"
set +e; wait "$emu"; rc=$?; set -e
emu=""
[ $rc -eq 0 ] || fail "cardemu exit $rc after SIGTERM"
for secret in 0102030405060708 1112131415161718 7E33A278 07C8BA92; do
  ! grep -qi "$secret" "$t/emu.log" || fail "log contains $secret"
done
echo "ok: cardemu reconnects to a restarted pcscd, stops cleanly, no CW or key in its log"
