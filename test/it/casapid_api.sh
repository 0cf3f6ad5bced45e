#!/bin/sh
# casapid, GET /api.php: the request matrix of issue 6 through the real
# daemon and curl — every field, every error code, edge values, encodings,
# repeated parameters, precedence, unknown paths and methods, audit rows and
# change numbers in the database, concurrent changes of one card.
. "$TOP/test/it/casapid.inc"
write_conf "api.csv_admin = yes"
start_api
seed_cards
A="/api.php?api_key=$KEY"
C0="$A&serial_no=2100000000"

# ---- reading a card ----
J0='{"serial_no":"2100000000","name":"Ivan","info":"flat 1\/2","access_criteria":"01010101","pair":"0","start":"1586693700","finish":"1589285580"}'
expect 200 "$J0" "$C0"
grep -qi '^Content-Type: application/json' "$tmp/hdr" && ok "Content-Type: application/json" || bad "content type: $(cat "$tmp/hdr")"
expect 200 "$J0" "/api?api_key=$KEY&serial_no=2100000000"
# the reference vector (tvcas3-vectors.json api_json_example), byte for byte
expect 200 '{"serial_no":"2100000004","name":"\u041c\u0430\u0440\u0438\u044f \u0418\u0432\u0430\u043d\u043e\u0432\u0430","info":"Moscow, Krasnaya square 1\/2","access_criteria":"FFFFFFFF","pair":"0","start":"1596955440","finish":"1602674640"}' "$A&serial_no=2100000004"
expect 200 '{"serial_no":"2100000001","name":"","info":"","access_criteria":"00000001","pair":"0","start":"1704067200","finish":"1735689599"}' "$A&serial_no=2100000001"
# parameter order does not matter; X-Api-Key works instead of api_key
expect 200 "$J0" "/api.php?serial_no=2100000000&api_key=$KEY"
c=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "X-Api-Key: $KEY" "$BASE/api.php?serial_no=2100000000")
[ "$c" = 200 ] && [ "$(cat "$tmp/body")" = "$J0" ] && ok "X-Api-Key header" || bad "X-Api-Key: $c"

# ---- the key ----
expect 400 NOT_VALID_API_KEY "/api.php?serial_no=2100000000"
expect 400 NOT_VALID_API_KEY "/api.php?api_key=&serial_no=2100000000"
expect 400 NOT_VALID_API_KEY "/api.php?api_key=wrong&serial_no=2100000000"
expect 400 NOT_VALID_API_KEY "/api.php?api_key=${KEY}x&serial_no=2100000000"
expect 400 NOT_VALID_API_KEY "/api.php?api_key=$(echo "$KEY" | cut -c2-)&serial_no=2100000000"
expect 400 NOT_VALID_API_KEY "/api.php?api_key=$(echo "$KEY" | tr a-z A-Z)&serial_no=2100000000"
expect 400 NOT_VALID_API_KEY "/api.php?API_KEY=$KEY&serial_no=2100000000"
# repeated: the last one counts (PHP $_GET)
expect 200 "$J0" "/api.php?api_key=wrong&api_key=$KEY&serial_no=2100000000"
expect 400 NOT_VALID_API_KEY "/api.php?api_key=$KEY&api_key=wrong&serial_no=2100000000"

# ---- the serial ----
for s in "" "&serial_no=" "&serial_no=0" "&serial_no=2100000002" "&serial_no=2100000000abc" \
         "&serial_no=21000000001" "&serial_no=+2100000000" "&serial_no=%202100000000" \
         "&serial_no=-1" "&serial_no=4294967296" "&serial_no=0x7D2B7500" "&serial_no=2.1e9" \
         "&serial_no=02100000000" "&serial_no[]=2100000000"; do
  expect 400 SMARDCARD_NOT_FOUND "$A$s"
done
expect 200 "$J0" "$A&serial_no=1&serial_no=2100000000"

# ---- setting fields: answer, database row, audit, change number ----
seq0=$(sql "SELECT value FROM seq")
J1='{"serial_no":"2100000000","name":"Ivan","info":"flat 1\/2","access_criteria":"0000000F","pair":"1","start":"1586693700","finish":"1589285580"}'
expect 200 "$J1" "$C0&set[access_criteria]=0000000F&set[pair]=1"
[ "$(sql "SELECT access_criteria || ' ' || pair FROM cards WHERE serial_no = 2100000000")" = "15 1" ] \
  && ok "row updated" || bad "row: $(sql "SELECT access_criteria, pair FROM cards WHERE serial_no = 2100000000")"
[ "$(sql "SELECT who || '|' || addr || '|' || serial_no || '|' || field || '|' || old_value || '|' || new_value FROM audit WHERE who = 'api' AND field IS NOT NULL ORDER BY id")" = \
"api|127.0.0.1|2100000000|access_criteria|01010101|0000000F
api|127.0.0.1|2100000000|pair|0|1" ] && ok "audit: source api, address, field, old -> new" \
  || bad "audit: $(sql "SELECT * FROM audit")"
seq1=$(sql "SELECT value FROM seq")
[ "$seq1" = $((seq0 + 1)) ] && [ "$(sql "SELECT change_no FROM cards WHERE serial_no = 2100000000")" = "$seq1" ] \
  && ok "change number moved to $seq1" || bad "change number: seq $seq0 -> $seq1"
# the same values again: nothing changes, no audit, no new change number
n_audit=$(sql "SELECT count(*) FROM audit")
expect 200 "$J1" "$C0&set[access_criteria]=0000000f&set[pair]=1"
[ "$(sql "SELECT count(*) FROM audit")" = "$n_audit" ] && [ "$(sql "SELECT value FROM seq")" = "$seq1" ] \
  && ok "unchanged values write nothing" || bad "no-op set wrote something"

# access_criteria edge values; answered as 8 upper-case hex digits
for ac in 00000000:00000000 FFFFFFFF:FFFFFFFF ffffffff:FFFFFFFF aBcD0123:ABCD0123 01010101:01010101; do
  get "$C0&set[access_criteria]=${ac%%:*}"
  case $(cat "$tmp/body") in
    *"\"access_criteria\":\"${ac#*:}\""*) ok "access_criteria ${ac%%:*} -> ${ac#*:}";;
    *) bad "access_criteria ${ac%%:*}: $code $(cat "$tmp/body")";;
  esac
done
[ "$(sql "SELECT access_criteria FROM cards WHERE serial_no = 2100000000")" = 16843009 ] && ok "AC stored as a number" || bad "AC stored"

# every refusal, and none of them writes anything
before=$(dbstate)
for v in "" 0 0101010 123456789 1x345678 0x010101 "%2001010101" "0101%200101" "01010101%00" G0000000 "+1010101"; do
  expect 400 ACCESS_CRITERIA_ERROR "$C0&set[access_criteria]=$v"
done
for v in "" 2 01 10 -1 "%201" "1%20" a true; do
  expect 400 PAIR_ERROR "$C0&set[pair]=$v"
done
for v in "" 0 123456789 12345678901 1x 1586693700x x1586693700 "%201586693700" 0000000000 0631151999 3155760000 9999999999; do
  expect 400 START_ERROR "$C0&set[start]=$v"
  expect 400 FINISH_ERROR "$C0&set[finish]=$v"
done
long=$(head -c 256 /dev/zero | tr '\0' n)
for v in "a;b" "a%3Bb" "a%0Ab" "a%09b" "%7F" "%FF" "%C0%80" "%ED%A0%80" "caf%E9" "$long"; do
  expect 400 NAME_ERROR "$C0&set[name]=$v"
done
info1024=$(head -c 1024 /dev/zero | tr '\0' i)
info4k=$(head -c 4096 /dev/zero | tr '\0' i)
expect 400 INFO_ERROR "$C0&set[info]=$info1024"
expect 400 INFO_ERROR "$C0&set[info]=$info4k"
expect 400 INFO_ERROR "$C0&set[info]=line1%0D%0Aline2"
for v in "set[serial_no]=2100000009" "set[key]=00" "set[foo]=1" "set[]=1" "set=1" "set[NAME]=x" \
         "set[name]x=1" "set[name=1" "set[status]=0" "set[type]=1" "set[edit]=1"; do
  expect 400 UNKNOWN_SET_PARAMETER "$C0&$v"
done
[ "$(dbstate)" = "$before" ] && ok "nothing written by the refused requests" || bad "refused requests changed the database"

# start / finish: exactly 10 digits within the Conax date range
get "$C0&set[start]=0631152000&set[finish]=3155759999"
case "$code $(cat "$tmp/body")" in
  *'"start":"631152000","finish":"3155759999"}') ok "start 0631152000 and finish 3155759999 (2069-12-31 23:59:59 UTC)";;
  *) bad "dates: $code $(cat "$tmp/body")";;
esac
expect 200 '{"serial_no":"2100000000","name":"Ivan","info":"flat 1\/2","access_criteria":"01010101","pair":"1","start":"1586693700","finish":"1589285580"}' \
  "$C0&set[start]=1586693700&set[finish]=1589285580"

# ---- text: UTF-8, empty, limits, encodings ----
# Cyrillic in, \uXXXX out; the database holds the UTF-8 bytes
get "$C0&set[name]=%D0%9C%D0%B0%D1%80%D0%B8%D1%8F"
case $(cat "$tmp/body") in *'"name":"\u041c\u0430\u0440\u0438\u044f"'*) ok "UTF-8 name";; *) bad "UTF-8 name: $(cat "$tmp/body")";; esac
[ "$(sql "SELECT hex(name) FROM cards WHERE serial_no = 2100000000")" = D09CD0B0D180D0B8D18F ] && ok "UTF-8 bytes stored" || bad "stored name"
# raw UTF-8 bytes in the URL are taken as they are
get "$C0&set[name]=Мария"
case $(cat "$tmp/body") in *'"name":"\u041c\u0430\u0440\u0438\u044f"'*) ok "raw UTF-8 in the URL";; *) bad "raw UTF-8: $(cat "$tmp/body")";; esac
# emoji: a surrogate pair, as PHP writes it
get "$C0&set[name]=%F0%9F%93%BA"
case $(cat "$tmp/body") in *'"name":"\ud83d\udcfa"'*) ok "astral character as a surrogate pair";; *) bad "emoji: $(cat "$tmp/body")";; esac
get "$C0&set[name]="
case $(cat "$tmp/body") in *'"name":"",'*) ok "empty name";; *) bad "empty name: $(cat "$tmp/body")";; esac
# '+' is a space (HTML form encoding, decoded once); %2B is '+'; %25 is '%'
get "$C0&set[name]=a+b%2Bc%2541"
case $(cat "$tmp/body") in *'"name":"a b+c%41"'*) ok "+ is a space, %2B a plus, %2541 decoded once";; *) bad "plus: $(cat "$tmp/body")";; esac
# escapes: quote, backslash, slash, as json_encode writes them
get "$C0&set[info]=%22q%22+%5C+%2F+%3Cb%3E+%26+%27"
case $(cat "$tmp/body") in *'"info":"\"q\" \\ \/ <b> & '"'"'"'*) ok "JSON escapes";; *) bad "escapes: $(cat "$tmp/body")";; esac
# a '%' that starts no escape stays as it is
get "$C0&set[info]=100%+sure%zz%4"
case $(cat "$tmp/body") in *'"info":"100% sure%zz%4"'*) ok "bare % kept";; *) bad "bare %: $(cat "$tmp/body")";; esac
# name 255 bytes, info 1023 bytes: the limits themselves
n255=$(head -c 255 /dev/zero | tr '\0' n)
i1023=$(head -c 1023 /dev/zero | tr '\0' i)
get "$C0&set[name]=$n255&set[info]=$i1023"
[ "$code" = 200 ] && [ "$(sql "SELECT length(name) || ' ' || length(info) FROM cards WHERE serial_no = 2100000000")" = "255 1023" ] \
  && ok "255-byte name and 1023-byte info" || bad "limits: $code"
# %-encoded parameter names
get "/api.php?api%5Fkey=$KEY&serial%5Fno=2100000000&set%5Bname%5D=Encoded"
case $(cat "$tmp/body") in *'"name":"Encoded"'*) ok "encoded parameter names";; *) bad "encoded names: $code $(cat "$tmp/body")";; esac
# repeated set[...]: the last value counts
get "$C0&set[name]=first&set[name]=last"
case $(cat "$tmp/body") in *'"name":"last"'*) ok "repeated set[name]: last wins";; *) bad "repeat: $(cat "$tmp/body")";; esac

# ---- precedence (casapid.8): key, then card, then set[...] in query order ----
expect 400 NOT_VALID_API_KEY "/api.php?api_key=no&serial_no=1&set[pair]=5&set[foo]=1"
expect 400 SMARDCARD_NOT_FOUND "$A&serial_no=1&set[pair]=5&set[foo]=1"
expect 400 SMARDCARD_NOT_FOUND "$A&set[pair]=5"
expect 400 PAIR_ERROR "$C0&set[pair]=5&set[foo]=1"
expect 400 UNKNOWN_SET_PARAMETER "$C0&set[foo]=1&set[pair]=5"
expect 400 ACCESS_CRITERIA_ERROR "$C0&set[name]=ok&set[access_criteria]=x&set[pair]=9"
expect 400 FINISH_ERROR "$C0&set[finish]=1&set[start]=1"
expect 400 START_ERROR "$C0&set[start]=1&set[finish]=1"
# a repeated parameter keeps its first place and its last value
expect 400 PAIR_ERROR "$C0&set[pair]=0&set[start]=1&set[pair]=7"
expect 400 START_ERROR "$C0&set[pair]=7&set[start]=1&set[pair]=0"
# one bad value among good ones: nothing written
before=$(dbstate)
expect 400 PAIR_ERROR "$C0&set[name]=Changed&set[info]=changed&set[access_criteria]=00000003&set[pair]=2"
[ "$(dbstate)" = "$before" ] && ok "a request with one bad value writes nothing" || bad "partial write"

# ---- all fields at once ----
J2='{"serial_no":"2100000001","name":"Petr Petrov","info":"Lenina 5\/7","access_criteria":"0000FFFF","pair":"1","start":"1700000000","finish":"1800000000"}'
expect 200 "$J2" "$A&serial_no=2100000001&set[name]=Petr+Petrov&set[info]=Lenina+5/7&set[access_criteria]=0000ffff&set[pair]=1&set[start]=1700000000&set[finish]=1800000000"
[ "$(sql "SELECT count(*) FROM audit WHERE serial_no = 2100000001 AND who = 'api'")" = 6 ] && ok "six audit rows for six fields" || bad "audit rows: $(sql "SELECT count(*) FROM audit WHERE serial_no = 2100000001 AND who = 'api'")"
expect 200 "$J2" "$A&serial_no=2100000001"

# ---- renewal: an expired card with a new finish is active again ----
sql "UPDATE cards SET status = 2 WHERE serial_no = 2100000001"
expect 200 "$J2" "$A&serial_no=2100000001&set[access_criteria]=0000FFFF"
[ "$(sql "SELECT status FROM cards WHERE serial_no = 2100000001")" = 2 ] && ok "expired card stays expired without a new finish" || bad "status changed"
get "$A&serial_no=2100000001&set[finish]=3000000000"
[ "$(sql "SELECT status FROM cards WHERE serial_no = 2100000001")" = 1 ] && ok "a finish in the future renews an expired card" || bad "not renewed"
[ "$(sql "SELECT old_value || '>' || new_value FROM audit WHERE serial_no = 2100000001 AND field = 'status'")" = "2>1" ] && ok "renewal audited" || bad "renewal audit"

# ---- paths and methods ----
for p in "/" "/api.php/" "/API.PHP" "/api.phpx" "/index.php" "/cards" "/api.php%00"; do
  expect 404 NOT_FOUND "$p?api_key=$KEY&serial_no=2100000000"
done
for m in POST PUT DELETE PATCH OPTIONS HEAD; do
  c=$(curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -X "$m" "$BASE$C0")
  if [ "$m" = HEAD ]; then
    [ "$c" = 405 ] && ok "HEAD -> 405" || bad "HEAD: $c"
  else
    [ "$c" = 405 ] && [ "$(cat "$tmp/body")" = METHOD_NOT_ALLOWED ] && grep -q '^Allow: GET' "$tmp/hdr" \
      && ok "$m -> 405 METHOD_NOT_ALLOWED, Allow: GET" || bad "$m: $c $(cat "$tmp/body")"
  fi
done

# ---- concurrent changes of one card ----
# 30 clients at once, each changing one field of 2100000004 to its own
# value: every answer is 200, nothing is lost (each audit row's old value is
# the previous row's new value), the row ends with the last values.
sql "SELECT 1" >/dev/null
n0=$(sql "SELECT count(*) FROM audit WHERE serial_no = 2100000004")
i=0
pids=""
while [ $i -lt 30 ]; do
  case $((i % 3)) in
    0) q="set[name]=client$i";;
    1) q="set[info]=client$i";;
    2) q="set[access_criteria]=$(printf '%08X' $((i + 100)))";;
  esac
  curl -gs -o "$tmp/par$i" -w "%{http_code}\n" "$BASE$A&serial_no=2100000004&$q" >"$tmp/code$i" &
  pids="$pids $!"
  i=$((i + 1))
done
for p in $pids; do wait "$p"; done
sql "SELECT field, old_value, new_value FROM audit WHERE serial_no = 2100000004 ORDER BY id" >"$tmp/auditdump"
codes=$(cat "$tmp"/code* | sort | uniq -c | tr -s ' ')
[ "$codes" = " 30 200" ] && ok "30 concurrent set requests answered 200" || bad "concurrent codes: $codes"
n1=$(sql "SELECT count(*) FROM audit WHERE serial_no = 2100000004")
[ $((n1 - n0)) = 30 ] && ok "30 audit rows" || { bad "audit rows: $((n1 - n0))"; cat "$tmp/auditdump"; cat "$tmp"/par*; }
for f in name info access_criteria; do
  chain=$(sql "SELECT old_value || '>' || new_value FROM audit WHERE serial_no = 2100000004 AND field = '$f' ORDER BY id" | tail -n 10)
  prev=""; okc=1
  while IFS= read -r l; do
    [ -z "$prev" ] || [ "${l%%>*}" = "$prev" ] || okc=0
    prev=${l#*>}
  done <<CHAIN
$chain
CHAIN
  final=$(sql "SELECT CASE '$f' WHEN 'access_criteria' THEN printf('%08X', access_criteria) ELSE $f END FROM cards WHERE serial_no = 2100000004")
  [ $okc = 1 ] && [ "$final" = "$prev" ] && ok "$f: no lost update (final $final)" || bad "$f chain: $chain / final $final"
done
[ "$(sql "SELECT change_no FROM cards WHERE serial_no = 2100000004")" = "$(sql "SELECT value FROM seq")" ] \
  && ok "the card holds the latest change number" || bad "change number after concurrency"

# ---- the log: one line per request, never a key ----
sleep 0.2
grep -q "casapid: info: 127.0.0.1 GET /api.php 200 ok [0-9]*B [0-9.]*ms serial=2100000000 set=access_criteria,pair" "$tmp/log" \
  && ok "access log line" || bad "access log: $(grep 'set=' "$tmp/log" | head -n 2)"
grep -q "$KEY" "$tmp/log" && bad "the API key is in the log" || ok "the API key is never logged"
grep -qi "07C8BA92E8EA422E" "$tmp/log" && bad "a card key is in the log" || ok "card keys are never logged"
grep -q "client3" "$tmp/log" && bad "set values are in the log" || ok "set values are not logged"
stop_api
finish
