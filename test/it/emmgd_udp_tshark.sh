#!/bin/sh
# Integration: emmgd in TS-packet mode with data_provision over UDP (control
# on TCP), at 1000 kbit/s; the simulator captures the whole session (TCP and
# UDP) to a pcap that Wireshark's SIMULCRYPT dissector (tshark, an
# independent decoder) reads with no malformed field and no expert
# warning:
#  - data only on UDP, after stream_BW_allocation, data_channel_id and
#    data_stream_id included (emmg.udp_ids = yes), at most 7 TS packets
#    (1316 bytes) per message, 188-byte packets that each carry one EMM;
#  - the rate at 1000 kbit/s within 2 %;
#  - SIGTERM waits for the last UDP data, then stream_close_request,
#    stream_close_response, channel_close.
set -u
. "$TOP/test/it/lib/emmgd.sh"
command -v tshark >/dev/null 2>&1 || { echo "emmgd_udp_tshark: tshark missing: run sh contrib/deps.sh as root"; exit 1; }

conf() { write_conf "emmg.bandwidth = 1000" "emmg.section_tspkt_flag = 1" "emmg.udp = :${PORT:-1}"; }
conf
cardtool create 2100000000 300 >/dev/null || bad "cardtool create"
start_sim -u -T -d 15 -x -w "$T/s.pcap"
conf
start_emmgd
sleep 2.5
stop_emmgd
wait_sim 5
grep -v '^ok' "$T/sim.out" | tail -n 3
[ "$SIM_RC" = 0 ] && ok "mux_sim found no fault" || { bad "mux_sim exit $SIM_RC"; grep FAIL "$T/sim.out"; }
grep -qx "channel_setup v2 client_id=0x0B000000 channel=1 flag=1" "$T/sim.out" && ok "TS-packet mode set up" || bad "flag 1 not in channel_setup"
[ "$(sim tcp_data)" = 0 ] && [ "$(sim udp_data)" -gt 50 ] && ok "$(sim udp_data) data_provision over UDP, none over TCP" \
  || bad "tcp_data $(sim tcp_data) udp_data $(sim udp_data)"
m=$(sim max_msg_bytes); [ "$m" = 1316 ] && ok "7 TS packets per message at most, and full messages" || bad "max_msg_bytes $(sim max_msg_bytes)"
[ "$(sim ok)" = "$(sim emms)" ] && ok "$(sim emms) EMMs in TS packets, all right" || bad "ok $(sim ok) of $(sim emms)"
[ "$(sim clean_closes)" = 1 ] && ok "clean close after UDP data" || bad "clean_closes $(sim clean_closes)"
rate=$(sim rate_bps)
awk -v r="$rate" 'BEGIN { exit !(r >= 1000000 * 0.98 && r <= 1000000 * 1.02) }' \
  && ok "rate $rate bit/s for 1000000" || bad "rate $rate bit/s for 1000000"
max1=$(sim max_1s_bps)
awk -v r="$max1" 'BEGIN { exit !(r <= 1000000 * 1.03) }' \
  && ok "busiest second $max1 bit/s" || bad "busiest second $max1 bit/s"
cardtool gen | grep -q "transport=:$PORT bandwidth=1000" && ok "generators row shows UDP" || bad "generators row transport"

# tshark
TS="tshark -r $T/s.pcap -d tcp.port==$PORT,simulcrypt -d udp.port==$PORT,simulcrypt"
$TS -V >"$T/v.txt" 2>"$T/terr" || { cat "$T/terr"; bad "tshark failed"; }
if grep -q 'Malformed' "$T/v.txt"; then grep -n 'Malformed' "$T/v.txt" | head -3; bad "malformed packet"; else ok "tshark: nothing malformed"; fi
if grep -q 'Expert Info (\(Error\|Warning\)' "$T/v.txt"; then bad "expert error or warning"; else ok "tshark: no expert error or warning"; fi
$TS -V -z expert 2>/dev/null | sed -n '/^Errors (/,$p;/^Warnings (/,$p' >"$T/expert"
[ -s "$T/expert" ] && { head "$T/expert"; bad "tshark expert summary has errors/warnings"; }
# The control messages, in order, by Wireshark's names.
sed -n 's/^ *Message Type: //p' "$T/v.txt" | grep -v DATA_PROVISION >"$T/got"
cat >"$T/want" <<'EOF'
CHANNEL_SETUP (0x0011)
CHANNEL_STATUS (0x0013)
STREAM_SETUP (0x0111)
STREAM_STATUS (0x0113)
STREAM_BW_REQUEST (0x0117)
STREAM_BW_ALLOCATION (0x0118)
CHANNEL_TEST (0x0012)
STREAM_TEST (0x0112)
CHANNEL_STATUS (0x0013)
STREAM_STATUS (0x0113)
STREAM_CLOSE_REQUEST (0x0114)
STREAM_CLOSE_RESPONSE (0x0115)
CHANNEL_CLOSE (0x0014)
EOF
diff "$T/want" "$T/got" >"$T/diff" && ok "tshark: the control messages in order" || { cat "$T/diff"; bad "control message sequence"; }
n=$(grep -c '^ *Message Type: DATA_PROVISION (0x0211)$' "$T/v.txt")
[ "$n" = "$(sim udp_data)" ] && ok "tshark: $n data_provision decoded" || bad "tshark: $n data_provision, simulator got $(sim udp_data)"
grep -q '^ *Client ID: 184549376$' "$T/v.txt" && grep -q '^ *Bandwidth: 1000Kbps$' "$T/v.txt" && grep -q '^ *Data ID: 1$' "$T/v.txt" \
  && ok "tshark: client_id, bandwidth, data_id" || bad "tshark values"
finish
