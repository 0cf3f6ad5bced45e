#!/bin/sh
# casapid, /cards.csv: export and import in the TVCAS 3 layouts through the
# real daemon — exact bytes out, round trip export -> import -> identical,
# a file with one bad row changes nothing, errors named by line and field,
# the admin layout only when configured, uploads (plain, chunked,
# 100-continue), a larger import.
. "$TOP/test/it/casapid.inc"
write_conf "api.csv_admin = yes"
start_api
seed_cards
U="$BASE/cards.csv?api_key=$KEY"
OP='serial_no;name;info;access_criteria;pair;start;finish'
AD='serial_no;name;info;key;access_criteria;type;pair;start;finish;edit'

# post FILE [QUERY] [CURL OPTIONS...]: status in $code, body in $tmp/body
post() {
  f=$1; q=${2:-}; shift; [ $# -gt 0 ] && shift
  code=$(curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' "$@" --data-binary @"$f" "$U$q")
}

# ---- export ----
code=$(curl -s -o "$tmp/op.csv" -D "$tmp/hdr" -w '%{http_code}' "$U")
printf '%s\n' "$OP" \
  '2100000000;Ivan;flat 1/2;01010101;0;1586693700;1589285580' \
  '2100000001;;;00000001;0;1704067200;1735689599' \
  '2100000004;Мария Иванова;Moscow, Krasnaya square 1/2;FFFFFFFF;0;1596955440;1602674640' >"$tmp/want.csv"
[ "$code" = 200 ] && cmp -s "$tmp/op.csv" "$tmp/want.csv" && ok "operator export, byte for byte" \
  || { bad "operator export: $code"; diff "$tmp/op.csv" "$tmp/want.csv"; }
grep -qi '^Content-Type: text/csv; charset=utf-8' "$tmp/hdr" && ok "Content-Type: text/csv" || bad "export content type"
grep -Eq '^Content-Disposition: attachment; filename="[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{6}_oper.csv"' "$tmp/hdr" \
  && ok "TVCAS file name" || bad "disposition: $(grep -i disposition "$tmp/hdr")"
ed=$(sql "SELECT edited FROM cards WHERE serial_no = 2100000000")
code=$(curl -s -o "$tmp/ad.csv" -w '%{http_code}' "$U&layout=admin")
printf '%s\n' "$AD" \
  "2100000000;Ivan;flat 1/2;07C8BA92E8EA422E00EFCB68329AA4A9;01010101;1;0;1586693700;1589285580;$ed" \
  "2100000001;;;0102030405060708090A0B0C0D0E0F10;00000001;1;0;1704067200;1735689599;$ed" \
  "2100000004;Мария Иванова;Moscow, Krasnaya square 1/2;00112233445566778899AABBCCDDEEFF;FFFFFFFF;2;0;1596955440;1602674640;$ed" \
  >"$tmp/want.csv"
[ "$code" = 200 ] && cmp -s "$tmp/ad.csv" "$tmp/want.csv" && ok "admin export, byte for byte" \
  || { bad "admin export: $code"; diff "$tmp/ad.csv" "$tmp/want.csv"; }
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$U&layout=oper")
[ "$code" = 200 ] && cmp -s "$tmp/body" "$tmp/op.csv" && ok "layout=oper (TVCAS name)" || bad "layout=oper: $code"
expect 400 LAYOUT_ERROR "/cards.csv?api_key=$KEY&layout=full"
expect 400 NOT_VALID_API_KEY "/cards.csv?api_key=wrong"
expect 400 NOT_VALID_API_KEY "/cards.csv"

# ---- round trip: export -> import -> nothing changes -> same export ----
for l in operator admin; do
  curl -s -o "$tmp/rt1.csv" "$U&layout=$l"
  before=$(dbstate | sed '$d')
  post "$tmp/rt1.csv" "&layout=$l"
  [ "$code" = 200 ] && [ "$(cat "$tmp/body")" = "OK 3 rows: 0 added, 0 updated, 3 unchanged" ] \
    && ok "$l round trip import: 3 unchanged" || bad "$l round trip: $code $(cat "$tmp/body")"
  [ "$(dbstate | sed '$d')" = "$before" ] && ok "$l round trip: database unchanged" || bad "$l round trip changed the database"
  curl -s -o "$tmp/rt2.csv" "$U&layout=$l"
  cmp -s "$tmp/rt1.csv" "$tmp/rt2.csv" && ok "$l round trip: identical export" || bad "$l round trip: exports differ"
done

# ---- a file with one bad row changes nothing ----
printf '%s\n' "$OP" \
  '2100000000;Ivan Changed;flat 1/2;01010101;0;1586693700;1589285580' \
  '2100000001;New Name;;00000001;0;1704067200;1735689599' \
  '2100000004;x;y;FFFFFFF;0;1596955440;1602674640' \
  '2100000000;dup;;00000001;0;0;0' >"$tmp/bad.csv"
before=$(dbstate)
post "$tmp/bad.csv"
printf 'CSV_ERROR\nline 4: access_criteria: must be exactly 8 hex digits\nline 5: serial_no: 2100000000 repeats line 2\n' >"$tmp/want"
[ "$code" = 400 ] && cmp -s "$tmp/body" "$tmp/want" && ok "bad rows named by line and field" \
  || { bad "bad row answer: $code"; cat "$tmp/body"; }
[ "$(dbstate)" = "$before" ] && ok "a CSV with bad rows changes nothing" || bad "the bad CSV changed the database"
# the operator layout cannot create cards: refused with the line, nothing written
printf '%s\n' "$OP" \
  '2100000000;Ivan Changed;flat 1/2;01010101;0;1586693700;1589285580' \
  '2100000077;Ghost;;00000001;0;1704067200;1735689599' >"$tmp/ghost.csv"
post "$tmp/ghost.csv"
printf 'CSV_ERROR\nline 3: serial_no: no card 2100000077 (the operator layout only updates cards; create cards with the admin layout or casprog)\n' >"$tmp/want"
[ "$code" = 400 ] && cmp -s "$tmp/body" "$tmp/want" && ok "unknown card in the operator layout refused" \
  || { bad "ghost: $code"; cat "$tmp/body"; }
[ "$(dbstate)" = "$before" ] && ok "... and nothing written" || bad "ghost import wrote"
# file-level errors
: >"$tmp/empty.csv"
post "$tmp/empty.csv"
[ "$code" = 400 ] && [ "$(cat "$tmp/body")" = "CSV_ERROR
line 1: header: missing (the file is empty)" ] && ok "empty upload" || bad "empty: $code $(cat "$tmp/body")"
printf 'serial;name\n1;2\n' >"$tmp/hdr.csv"
post "$tmp/hdr.csv"
[ "$code" = 400 ] && head -n 2 "$tmp/body" | tail -n 1 | grep -q '^line 1: header: expected "serial_no;name;info;access_criteria;pair;start;finish" (operator) or ' \
  && ok "wrong header" || bad "header: $code $(cat "$tmp/body")"

# ---- an import that changes cards: audited as csv, visible in the API ----
printf '%s\r\n' "$OP" \
  '2100000000;Ivan Ivanov;flat 1/2;00000007;1;1586693700;1900000000' \
  '2100000001;;;00000001;0;1704067200;1735689599' >"$tmp/upd.csv"
post "$tmp/upd.csv" "" -H "Content-Type: text/csv"
[ "$code" = 200 ] && [ "$(cat "$tmp/body")" = "OK 2 rows: 0 added, 1 updated, 1 unchanged" ] && ok "CRLF operator import" \
  || bad "update import: $code $(cat "$tmp/body")"
expect 200 '{"serial_no":"2100000000","name":"Ivan Ivanov","info":"flat 1\/2","access_criteria":"00000007","pair":"1","start":"1586693700","finish":"1900000000"}' \
  "/api.php?api_key=$KEY&serial_no=2100000000"
[ "$(sql "SELECT group_concat(field || ':' || old_value || '>' || new_value, ' ') FROM audit WHERE who = 'csv' AND addr = '127.0.0.1' AND serial_no = 2100000000")" \
  = "name:Ivan>Ivan Ivanov access_criteria:01010101>00000007 pair:0>1 finish:1589285580>1900000000" ] \
  && ok "csv changes audited per field with the client address" || bad "csv audit: $(sql "SELECT * FROM audit WHERE who = 'csv'")"
sql "SELECT message FROM audit WHERE who = 'csv' AND message LIKE 'CSV import%' ORDER BY id DESC LIMIT 1" | grep -qx "CSV import (operator layout): 2 rows, 0 added, 1 updated, 1 unchanged" \
  && ok "import summary audited" || bad "import summary"

# ---- uploads: chunked, 100-continue; multipart refused ----
post "$tmp/op.csv" "" -H "Transfer-Encoding: chunked"
[ "$code" = 200 ] && ok "chunked upload" || bad "chunked: $code $(cat "$tmp/body")"
post "$tmp/op.csv" "" -H "Expect: 100-continue"
[ "$code" = 200 ] && ok "Expect: 100-continue upload" || bad "100-continue: $code $(cat "$tmp/body")"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -F "loadfile=@$tmp/op.csv" "$U")
[ "$code" = 415 ] && head -n 1 "$tmp/body" | grep -qx UNSUPPORTED_MEDIA_TYPE && ok "multipart refused with a hint" || bad "multipart: $code"

# ---- a larger import: 20,000 new cards, then exported ----
awk 'BEGIN { print "serial_no;name;info;key;access_criteria;type;pair;start;finish;edit";
  for (i = 0; i < 20000; i++) printf "%d;Sub %d;Street %d/%d;%032X;%08X;1;%d;1700000000;1800000000;\n",
    2101000000 + i, i, i % 97, i % 13, i, i, i % 2 }' >"$tmp/big.csv"
t0=$(date +%s%N)
post "$tmp/big.csv" "&layout=admin"
t1=$(date +%s%N)
[ "$code" = 200 ] && [ "$(cat "$tmp/body")" = "OK 20000 rows: 20000 added, 0 updated, 0 unchanged" ] \
  && ok "20,000-row import in $(( (t1 - t0) / 1000000 )) ms" || bad "big import: $code $(cat "$tmp/body")"
curl -s -o "$tmp/big.out" "$U&layout=admin"
[ "$(wc -l <"$tmp/big.out")" = 20004 ] && [ "$(sed -n 5p "$tmp/big.out" | cut -d';' -f1-9)" = "2101000000;Sub 0;Street 0/0;00000000000000000000000000000000;00000000;1;0;1700000000;1800000000" ] \
  && ok "20,003 cards exported in serial order" || bad "big export: $(wc -l <"$tmp/big.out") lines"

# ---- the admin layout off (SIGHUP reload) ----
write_conf "api.csv_admin = no"
kill -HUP "$pid"
sleep 0.3
grep -q "casapid: info: configuration reloaded from $tmp/cas.conf" "$tmp/log" && ok "SIGHUP reload logged" || bad "reload not logged"
expect 403 ADMIN_CSV_DISABLED "/cards.csv?api_key=$KEY&layout=admin"
post "$tmp/ad.csv" "&layout=admin"
[ "$code" = 403 ] && ok "admin import refused" || bad "admin import without api.csv_admin: $code"
post "$tmp/ad.csv"
[ "$code" = 400 ] && [ "$(cat "$tmp/body")" = "CSV_ERROR
line 1: header: this is the admin layout, expected the operator layout" ] && ok "admin file refused as operator import" \
  || bad "admin header: $code $(cat "$tmp/body")"
curl -s -o "$tmp/body" "$U"
head -n 1 "$tmp/body" | grep -qx "$OP" && ok "operator export still works" || bad "operator export after reload"

grep -qi "07C8BA92E8EA422E" "$tmp/log" && bad "a card key is in the log" || ok "card keys are never logged"
stop_api
finish
