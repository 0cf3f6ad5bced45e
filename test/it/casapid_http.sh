#!/bin/sh
# casapid, HTTP and operations, through the real daemon: keep-alive and
# pipelining, HTTP/1.0, limits (414, 431, 413), malformed requests, header
# and body deadlines, the connection cap, the wrong-key slow-down per
# client address, /healthz, /metrics, SIGHUP, SIGTERM, start-up errors.
. "$TOP/test/it/casapid.inc"
write_conf "api.csv_admin = yes" "api.timeout = 1" "api.max_connections = 4" \
  "api.max_url = 512" "api.max_body = 1000"
start_api
seed_cards
Q="/api.php?api_key=$KEY&serial_no=2100000000"
J0='{"serial_no":"2100000000","name":"Ivan","info":"flat 1\/2","access_criteria":"01010101","pair":"0","start":"1586693700","finish":"1589285580"}'

# has TEXT NEEDLE DESCRIPTION
has() { case $1 in *"$2"*) ok "$3";; *) bad "$3: $(printf '%s' "$1" | head -c 600)";; esac; }
hasnt() { case $1 in *"$2"*) bad "$3: $(printf '%s' "$1" | head -c 600)";; *) ok "$3";; esac; }

# ---- keep-alive, pipelining, HTTP/1.0 ----
out=$(raw "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET $Q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
n=$(printf '%s' "$out" | grep -c '^HTTP/1.1 200 OK')
[ "$n" = 2 ] && ok "two pipelined requests, two answers" || bad "pipelining: $out"
has "$out" "OK
HTTP/1.1 200 OK" "answers in order"
has "$out" "$J0" "second answer is the card"
hasnt "$out" "<timeout>" "Connection: close honoured"
out=$(raw "GET /healthz HTTP/1.0\r\n\r\n")
has "$out" "Connection: close" "HTTP/1.0 closes by default"
hasnt "$out" "<timeout>" "HTTP/1.0 connection closed"
out=$(raw "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n")
has "$out" "Connection: keep-alive" "HTTP/1.0 keep-alive"
[ "$(printf '%s' "$out" | grep -c '^HTTP/1.1 200 OK')" = 2 ] && ok "HTTP/1.0 keep-alive connection serves a second request" || bad "1.0 keep-alive: $out"

# ---- limits ----
long=$(head -c 600 /dev/zero | tr '\0' a)
out=$(raw "GET /$long HTTP/1.1\r\nHost: x\r\n\r\n")
has "$out" "HTTP/1.1 414 URI Too Long" "414 for a long request line"
has "$out" "URI_TOO_LONG" "414 body"
# a long request line without its end is refused as soon as it is too long
out=$(raw "GET /$long")
has "$out" "414 URI Too Long" "414 before the line ends"
big=$(head -c 17000 /dev/zero | tr '\0' h)
out=$(raw "GET /healthz HTTP/1.1\r\nX-Big: $big\r\n\r\n")
has "$out" "HTTP/1.1 431 Request Header Fields Too Large" "431 for large headers"
out=$(raw "POST /cards.csv?api_key=$KEY HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
has "$out" "HTTP/1.1 413 Content Too Large" "413 for a declared body over api.max_body"
has "$out" "BODY_TOO_LARGE" "413 body"
body=$(head -c 1200 /dev/zero | tr '\0' b)
out=$(raw "POST /cards.csv?api_key=$KEY HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4b0\r\n$body\r\n0\r\n\r\n")
has "$out" "413 Content Too Large" "413 for a chunked body over api.max_body"

# ---- malformed requests ----
out=$(raw "GARBAGE\r\n\r\n")
has "$out" "HTTP/1.1 400 Bad Request" "400 for a malformed request line"
has "$out" "BAD_REQUEST" "400 body"
out=$(raw "GET / HTTP/2.0\r\n\r\n")
has "$out" "505 HTTP Version Not Supported" "505 for HTTP/2.0 text"
out=$(raw "POST /cards.csv HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
has "$out" "501 Not Implemented" "501 for an unknown transfer coding"
out=$(raw "POST /cards.csv HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
has "$out" "400 Bad Request" "400 for Content-Length with Transfer-Encoding"
out=$(raw "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n")
has "$out" "400 Bad Request" "400 for white space before a colon"
out=$(raw "POST /cards.csv HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n")
has "$out" "400 Bad Request" "400 for a malformed chunk"

# ---- deadlines (api.timeout = 1) ----
t0=$(date +%s%N)
out=$(raw "GET /healthz HTTP/1.1\r\nHost")
t1=$(date +%s%N)
has "$out" "HTTP/1.1 408 Request Timeout" "408 for an unfinished head"
hasnt "$out" "<timeout>" "connection closed after 408"
ms=$(( (t1 - t0) / 1000000 ))
[ $ms -ge 900 ] && [ $ms -lt 2900 ] && ok "head deadline after ${ms} ms" || bad "head deadline: $ms ms"
out=$(raw "POST /cards.csv?api_key=$KEY HTTP/1.1\r\nContent-Length: 100\r\n\r\nserial_no;")
has "$out" "408 Request Timeout" "408 for an unfinished body"
# an idle connection is closed without an answer
out=$(raw "")
[ -z "$out" ] && ok "idle connection closed quietly" || bad "idle: $out"

# ---- the connection cap (api.max_connections = 4) ----
out=$($PY - "$PORT" <<'PYEOF'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
time.sleep(0.2)
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(2)
print(s.recv(4096).decode())
s.close()
held[0].close()
time.sleep(0.2)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
s.settimeout(2)
print(s.recv(4096).decode())
PYEOF
)
has "$out" "HTTP/1.1 503 Service Unavailable" "503 beyond api.max_connections"
has "$out" "SERVICE_UNAVAILABLE" "503 body"
has "$out" "HTTP/1.1 200 OK" "a place freed is used again"
sleep 0.2
grep -q "casapid: warning: connection limit 4 reached: refused 127.0.0.1" "$tmp/log" && ok "cap logged" || bad "cap not logged"

# ---- wrong keys: held back per address, nobody else waits (600 ms) ----
write_conf "api.csv_admin = yes" "api.timeout = 5" "api.bad_key_delay_ms = 600" "api.max_connections = 64"
kill -HUP "$pid"
sleep 0.3
pids=""
for i in 1 2 3; do
  curl -s -o "$tmp/bk$i" -w '%{time_total}\n' "$BASE/api.php?api_key=guess$i&serial_no=2100000000" >"$tmp/bt$i" &
  pids="$pids $!"
done
sleep 0.1
curl -s -o "$tmp/good" -w '%{time_total}\n' "$BASE$Q" >"$tmp/gt"
curl -s --interface 127.0.0.2 -o "$tmp/other" -w '%{time_total}\n' "$BASE/api.php?api_key=x&serial_no=1" >"$tmp/ot" &
pids="$pids $!"
for j in $pids; do wait "$j"; done
times=$(sort -n "$tmp"/bt* | tr '\n' ' ')
set -- $times
ms() { echo "$1" | awk '{ printf "%d", $1 * 1000 }'; }
a=$(ms "$1"); b=$(ms "$2"); c=$(ms "$3")
[ $a -ge 500 ] && [ $a -lt 1150 ] && [ $((b - a)) -ge 500 ] && [ $((c - b)) -ge 500 ] && [ $c -lt 4000 ] \
  && ok "three parallel wrong keys from one address answered one per 600 ms ($a, $b, $c ms)" \
  || bad "wrong-key pacing: $a $b $c ms"
[ "$(cat "$tmp/bk1")$(cat "$tmp/bk2")$(cat "$tmp/bk3")" = NOT_VALID_API_KEYNOT_VALID_API_KEYNOT_VALID_API_KEY ] \
  && ok "each answered NOT_VALID_API_KEY" || bad "wrong-key bodies"
g=$(ms "$(cat "$tmp/gt")")
[ $g -lt 500 ] && [ "$(cat "$tmp/good")" = "$J0" ] && ok "the right key from the same address is not held (${g} ms)" || bad "good request waited $g ms"
o=$(ms "$(cat "$tmp/ot")")
[ $o -ge 550 ] && [ $o -lt 1150 ] && ok "another address has its own pace (${o} ms)" || bad "other address: $o ms"
[ "$(sql "SELECT count(*) FROM audit WHERE message = 'API key refused' AND addr = '127.0.0.2'")" = 1 ] \
  && ok "refused key audited with the address" || bad "refused key audit"

# ---- /healthz and /metrics ----
expect 200 "OK" "/healthz"
get "/metrics"
m=$(cat "$tmp/body")
has "$m" 'casapid_requests_total{endpoint="api",code="200"}' "metrics: requests by endpoint and code"
has "$m" 'casapid_errors_total{code="NOT_VALID_API_KEY"} 4' "metrics: errors by code"
has "$m" 'casapid_errors_total{code="URI_TOO_LONG"} 2' "metrics: protocol errors"
has "$m" 'casapid_request_duration_seconds_bucket{le="+Inf"}' "metrics: latency histogram"
has "$m" 'casapid_cards{status="active"} 3' "metrics: cards by status"
has "$m" 'casapid_connections_refused_total 1' "metrics: refused connections"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$tmp/hdr" && ok "Prometheus content type" || bad "metrics content type"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/metrics")
[ "$code" = 405 ] && ok "POST /metrics -> 405" || bad "POST /metrics: $code"

# ---- SIGHUP: a bad file keeps the running configuration; a good one applies ----
cp "$tmp/cas.conf" "$tmp/good.conf"
echo "api.timeout = zero" >>"$tmp/cas.conf"
kill -HUP "$pid"
sleep 0.3
line=$(grep -n "api.timeout = zero" "$tmp/cas.conf" | cut -d: -f1)
grep -q "casapid: error: reload failed, keeping the running configuration: $tmp/cas.conf:$line: api.timeout:" "$tmp/log" \
  && ok "invalid reload refused with file:line" || bad "bad reload: $(tail -n 3 "$tmp/log")"
expect 200 "$J0" "$Q"
write_conf "api.key = a-new-key-0123456789"
kill -HUP "$pid"
sleep 0.3
expect 400 NOT_VALID_API_KEY "$Q"
expect 200 "$J0" "/api.php?api_key=a-new-key-0123456789&serial_no=2100000000"

# ---- SIGTERM: a request in progress is answered, then exit 0 ----
write_conf "api.key = a-new-key-0123456789" "api.bad_key_delay_ms = 3000"
kill -HUP "$pid"
sleep 0.3
curl -s -o "$tmp/held" -w '%{http_code} %{time_total}\n' "$BASE/api.php?api_key=no&serial_no=1" >"$tmp/heldt" &
cpid=$!
sleep 0.3
kill -TERM "$pid"
wait "$cpid"
wait "$pid"; rc=$?
pid=
[ "$rc" = 0 ] && ok "exit 0 after SIGTERM" || bad "exit $rc after SIGTERM"
[ "$(cut -d' ' -f1 "$tmp/heldt")" = 400 ] && [ "$(cat "$tmp/held")" = NOT_VALID_API_KEY ] && \
  [ "$(ms "$(cut -d' ' -f2 "$tmp/heldt")")" -lt 2000 ] && ok "held answer sent at once on SIGTERM" || bad "held answer: $(cat "$tmp/heldt")"
grep -q "casapid: info: stopping (SIGTERM)" "$tmp/log" && grep -q "casapid: info: stopped" "$tmp/log" \
  && ok "stop logged" || bad "stop log"

# ---- start-up errors ----
# a fresh configuration: master key (0600) and database created, logged
write_conf "db = $tmp/fresh/var/cas.db" "master_key = $tmp/fresh/keys/master.key"
start_api
kill -TERM "$pid"; wait "$pid"; pid=
grep -qx "casapid: info: created master key $tmp/fresh/keys/master.key" "$tmp/log" \
  && grep -qx "casapid: info: created database $tmp/fresh/var/cas.db" "$tmp/log" \
  && [ "$(stat -c %a "$tmp/fresh/keys/master.key")" = 600 ] && [ "$(stat -c %s "$tmp/fresh/keys/master.key")" = 32 ] \
  && ok "fresh start: master key and database created" || bad "fresh start: $(tail -n 5 "$tmp/log")"
chmod 644 "$tmp/fresh/keys/master.key"
"$bin/casapid" -f "$tmp/cas.conf" 2>"$tmp/err"; rc=$?
[ $rc = 111 ] && grep -qx "casapid: fatal: master key $tmp/fresh/keys/master.key: mode 0644 gives access to group or others (chmod 600 $tmp/fresh/keys/master.key)" "$tmp/err" \
  && ok "a master key others can read: exit 111" || bad "0644 master key: $rc $(cat "$tmp/err")"
rm "$tmp/fresh/keys/master.key"
"$bin/casapid" -f "$tmp/cas.conf" 2>"$tmp/err"; rc=$?
[ $rc = 111 ] && grep -qx "casapid: fatal: master key $tmp/fresh/keys/master.key is missing but database $tmp/fresh/var/cas.db exists: restore the master key (a new one could not unwrap the card keys)" "$tmp/err" \
  && ok "master key lost, database kept: exit 111, no new key" || bad "lost master key: $rc $(cat "$tmp/err")"
[ ! -e "$tmp/fresh/keys/master.key" ] && ok "no new master key made" || bad "a new master key was made"
write_conf "api.key = a-new-key-0123456789"
grep -v '^api.key' "$tmp/cas.conf" >"$tmp/nokey.conf"
"$bin/casapid" -f "$tmp/nokey.conf" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -qx "casapid: fatal: api.key is not set: casapid needs the key billing sends as api_key" "$tmp/err" \
  && ok "no api.key: exit 1" || bad "no api.key: $rc $(cat "$tmp/err")"
$PY -c 'import socket,time,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(3)' "$PORT" &
hold=$!
sleep 0.3
sed "s|^db = .*|db = $tmp/unused/cas.db|; s|^master_key = .*|master_key = $tmp/unused/master.key|" "$tmp/cas.conf" >"$tmp/busy.conf"
"$bin/casapid" -f "$tmp/busy.conf" 2>"$tmp/err"; rc=$?
kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null
[ $rc = 111 ] && grep -qx "casapid: fatal: unable to bind 127.0.0.1:$PORT: Address already in use" "$tmp/err" \
  && ok "port in use: exit 111" || bad "port in use: $rc $(cat "$tmp/err")"
[ ! -e "$tmp/unused" ] && ok "port in use: no file created" || bad "port in use created $(ls "$tmp/unused")"
"$bin/casapid" -f "$tmp/cas.conf" extra 2>"$tmp/err"; rc=$?
[ $rc = 100 ] && ok "extra argument: exit 100" || bad "extra argument: $rc"
"$bin/casapid" --help | grep -q -- "-r FD" && ok "--help documents -r FD" || bad "--help"
finish
