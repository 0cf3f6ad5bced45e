#!/bin/sh
# ecmgd, full ECMG<=>SCS sessions driven by the SCS simulator (scs_sim):
# protocol versions 1, 2 and 3; requests written whole, one byte per write,
# and many per write; sections and TS packets.  Every reply is compared byte
# for byte, channel_status with the worked example of simulcrypt.md §1.2;
# every ECM is decrypted by scs_sim (cas_tvcas3_ecm_parse) and again by
# pycryptodome (test/it/ecm_check.py); TVCAS 3's own ECMG<=>SCS requests get
# TVCAS 3's ECM_response envelope; the captures decode in tshark without a
# malformed or expert-error field; the generators table has the counters;
# the log (at debug) names every step and holds no CW and no key.
set -u
: "${BUILD:=build}" "${TOP:=.}"
tmp=$(mktemp -d /tmp/it-ecmgd-session.XXXXXX)
EPID=
trap '[ -n "$EPID" ] && kill -9 $EPID 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
. "$TOP/test/it/ecmgd.lib"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
sim() { "$BUILD/bin/scs_sim" -p "$EPORT" -k "$KEY" "$@"; }

command -v tshark >/dev/null || { echo "FAIL: tshark missing: run sh contrib/deps.sh as root"; exit 1; }
$PY -c 'import Cryptodome' 2>/dev/null || { echo "FAIL: $PY has no Cryptodome: apt-get install python3-pycryptodome"; exit 1; }

# ---- sections (the default) ----
base_conf "$tmp/s.conf"
start_ecmgd "$tmp/s.conf" "$tmp/s.log" || exit 1
echo "ecmgd on port $EPORT (sections)"

# channel_status = simulcrypt.md §1.2's example with section_TSpkt_flag 0 and
# max_streams 1000 (ecmgd's defaults), byte for byte.
STATUS=0200030039000E0002000100020001000003000200C80004000200C80007000200640008000203E800090002000A000A000101000B000102000C00020064
sim -v 2 -x "$STATUS" -w "$tmp/v2.pcap" -e "$tmp/ecms" session >"$tmp/out" 2>&1 || { cat "$tmp/out"; bad "session v2"; }
grep '^ok:\|^FAIL' "$tmp/out"
local2=$(sed -n 's/^local //p' "$tmp/out")
n=12
for v in 1 2 3; do
  for m in normal split coalesce; do
    [ $v = 2 ] && [ $m = normal ] && continue
    pc=
    [ $v = 1 ] && [ $m = split ] && pc="-w $tmp/v1split.pcap"
    [ $v = 3 ] && [ $m = coalesce ] && pc="-w $tmp/v3coal.pcap"
    sim -v $v -m $m -S 3 -n 5 -C $((v * 10)) $pc -e "$tmp/ecms" session >"$tmp/out" 2>&1 \
      && echo "ok: session v$v, requests $m: $(grep -c '^ok:' "$tmp/out") checks" \
      || { cat "$tmp/out"; bad "session v$v $m"; }
    n=$((n + 15))
  done
done

# TVCAS 3's own requests (tvcas3-vectors.json ecmg_scs): its envelope, its CWs.
$PY "$TOP/test/it/ecm_check.py" vectors "$EPORT" "$TOP/test/vectors/tvcas3_ecmg_scs.json" || bad "TVCAS 3 vectors"
n=$((n + 2))

# Every recorded ECM, decrypted by pycryptodome.
$PY "$TOP/test/it/ecm_check.py" records "$KEY" "$tmp/ecms" || bad "pycryptodome ECM check"
$PY "$TOP/test/it/ecm_check.py" records "$KEY2" "$tmp/ecms" >/dev/null && bad "ecm_check.py accepts ECMs under another key"
recorded=$(wc -l <"$tmp/ecms")
[ "$recorded" = $((n - 2)) ] || bad "$recorded ECMs recorded, want $((n - 2))"

# The generators table: the v2 session's row, then the server's.
db_wait "SELECT state, peer, cw_provisions, ecms, errors, channels, streams FROM generators
  WHERE kind = 'ecmg' AND name = '127.0.0.1:$EPORT/$local2'" "closed|$local2|12|12|1|0|0" \
  && echo "ok: generators row of $local2: closed, 12 CW_provisions, 12 ECMs, 1 error" || fails=$((fails + 1))
db_wait "SELECT state, cw_provisions, ecms FROM generators WHERE kind = 'ecmg' AND name = '127.0.0.1:$EPORT'" \
  "running|$n|$n" && echo "ok: server row: $n CW_provisions, $n ECMs" || fails=$((fails + 1))
settings=$(sqlite3 "$tmp/var/cas.db" "SELECT settings FROM generators WHERE name = '127.0.0.1:$EPORT'")
case $settings in
  "listen=127.0.0.1:$EPORT profile=tvcas3 super_cas_id=0x0B000000 section_tspkt_flag=0 "*) echo "ok: server settings recorded";;
  *) bad "server settings: $settings";;
esac
stop_ecmgd || fails=$((fails + 1))
db_wait "SELECT state FROM generators WHERE kind = 'ecmg' AND name = '127.0.0.1:$EPORT'" stopped \
  && echo "ok: server row stopped" || fails=$((fails + 1))

# The log: one line per event, never a CW or a key.
for line in "127.0.0.1:$EPORT (profile tvcas3, Super_CAS_id 0x0B000000, sections)" \
	    "$local2: connected" "$local2: channel 1 set up (Super_CAS_id 0x0B000000, protocol version 2)" \
	    "$local2: channel 1 stream 2 set up (ECM_id 102, nominal CP 10.0 s)" \
	    "$local2: channel 1 stream 1 closed (6 ECMs)" "$local2: channel 1 closed (0 streams)" \
	    "$local2: channel 1: channel_test: error 0x0006 unknown ECM_channel_id value (info 0x0005)" \
	    "$local2: disconnected: closed by the SCS (12 CW_provisions, 12 ECMs, 1 errors)" \
	    "stopping (SIGTERM), 0 connections open" "stopped"; do
  grep -qF "$line" "$tmp/s.log" || bad "log line missing: $line"
done
grep -q 'channel 10 set up (Super_CAS_id 0x0B000000, protocol version 1)' "$tmp/s.log" || bad "no v1 channel in the log"
grep -q 'channel 10 stream 1 set up (nominal CP 10.0 s)' "$tmp/s.log" || bad "no v1 stream in the log"
grep -v '^ecmgd: \(info\|debug\|warning\): ' "$tmp/s.log" && bad "unexpected log lines"
awk '{print $3; print $4}' "$tmp/ecms" | sort -u >"$tmp/cws"
tr 'A-F' 'a-f' <"$tmp/cws" >>"$tmp/cws"
for k in $KEY $(echo $KEY | cut -c1-32) $(echo $KEY | cut -c33-64) $(echo $KEY | cut -c1-16); do
  echo "$k"; echo "$k" | tr 'A-F' 'a-f'
done >>"$tmp/cws"
grep -iqF -f "$tmp/cws" "$tmp/s.log" && bad "a CW or the key is in the log"
echo "ok: log has every event and no CW or key ($(wc -l <"$tmp/s.log") lines, $(sort -u "$tmp/cws" | wc -l) secrets looked for)"

# ---- TS packets, with the optional channel_status delays ----
base_conf "$tmp/t.conf"
cat >>"$tmp/t.conf" <<CONF
ecmg.section_tspkt_flag = 1
ecmg.ac_delay_start = 200
ecmg.ac_delay_stop = 200
ecmg.transition_delay_start = -500
ecmg.transition_delay_stop = 0
CONF
start_ecmgd "$tmp/t.conf" "$tmp/t.log" || exit 1
echo "ecmgd on port $EPORT (TS packets)"
STATUS=0200030051000E0002000100020001010016000200C80017000200C80003000200C80004000200C800050002FE0C00060002000000070002006400080002\
03E800090002000A000A000101000B000102000C00020064
: >"$tmp/tsecms"
sim -v 2 -t 1 -x "$STATUS" -e "$tmp/tsecms" -w "$tmp/ts.pcap" session >"$tmp/out" 2>&1 \
  && echo "ok: TS-packet session: $(grep -c '^ok:' "$tmp/out") checks" || { cat "$tmp/out"; bad "TS session"; }
sim -v 3 -t 1 -m split -S 1 -n 3 -x "03${STATUS#02}" -e "$tmp/tsecms" session >"$tmp/out" 2>&1 || { cat "$tmp/out"; bad "TS session split"; }
$PY "$TOP/test/it/ecm_check.py" records "$KEY" "$tmp/tsecms" || bad "pycryptodome TS ECM check"
stop_ecmgd || fails=$((fails + 1))

# ---- the captures, through Wireshark's SIMULCRYPT dissector ----
check_pcap() { # FILE PORT CW_PROVISIONS
  tshark -r "$1" -d tcp.port==$2,simulcrypt -o tcp.check_checksum:TRUE -V >"$tmp/v.txt" 2>"$tmp/err" \
    || { cat "$tmp/err"; bad "tshark failed on $1"; return; }
  grep -n 'Malformed' "$tmp/v.txt" && bad "$1: malformed packet"
  grep -n 'Expert Info (\(Error\|Warning\)' "$tmp/v.txt" && bad "$1: expert error or warning"
  tshark -r "$1" -d tcp.port==$2,simulcrypt -V -z expert 2>/dev/null | sed -n '/^Errors (/,$p;/^Warnings (/,$p' >"$tmp/expert"
  [ -s "$tmp/expert" ] && { cat "$tmp/expert"; bad "$1: tshark expert summary has errors/warnings"; }
  cwp=$(grep -c '^ *Message Type: CW_PROVISION (0x0201)$' "$tmp/v.txt")
  ecm=$(grep -c '^ *Message Type: ECM_RESPONSE (0x0202)$' "$tmp/v.txt")
  st=$(grep -c '^ *Message Type: CHANNEL_STATUS (0x0003)$' "$tmp/v.txt")
  [ "$cwp" = "$3" ] && [ "$ecm" = "$3" ] && [ "$st" = 2 ] \
    && echo "ok: $(basename "$1"): $cwp CW_provisions, $ecm ECM_responses, no malformed or expert field" \
    || bad "$(basename "$1"): $cwp CW_provisions, $ecm ECM_responses, $st channel_status (want $3, $3, 2)"
  grep -q '^ *Parameter Type: ECM_DATAGRAM (0x0015)$' "$tmp/v.txt" || bad "$1: no ECM_datagram decoded"
}
check_pcap "$tmp/v2.pcap" "$(sed -n 's/.*ecmg.listen = 127.0.0.1://p' "$tmp/s.conf.run")" 12
check_pcap "$tmp/v1split.pcap" "$(sed -n 's/.*ecmg.listen = 127.0.0.1://p' "$tmp/s.conf.run")" 15
check_pcap "$tmp/v3coal.pcap" "$(sed -n 's/.*ecmg.listen = 127.0.0.1://p' "$tmp/s.conf.run")" 15
check_pcap "$tmp/ts.pcap" "$EPORT" 12

echo "ecmgd_session: $fails failure(s)"
[ $fails -eq 0 ]
