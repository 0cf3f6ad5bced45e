#!/bin/sh
# End to end for the card (issue 5): casprog issues a card, cardemu runs it
# on a pty, `casprog info` reads its rights; a change made through the
# database layer goes out through the real emmgd, is taken off the
# multiplexer's wire (mux_sim), handed to the card as a Conax EMM (INS 84)
# over T=0, and `casprog info` then shows the new rights.
set -u
. "$TOP/test/it/lib/emmgd.sh"
CARDEMU_PID=""
cleanup_card() { [ -n "$CARDEMU_PID" ] && kill -TERM "$CARDEMU_PID" 2>/dev/null; cleanup; }
trap cleanup_card EXIT INT TERM
KEY=7E33A278B3617A309B18222F372A231907AC67E08A5F12C3F74769DE8374C7AE
conf() { write_conf "ecm_key = $KEY" "card.dir = $T/bins" "emmg.min_cycle = 60"; }
conf
mkdir -p "$T/bins"

"$bin/casprog" -f "$T/cas.conf" create --ac 00000001 --start 2024-01-01 --finish 2030-12-31 \
  >"$T/create.out" 2>"$T/create.err" || { bad "casprog create: $(cat "$T/create.err")"; finish; }
read -r serial binfile <"$T/create.out"
[ -f "$binfile" ] && ok "casprog created card $serial ($binfile)" || { bad "no BIN file: $(cat "$T/create.out")"; finish; }

"$bin/cardemu" --state "$T/card.state" --pty "$T/card" "$binfile" 2>"$T/cardemu.err" &
CARDEMU_PID=$!
i=0
while [ ! -e "$T/card" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$T/card" ] || { bad "cardemu did not create its pty"; cat "$T/cardemu.err"; finish; }

info() { "$bin/casprog" -f "$T/cas.conf" info --port "$T/card" --reset flush --json 2>>"$T/info.err"; }
access() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["serial"], ",".join(e["access"] for p in d["packages"] for e in p["entitlements"]))'; }
got=$(info | access)
[ "$got" = "$serial 00000001" ] && ok "casprog info before: $got" || bad "casprog info before: '$got' $(cat "$T/info.err")"

start_sim -d 30 -x
conf
start_emmgd
"$bin/cardtool" -c "$T/cas.conf" set "$serial" ac=00000006 >/dev/null || bad "cardtool set"
sleep 2
stop_emmgd
wait_sim 5     # mux_sim writes its EMM log when the session ends (-x)
hex=$(awk -v s="$serial" '$2 == s && $3 == "00000006" {print $NF; exit}' "$T/emm.log")
[ -n "$hex" ] && ok "the new rights went on the wire" || { bad "no EMM with AC 00000006 from emmgd"; cat "$T/sim.out"; finish; }

# Conax EMM command: DD 84 00 00 Lc | 12 LL | section (conax-card.md §2.8).
case $hex in 82703B*) ;; *) bad "not a TVCAS 3 EMM section: $hex";; esac
printf 'reset 3B240030423030\nconax 84 123E%s 9000 -\n' "$hex" >"$T/emm.script"
"$bin/cardhost" --reset flush "$T/card" "$T/emm.script" >"$T/cardhost.out" 2>&1 \
  && ok "the card accepted the EMM (90 00)" || { bad "cardhost: $(cat "$T/cardhost.out")"; }

got=$(info | access)
[ "$got" = "$serial 00000006" ] && ok "casprog info after: $got" || bad "casprog info after: '$got' $(cat "$T/info.err")"
kill -TERM "$CARDEMU_PID"; wait "$CARDEMU_PID"; rc=$?; CARDEMU_PID=""
[ $rc -eq 0 ] && ok "cardemu stopped cleanly" || bad "cardemu exit $rc"
finish
