#!/bin/sh
# Integration: emmgd keeps its session with a MUX that goes away and comes
# back, or answers with errors.
#  1. The MUX is not there yet (Astra opens its EMM port only when it
#     starts): emmgd retries with back-off and connects when it appears.
#  2. The MUX restarts mid-stream: emmgd logs it and sets the session up
#     again after 1 s.
#  3. The MUX sends channel_error (0x000F exceeded bandwidth), then
#     stream_error (0x7000): emmgd logs the code and its name and sets the
#     session up again.
#  4. Protocol versions 1 (no data_id) and 3, and an allocation without a
#     bandwidth (unlimited: emmgd sends at the rate it asked for).
set -u
. "$TOP/test/it/lib/emmgd.sh"

write_conf
cardtool create 2100000000 10 >/dev/null || bad "cardtool create"

# 1. emmgd first, the MUX 2.5 s later on a port chosen now.
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_conf "emmg.bandwidth = 64"
"$bin/emmgd" -f "$T/cas.conf" 2>"$T/emmgd.err" &
EMMGD_PID=$!
sleep 2.5
"$bin/mux_sim" -c "$T/cas.conf" -p "$PORT" -R 30:1500 -E channel:20:0x000F -d 12 -o "$T/emm.log" >"$T/sim.out" 2>&1 &
SIM_PID=$!
sleep 11.5
stop_emmgd
wait_sim 5
grep -v '^channel_test answered$' "$T/sim.out" | grep -v 'received$'
grep -q "^emmgd: warning: MUX 127.0.0.1:$PORT: unable to connect: Connection refused; connecting again in 1 s$" "$T/emmgd.err" \
  && ok "MUX absent: retry in 1 s" || bad "no 'connecting again in 1 s' line"
grep -q "^emmgd: warning: MUX 127.0.0.1:$PORT: unable to connect: Connection refused; connecting again in 2 s$" "$T/emmgd.err" \
  && ok "back-off doubles" || bad "no 'connecting again in 2 s' line"
grep -q "^emmgd: warning: MUX 127.0.0.1:$PORT: connection closed by the MUX; connecting again in 1 s$" "$T/emmgd.err" \
  && ok "MUX restart noticed" || bad "MUX restart not logged"
grep -q "^emmgd: error: MUX 127.0.0.1:$PORT: channel_error 0x000F exceeded bandwidth (information 0x0000)$" "$T/emmgd.err" \
  && ok "channel_error logged with its code and name" || bad "channel_error not logged"
grep -q "^emmgd: warning: MUX 127.0.0.1:$PORT: setting the session up again after the error; connecting again in" "$T/emmgd.err" \
  && ok "session set up again after the error" || bad "no re-establishment after the error"
n=$(grep -c "allocated: sending at 64 kbit/s$" "$T/emmgd.err")
[ "$n" -ge 3 ] && ok "$n sessions set up" || bad "$n sessions set up, want 3"
[ "$(sim sessions)" -ge 3 ] && ok "simulator saw $(sim sessions) sessions" || bad "sessions $(sim sessions)"
[ "$SIM_RC" = 0 ] && ok "mux_sim found no fault in any session" || { bad "mux_sim exit $SIM_RC"; grep FAIL "$T/sim.out"; }
[ "$(sim ok)" = "$(sim emms)" ] && [ "$(sim emms)" -gt 50 ] && ok "$(sim emms) EMMs, all right" || bad "ok $(sim ok) of $(sim emms)"
if grep -qi "$(cardtool key 2100000003)" "$T/emmgd.err"; then bad "a key in the log"; fi

# 3b. stream_error, version 3.
start_sim -V 3 -E stream:5:0x7000 -d 4
write_conf "emmg.protocol_version = 3"
"$bin/emmgd" -f "$T/cas.conf" 2>"$T/emmgd.err" &
EMMGD_PID=$!
wait_sim 8
stop_emmgd
grep -q "^emmgd: error: MUX 127.0.0.1:$PORT: stream_error 0x7000 unknown error (information 0x0000)$" "$T/emmgd.err" \
  && ok "stream_error logged" || { bad "stream_error not logged"; cat "$T/emmgd.err"; }
[ "$SIM_RC" = 0 ] && [ "$(sim sessions)" -ge 2 ] && ok "version 3: $(sim sessions) sessions, no fault" \
  || { bad "version 3: exit $SIM_RC, sessions $(sim sessions)"; grep FAIL "$T/sim.out"; }

# 4. Version 1 (data_provision addressed by channel and stream, no
#    data_id), allocation without a bandwidth.
start_sim -V 1 -B -d 3
write_conf "emmg.protocol_version = 1" "emmg.bandwidth = 100"
"$bin/emmgd" -f "$T/cas.conf" 2>"$T/emmgd.err" &
EMMGD_PID=$!
wait_sim 6
stop_emmgd
grep -q "^emmgd: info: MUX 127.0.0.1:$PORT: bandwidth 100 kbit/s requested, no limit allocated: sending at 100 kbit/s$" "$T/emmgd.err" \
  && ok "no bandwidth in the allocation: the requested rate" || { bad "unlimited allocation line"; cat "$T/emmgd.err"; }
rate=$(sim rate_bps)
awk -v r="$rate" 'BEGIN { exit !(r >= 100000 * 0.95 && r <= 100000 * 1.02) }' \
  && ok "version 1: rate $rate bit/s for 100 kbit/s requested" || bad "version 1: rate $rate"
[ "$SIM_RC" = 0 ] && [ "$(sim ok)" = "$(sim emms)" ] && ok "version 1: no fault, every EMM right" \
  || { bad "version 1: exit $SIM_RC"; grep FAIL "$T/sim.out"; }
finish
