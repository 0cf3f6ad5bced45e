#!/bin/sh
# Integration: SimulCrypt messages built with the libcas TLV builder and
# wrapped by the libcas pcap writer are decoded by Wireshark's independent
# SIMULCRYPT dissector (tshark) as the right messages, parameters and
# per-interface error names, with no malformed packet, no expert warning or
# error, and good IPv4/TCP/UDP checksums.  A deliberately broken capture
# must be flagged, so the check itself can fail.
set -u
: "${BUILD:=build}"
command -v tshark >/dev/null 2>&1 || { echo "tshark_tlv: tshark missing: run sh contrib/deps.sh as root"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() { echo "tshark_tlv: FAIL: $*"; fail=1; }

"$BUILD/bin/tlvpcap" "$tmp/s.pcap" >"$tmp/sent" || { echo "tshark_tlv: tlvpcap failed"; exit 1; }
TS="tshark -r $tmp/s.pcap -d tcp.port==2222,simulcrypt -d tcp.port==3333,simulcrypt -d udp.port==3333,simulcrypt"
$TS -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
    -V >"$tmp/v.txt" 2>"$tmp/err" || { cat "$tmp/err"; bad "tshark -V failed"; }

# 1. The message sequence, with Wireshark's own names (not ours).
cat >"$tmp/want" <<'EOF'
CHANNEL_SETUP (0x0001)
CHANNEL_STATUS (0x0003)
STREAM_SETUP (0x0101)
STREAM_STATUS (0x0103)
CW_PROVISION (0x0201)
ECM_RESPONSE (0x0202)
CW_PROVISION (0x0201)
CHANNEL_TEST (0x0002)
ECM_RESPONSE (0x0202)
CHANNEL_STATUS (0x0003)
STREAM_TEST (0x0102)
STREAM_ERROR (0x0106)
CHANNEL_ERROR (0x0005)
STREAM_CLOSE_REQUEST (0x0104)
STREAM_CLOSE_RESPONSE (0x0105)
CHANNEL_CLOSE (0x0004)
CHANNEL_SETUP (0x0011)
CHANNEL_STATUS (0x0013)
STREAM_SETUP (0x0111)
STREAM_STATUS (0x0113)
STREAM_BW_REQUEST (0x0117)
STREAM_BW_ALLOCATION (0x0118)
DATA_PROVISION (0x0211)
DATA_PROVISION (0x0211)
DATA_PROVISION (0x0211)
CHANNEL_TEST (0x0012)
CHANNEL_STATUS (0x0013)
STREAM_TEST (0x0112)
STREAM_STATUS (0x0113)
STREAM_ERROR (0x0116)
CHANNEL_ERROR (0x0015)
STREAM_CLOSE_REQUEST (0x0114)
STREAM_CLOSE_RESPONSE (0x0115)
CHANNEL_CLOSE (0x0014)
EOF
sed -n 's/^ *Message Type: //p' "$tmp/v.txt" >"$tmp/got"
diff "$tmp/want" "$tmp/got" >"$tmp/diff" || { cat "$tmp/diff"; bad "message sequence differs"; }
# ... and it is what tlvpcap says it sent
awk '{print $2}' "$tmp/sent" >"$tmp/sent_types"
sed 's/.*(\(0x[0-9a-f]*\))/\1/' "$tmp/got" >"$tmp/got_types"
diff "$tmp/sent_types" "$tmp/got_types" >/dev/null || bad "tshark saw other messages than tlvpcap sent"

# 2. Interface picked from the message_type range.
n=$(grep -c '^SIMULCRYPT Protocol, Interface: ECMG <-> SCS$' "$tmp/v.txt")
[ "$n" = 16 ] || bad "ECMG messages: $n, want 16"
n=$(grep -c '^SIMULCRYPT Protocol, Interface: EMMG <-> MUX$' "$tmp/v.txt")
[ "$n" = 18 ] || bad "EMMG messages: $n, want 18"

# 3. error_status codes decode to the names of simulcrypt.md §4 on the
#    right interface (0x000B/0x000F swap meaning between the interfaces).
cat >"$tmp/want_err" <<'EOF'
Unknown ECM stream ID value (7)
Unknown ECM channel ID value (6)
Inconsistent length for DVB parameter (15)
Missing mandatory DVB parameter (16)
Not enough control words to compute ECM (11)
Unrecoverable error (28673)
Inconsistent length for DVB parameter (11)
Missing mandatory DVB parameter (12)
Exceeded bandwidth (15)
Unknown client ID value (14)
Unknown parameter type (10)
EOF
sed -n 's/^ *Error status: //p' "$tmp/v.txt" >"$tmp/got_err"
diff "$tmp/want_err" "$tmp/got_err" >"$tmp/diff" || { cat "$tmp/diff"; bad "error names differ"; }
n=$(grep -c '^ *Error information: ' "$tmp/v.txt")
[ "$n" = 11 ] || bad "error_information count $n, want 11"
grep -q '^ *Error information: 0019$' "$tmp/v.txt" || bad "missing-parameter info 0019 not shown"

# 4. Values, as an independent decoder reads them.
for want in 'SuperCAS ID: 0x4ae60000' 'Delay start: -200ms' 'Delay start: 200ms' \
	    'Min CP duration: 10 (1000 ms)' 'Nominal CP duration: 100 (10000 ms)' \
	    'CP CW combination: 00001111111111111111' 'CP CW combination: 00023333333333333333' \
	    'Client ID: 184549377' 'Bandwidth: 64Kbps' 'Data ID: 1' 'Lead CW: 1' 'CW per msg: 2'; do
	grep -q "^ *$want\$" "$tmp/v.txt" || bad "not decoded: $want"
done
n=$(grep -c '^ *Parameter Type: DATAGRAM (0x0005)$' "$tmp/v.txt")
[ "$n" = 26 ] || bad "datagram TLVs: $n, want 26 (1 + 24 reassembled over 2 segments + 1 UDP)"
n=$(grep -c '^ *Parameter Type: ECM_DATAGRAM (0x0015)$' "$tmp/v.txt")
[ "$n" = 2 ] || bad "ECM_datagram TLVs: $n, want 2"
grep -q '^User Datagram Protocol, Src Port: 40003, Dst Port: 3333$' "$tmp/v.txt" || bad "no UDP data_provision"

# 5. Nothing malformed, no expert warning/error, all checksums good.
grep -n 'Malformed' "$tmp/v.txt" && bad "malformed packet"
grep -n 'Expert Info (\(Error\|Warning\)' "$tmp/v.txt" && bad "expert error or warning"
n=$(grep -c 'Checksum Status: Good\]' "$tmp/v.txt")
[ "$n" = 74 ] || bad "good L4 checksums: $n, want 74"
grep -n -i 'checksum status: bad\|incorrect' "$tmp/v.txt" && bad "bad checksum"
# The SIMULCRYPT dissector only walks the parameters when a tree is built:
# with -q alone the expert summary misses its errors, hence -V.
$TS -V -z expert 2>/dev/null | sed -n '/^Errors (/,$p;/^Warnings (/,$p' >"$tmp/expert"
[ -s "$tmp/expert" ] && { cat "$tmp/expert"; bad "tshark expert summary has errors/warnings"; }

# 6. Negative control: a TLV overrunning its message must be flagged.
"$BUILD/bin/tlvpcap" --broken "$tmp/b.pcap" || bad "tlvpcap --broken failed"
tshark -r "$tmp/b.pcap" -d tcp.port==2222,simulcrypt -V 2>/dev/null >"$tmp/b.txt"
grep -q 'Expert Info (Error/Malformed)' "$tmp/b.txt" || bad "broken capture not flagged by tshark"
tshark -r "$tmp/b.pcap" -d tcp.port==2222,simulcrypt -V -z expert 2>/dev/null | grep -q '^Errors (1)' \
	|| bad "broken capture not in the expert summary"

[ $fail = 0 ] && echo "tshark_tlv: 34 messages (16 ECMG, 18 EMMG incl. UDP), names, errors, values, checksums ok; broken capture flagged"
exit $fail
