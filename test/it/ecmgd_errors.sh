#!/bin/sh
# ecmgd, every error path of ECMG<=>SCS (simulcrypt.md §4, §5.1), in
# protocol versions 1, 2 and 3, driven by scs_sim, which compares each
# channel_error/stream_error byte for byte (code and error_information):
# unknown Super_CAS_id, channel, stream; too many channels/streams; not
# enough CWs; wrong parameter length; missing parameter; invalid values;
# channel/stream/ECM_id in use; bad version; unknown message type; broken
# TLVs; errors never answered; unknown parameters ignored; the connection
# closed after 3 invalid messages, after garbage and after an over-long
# header.  Each error is logged with its code, and counted in the
# generators table.
set -u
: "${BUILD:=build}" "${TOP:=.}"
tmp=$(mktemp -d /tmp/it-ecmgd-errors.XXXXXX)
EPID=
trap '[ -n "$EPID" ] && kill -9 $EPID 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
. "$TOP/test/it/ecmgd.lib"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

base_conf "$tmp/e.conf"
cat >>"$tmp/e.conf" <<CONF
ecmg.max_streams = 3
ecmg.max_total_streams = 5
ecmg.max_channels = 3
CONF
start_ecmgd "$tmp/e.conf" "$tmp/e.log" || exit 1
for v in 1 2 3; do
  "$BUILD/bin/scs_sim" -p "$EPORT" -k "$KEY" -M 3 -v $v errors >"$tmp/out" 2>&1 || bad "errors v$v"
  [ $v = 2 ] && grep '^ok:\|^FAIL' "$tmp/out"
  grep '^FAIL' "$tmp/out" && cat "$tmp/out"
  echo "ok: v$v: $(grep -c '^ok:' "$tmp/out") error paths as expected"
done
# ecmgd still serves after all that
"$BUILD/bin/scs_sim" -p "$EPORT" -k "$KEY" -M 3 -S 3 -n 2 session >"$tmp/out" 2>&1 \
  && echo "ok: a normal session afterwards" || { cat "$tmp/out"; bad "session after the errors"; }

for code in "0x0001 invalid message" "0x0002 unsupported protocol version" \
	    "0x0003 unknown message_type value" "0x0004 message too long" \
	    "0x0005 unknown Super_CAS_id value" "0x0006 unknown ECM_channel_id value" \
	    "0x0007 unknown ECM_stream_id value" "0x0008 too many channels on this ECMG" \
	    "0x0009 too many ECM streams on this channel" "0x000A too many ECM streams on this ECMG" \
	    "0x000B not enough control words to compute ECM" "0x000F inconsistent length for DVB parameter" \
	    "0x0010 missing mandatory DVB parameter" "0x0011 invalid value for DVB parameter" \
	    "0x0013 ECM_channel_id value already in use" "0x0014 ECM_stream_id value already in use" \
	    "0x0015 ECM_id value already in use"; do
  grep -q ": error $code (info 0x" "$tmp/e.log" || bad "no log line for error $code"
done
grep -q ': 3 invalid messages in a row (last: unsupported protocol version): closing the connection$' "$tmp/e.log" \
  || bad "no log line for the 3 invalid messages"
grep -q ': channel 0: garbage (not a SimulCrypt header): error 0x0001 invalid message (info 0x0000)$' "$tmp/e.log" \
  || bad "no log line for garbage"
grep -q ': message_length 65280 above 16384: closing the connection$' "$tmp/e.log" || bad "no log line for the over-long header"
grep -q ': channel 1: SCS reports 0x7000 unknown error$' "$tmp/e.log" || bad "SCS error not logged"
grep -q 'stream_error: error 0x0010 missing mandatory DVB parameter (info 0x7000) (not answered)$' "$tmp/e.log" \
  || bad "unanswered invalid stream_error not logged"
echo "ok: every error logged with its code"
# the errors ecmgd sent and the ones the SCS reported: one log line each
errs=$(grep -c ': error 0x\|SCS reports' "$tmp/e.log")
db_wait "SELECT errors FROM generators WHERE kind = 'ecmg' AND name = '127.0.0.1:$EPORT'" "$errs" \
  && echo "ok: generators table counts the $errs errors" || fails=$((fails + 1))
stop_ecmgd || fails=$((fails + 1))
echo "ecmgd_errors: $fails failure(s)"
[ $fails -eq 0 ]
