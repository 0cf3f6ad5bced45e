#!/bin/sh
# Integration: emmgd against the MUX simulator, sections at 64 kbit/s.
#  - the session in order with the right parameters (the simulator checks
#    every message), readiness on the -r fd, the probe channel_test and
#    stream_test answered, emmgd's own keepalive channel_test, SIGTERM -> stream_close_request -> response ->
#    channel_close -> exit 0;
#  - every EMM decrypts with its card's key from the database and carries
#    the row's effective rights (AC 0 for a disabled or blocked card);
#    python3 + pycryptodome (independent of libcas) rebuilds the plaintext
#    of one EMM per card from the row read with the sqlite3 CLI, MD5 filler
#    included;
#  - every card on air is sent, a card the profile cannot encode is logged
#    once and never sent, no key appears in the log;
#  - the rate stays at the 64 kbit/s allocation (one 188-byte packet per
#    62-byte section), at most 1316 datagram bytes per message;
#  - the generators row says what was sent.
set -u
. "$TOP/test/it/lib/emmgd.sh"

write_conf "emmg.bandwidth = 64" "emmg.repeat = 0"
now=$(date +%s)
cardtool create 2100000000 20 >/dev/null || bad "cardtool create"
cardtool create 2100000020 5 ac=7 >/dev/null
cardtool set 2100000020 status=0 >/dev/null
cardtool set 2100000021 blocked=$((now + 3600)) >/dev/null
cardtool set 2100000022 finish=$((now - 86400)) >/dev/null
cardtool set 2100000023 pair=1 type=2 >/dev/null
cardtool set 2100000024 finish=4294967295 >/dev/null

start_sim -d 15 -x
write_conf "emmg.bandwidth = 64" "emmg.repeat = 0" "emmg.channel_test_interval = 1"
start_emmgd
sleep 3
stop_emmgd
wait_sim 5
[ "$SIM_RC" = 0 ] && ok "mux_sim found no fault" || { bad "mux_sim exit $SIM_RC"; grep FAIL "$T/sim.out"; }
cat "$T/sim.out"

grep -qx "channel_setup v2 client_id=0x0B000000 channel=1 flag=0" "$T/sim.out" && ok "channel_setup" || bad "channel_setup line"
grep -qx "stream_setup channel=1 stream=1 data_id=1 data_type=0" "$T/sim.out" && ok "stream_setup" || bad "stream_setup line"
grep -qx "stream_BW_request bandwidth=64" "$T/sim.out" && ok "stream_BW_request 64 kbit/s" || bad "stream_BW_request line"
[ "$(sim test_replies)" = 2 ] && ok "channel_test and stream_test answered" || bad "test_replies $(sim test_replies)"
n=$(grep -c '^channel_test answered$' "$T/sim.out")
[ "$n" -ge 2 ] && ok "$n keepalive channel_test from emmgd (every second)" || bad "$n keepalive channel_test"
[ "$(sim clean_closes)" = 1 ] && ok "stream closed, then channel closed" || bad "clean_closes $(sim clean_closes)"
[ "$(sim sessions)" = 1 ] && ok "one session" || bad "sessions $(sim sessions)"
emms=$(sim emms)
[ "$emms" -gt 100 ] && ok "$emms EMMs received" || bad "only $emms EMMs"
[ "$(sim ok)" = "$emms" ] && ok "every EMM decrypts to its row's rights" \
  || bad "ok $(sim ok) of $emms (stale $(sim stale), badsum $(sim badsum), nokey $(sim nokey))"
[ "$(sim max_msg_bytes)" -le 1316 ] && ok "at most 1316 bytes per data_provision" || bad "max_msg_bytes $(sim max_msg_bytes)"

# Rate: one packet per section, 64 kbit/s.
rate=$(sim rate_bps)
awk -v r="$rate" 'BEGIN { exit !(r >= 64000 * 0.97 && r <= 64000 * 1.02) }' \
  && ok "rate $rate bit/s for 64000 allocated" || bad "rate $rate bit/s for 64000 allocated"
# Over any 1 s after a message: the allocation, plus a little scheduling
# jitter (one packet is 2.35 % of a second here).
max1=$(sim max_1s_bps)
awk -v r="$max1" 'BEGIN { exit !(r <= 64000 * 1.03) }' \
  && ok "busiest second $max1 bit/s" || bad "busiest second $max1 bit/s"

# Every encodable card on air, the bad one never.
distinct=$(awk '{print $2}' "$T/emm.log" | sort -u | wc -l)
[ "$distinct" = 24 ] && ok "24 cards sent" || bad "$distinct distinct cards sent, want 24"
grep -q " 2100000024 " "$T/emm.log" && bad "unencodable card 2100000024 sent"
n=$(grep -cxF "emmgd: warning: card 2100000024 not sent: finish 4294967295 is outside what profile tvcas3 can encode (dates 1990-01-01..2069-12-31)" "$T/emmgd.err")
[ "$n" = 1 ] && ok "unencodable card logged once" || { bad "unencodable card logged $n times"; cat "$T/emmgd.err"; }

# Effective rights on the wire.
for s in 2100000020 2100000021; do
  acs=$(awk -v s=$s '$2 == s {print $3}' "$T/emm.log" | sort -u)
  [ "$acs" = 00000000 ] && ok "card $s sent with AC 00000000" || bad "card $s sent with AC $acs"
done
acs=$(awk '$2 == 2100000022 {print $3 " " $5}' "$T/emm.log" | sort -u)
[ "$acs" = "00000007 $((now - 86400 + 1))" ] && ok "card 2100000022 with its past finish (+1)" || bad "card 2100000022: $acs"

# Independent check: pycryptodome decrypts, the plaintext is rebuilt from
# the row as TVCAS 3 builds it (tvcas3.md §3.2, §5).
for s in 2100000000 2100000020 2100000021 2100000022 2100000023; do
  key=$(cardtool key $s)
  row=$(sqlite3 "$T/cas.db" "SELECT access_criteria, start, finish, pair, type, status, blocked_until FROM cards WHERE serial_no = $s")
  hex=$(awk -v s=$s '$2 == s {print $9; exit}' "$T/emm.log")
  if /usr/bin/python3 - "$s" "$key" "$row" "$hex" "$now" <<'PY'
import sys, hashlib, datetime
from Cryptodome.Cipher import DES3
serial, key, row, hexsec, now = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3].split('|'), bytes.fromhex(sys.argv[4]), int(sys.argv[5])
ac, start, finish, pair, typ, status, blocked = map(int, row)
if status != 1 or blocked > now: ac = 0
def cdate(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return bytes([((d.year - 1990) // 10) << 5 | d.day, ((d.year - 1990) % 10) << 4 | d.month])
pt = serial.to_bytes(4, 'big') + ac.to_bytes(4, 'big') + start.to_bytes(4, 'big') + (finish + 1).to_bytes(4, 'big')
pt += cdate(start) + cdate(finish) + bytes([1 if pair > 0 else 0, 1 if typ == 1 else 0, 0])
c1 = sum(pt) & 0xFF
pt += bytes([c1])
pt += hashlib.md5(f"{start}{c1}".encode()).digest() + hashlib.md5(f"{finish}{c1}".encode()).digest()[:7]
pt += bytes([sum(pt) & 0xFF])
want = bytes.fromhex('82703B000000') + serial.to_bytes(4, 'big') + bytes.fromhex('70326410') + DES3.new(key, DES3.MODE_ECB).encrypt(pt)
sys.exit(0 if want == hexsec else 1)
PY
  then ok "card $s: EMM equals pycryptodome's rebuild from the row"; else bad "card $s: EMM differs from the independent rebuild"; fi
  grep -qi "$key" "$T/emmgd.err" && bad "card key of $s in the log"
done

# The generators row.
cardtool gen >"$T/gen"
grep -q "^gen name=127.0.0.1:$PORT state=closed emms=$emms " "$T/gen" && ok "generators row: closed, $emms EMMs" \
  || { bad "generators row"; cat "$T/gen"; }
grep -q "settings=\"profile=tvcas3 version=2 client_id=0x0B000000 data_channel_id=1 data_stream_id=1 data_id=1 mode=section-packets transport=tcp bandwidth=64 max_bytes=1316\"" "$T/gen" \
  && ok "generators settings" || bad "generators settings"
finish
