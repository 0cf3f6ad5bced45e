#!/bin/sh
# cardemu on a pty: wall-clock time of a full ECM exchange (DD A2 + DD CA,
# with echo and procedure bytes) through libcas t0host, against its time on
# a real 9600-baud line (cardhost's line figure).
set -eu
: "${BUILD:=build}"
bin=$BUILD/bin
t=$(mktemp -d)
emu=""
trap '[ -n "$emu" ] && kill "$emu" 2>/dev/null; rm -rf "$t"' EXIT
BIN0=7D2B7500004BBE8C54564341532E434F4D202020202020659200806774857F0000000161417F4C0001007E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE07C8BA92E8EA422E00EFCB68329AA4A9
ECM4=1438008070347032642159A43C69C93DD441E4C83C2ADBFD6B12FBF6F832F3032F00C7DA18A126190028E90CF9FFF95C204F4F0553B3A7D38945
CW4=250D00000100000102030405060708250D0000000000111213141516171831024000
python3 -c "import sys; open(sys.argv[2], 'wb').write(bytes.fromhex(sys.argv[1]))" "$BIN0" "$t/card.bin"
"$bin/cardemu" --pty "$t/tty" "$t/card.bin" 2>"$t/emu.log" &
emu=$!
i=0
until grep -q "waiting for a reset" "$t/emu.log"; do i=$((i + 1)); [ $i -lt 100 ]; sleep 0.05; done
n=500
{ echo "reset 3B240030423030"; i=0; while [ $i -lt $n ]; do echo "conax A2 $ECM4 9000 $CW4"; i=$((i + 1)); done; } >"$t/script"
start=$(date +%s%N)
"$bin/cardhost" "$t/tty" "$t/script" >"$t/out"
end=$(date +%s%N)
grep -q "^FAIL" "$t/out" && { cat "$t/out"; exit 1; }
line=$(tail -n 1 "$t/out" | sed 's/.*, \([0-9.]*\) ms of line time.*/\1/')
awk -v n=$n -v ns=$((end - start)) -v line="$line" 'BEGIN {
  printf "cardemu pty: %d ECM exchanges, %.3f ms each wall clock (echo + procedure bytes, no baud pacing); %.1f ms each at 9600 baud\n",
    n, ns / 1e6 / n, line / n }'
