#!/bin/sh
# cascron import and the billing pull: from a path, from standard input,
# from file://, and from a local HTTP(S) server on 127.0.0.1
# (test/it/billing_http.py): 200, 304 through If-None-Match and
# If-Modified-Since, an unchanged body without validators, 404, a stalled
# response (timeout), a truncated body, a cut chunked body, bounded
# redirects, no redirect to file://, a self-signed certificate refused, a
# CSV with one bad row (all or nothing, line and field named), credentials
# and query strings kept out of the log; two concurrent runs; export ->
# import round trip.
set -u
BUILD=${BUILD:-build}
TOP=${TOP:-$(pwd)}
bin=$BUILD/bin
tmp=$(mktemp -d /tmp/it-cascron-import.XXXXXX)
srv=; srvs=; bg=
trap 'for p in $srv $srvs $bg; do kill $p 2>/dev/null; done; rm -rf "$tmp"' EXIT INT TERM
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

T0=1735689600	# 2025-01-01 00:00:00 UTC
db=$tmp/var/cas.db
mkdir -p "$tmp/www"
base_conf() {	# base_conf [TIMEOUT]
  cat <<EOF
db = $db
master_key = $tmp/var/master.key
backup.keep = 0
billing.timeout = ${1:-1}
EOF
}
base_conf >"$tmp/cas.conf"

# cron CONF ARGS...: exit code in $rc, stdout/stderr in out/err
cron() {
  c=$1; shift
  "$bin/cascron" -f "$c" --now $T0 "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
}
summary() {
  got=$(sed 's/ time=[0-9.]*s / time=T /' "$tmp/out")
  if [ "$got" = "cascron: summary: $1" ]; then ok "summary: $1"; else
    bad "summary: got '$got', want 'cascron: summary: $1'"; cat "$tmp/err"; fi
}
expect_rc() {
  if [ "$rc" = "$1" ]; then ok "$2 (exit $rc)"; else bad "$2: exit $rc, want $1"; cat "$tmp/out" "$tmp/err"; fi
}
err_is() {
  sed 's/ in [0-9.]* s$/ in T s/' "$tmp/err" >"$tmp/err.masked"
  if cmp -s "$1" "$tmp/err.masked"; then ok "stderr as expected ($(wc -l <"$1") lines)"; else
    bad "stderr differs:"; diff "$1" "$tmp/err.masked"; fi
}
err_line() {	# err_line TEXT: stderr has this exact line
  if grep -qxF -- "$1" "$tmp/err"; then ok "logged: $1"; else bad "expected the line: $1"; cat "$tmp/err"; fi
}
q() { sqlite3 "$db" "$1"; }
check() {
  got=$(q "$2")
  if [ "$got" = "$3" ]; then ok "$1"; else bad "$1: got '$got', want '$3'"; fi
}
dump() { sqlite3 "$db" .dump; }

# ---- files ----
cat >"$tmp/www/admin.csv" <<EOF
serial_no;name;info;key;access_criteria;type;pair;start;finish;edit
2100000001;Alice;flat 1;00112233445566778899aabbccddeeff;00000001;1;0;1735689600;1767225599;
2100000002;Bob;;0123456789ABCDEF0123456789ABCDEF;0000000F;2;1;1735689600;1767225599;
2100000003;Carol / Чернова;floor 3;FEDCBA9876543210FEDCBA9876543210;FFFFFFFF;1;0;1704067200;1735689599;
EOF
cron "$tmp/cas.conf" import "$tmp/www/admin.csv"
expect_rc 0 "import an admin CSV from a path"
summary "import=imported rows=3 added=3 updated=0 time=T exit=0"
cat >"$tmp/want" <<EOF
cascron: info: created master key $tmp/var/master.key
cascron: info: created database $db
cascron: info: import $tmp/www/admin.csv: imported 3 rows, admin layout (3 added, 0 updated, 0 unchanged) in T s
EOF
err_is "$tmp/want"
check "cards in the database" \
  "SELECT group_concat(serial_no || ' ' || name || ' ' || info || ' ' || printf('%08X', access_criteria) || ' ' || type || ' ' || pair || ' ' || start || ' ' || finish || ' ' || status, ',') FROM (SELECT * FROM cards ORDER BY serial_no)" \
  "2100000001 Alice flat 1 00000001 1 0 1735689600 1767225599 1,2100000002 Bob  0000000F 2 1 1735689600 1767225599 1,2100000003 Carol / Чернова floor 3 FFFFFFFF 1 0 1704067200 1735689599 1"
"$bin/cascron" -f "$tmp/cas.conf" export --layout admin >"$tmp/export.csv" 2>/dev/null
cut -d';' -f1,4 "$tmp/export.csv" >"$tmp/keys"
cat >"$tmp/want" <<EOF
serial_no;key
2100000001;00112233445566778899AABBCCDDEEFF
2100000002;0123456789ABCDEF0123456789ABCDEF
2100000003;FEDCBA9876543210FEDCBA9876543210
EOF
cmp -s "$tmp/want" "$tmp/keys" && ok "card keys stored (export --layout admin gives them back)" \
  || { bad "keys:"; diff "$tmp/want" "$tmp/keys"; }
if grep -qi "00112233445566778899aabbccddeeff" "$db"; then bad "a card key in clear in the database file"; \
  else ok "no card key in clear in the database file"; fi

# the same file again: not imported twice; --force imports it
cron "$tmp/cas.conf" import "$tmp/www/admin.csv"
expect_rc 0 "import the same file again"
summary "import=unchanged time=T exit=0"
echo "cascron: info: import $tmp/www/admin.csv: unchanged since its import at 2025-01-01 00:00:00 UTC; nothing imported (--force imports it again)" >"$tmp/want"
err_is "$tmp/want"
cron "$tmp/cas.conf" import --force "$tmp/www/admin.csv"
summary "import=imported rows=3 added=0 updated=0 time=T exit=0"

# operator layout from standard input and from file://
printf 'serial_no;name;info;access_criteria;pair;start;finish\n2100000002;Bob;moved;00000003;1;1735689600;1767225599\n' |
  "$bin/cascron" -f "$tmp/cas.conf" --now $T0 import - >"$tmp/out" 2>"$tmp/err"; rc=$?
expect_rc 0 "import from standard input"
summary "import=imported rows=1 added=0 updated=1 time=T exit=0"
check "updated from stdin" "SELECT info || ' ' || access_criteria FROM cards WHERE serial_no = 2100000002" "moved 3"
printf 'serial_no;name;info;access_criteria;pair;start;finish\n2100000001;Alice;flat 1;00000007;0;1735689600;1767225599\n' >"$tmp/www/oper.csv"
cron "$tmp/cas.conf" import "file://$tmp/www/oper.csv"
expect_rc 0 "import from file://"
summary "import=imported rows=1 added=0 updated=1 time=T exit=0"
check "updated from file://" "SELECT access_criteria FROM cards WHERE serial_no = 2100000001" "7"
cron "$tmp/cas.conf" import "file://$tmp/www/nothere.csv"
expect_rc 111 "import from a missing file://"
err_line "cascron: error: import file://$tmp/www/nothere.csv: unable to fetch: Couldn't open file $tmp/www/nothere.csv; nothing imported"
cron "$tmp/cas.conf" import "$tmp/www/nothere.csv"
expect_rc 111 "import from a missing path"
err_line "cascron: error: import $tmp/www/nothere.csv: unable to fetch: No such file or directory; nothing imported"
cron "$tmp/cas.conf" import "ftp://127.0.0.1/x.csv"
expect_rc 1 "import from ftp://"
err_line "cascron: error: import ftp://127.0.0.1/x.csv: unsupported URL scheme 'ftp' (use a path, file://, http:// or https://)"

# one bad row: nothing written, line and field named
cat >"$tmp/www/bad.csv" <<EOF
serial_no;name;info;access_criteria;pair;start;finish
2100000001;Alice;flat 1;0000000F;0;1735689600;1767225599
2100000002;Bob;moved;0000000G;1;1735689600;1767225599
2100000003;Carol;floor 3;00000001;0;1735689600;1767225599
EOF
dump >"$tmp/before.sql"
cron "$tmp/cas.conf" import "$tmp/www/bad.csv"
expect_rc 2 "import a CSV with one bad row"
summary "import=rejected errors=1 time=T exit=2"
cat >"$tmp/want" <<EOF
cascron: error: import $tmp/www/bad.csv: line 3: access_criteria: must be exactly 8 hex digits
cascron: error: import $tmp/www/bad.csv: rejected (1 error), nothing imported
EOF
err_is "$tmp/want"
dump >"$tmp/after.sql"
cmp -s "$tmp/before.sql" "$tmp/after.sql" && ok "database unchanged by the rejected CSV" \
  || { bad "database changed:"; diff "$tmp/before.sql" "$tmp/after.sql" | head; }

# export -> import: every row unchanged
"$bin/cascron" -f "$tmp/cas.conf" export --layout admin >"$tmp/roundtrip.csv" 2>/dev/null
cron "$tmp/cas.conf" import --layout admin "$tmp/roundtrip.csv"
summary "import=imported rows=3 added=0 updated=0 time=T exit=0"
err_line "cascron: info: import $tmp/roundtrip.csv: imported 3 rows, admin layout (0 added, 0 updated, 3 unchanged) in $(sed -n 's/.* in \([0-9.]*\) s$/\1/p' "$tmp/err") s"

# ---- the HTTP server ----
start_server() {	# start_server PORTFILE LOG [CERT KEY]
  python3 "$TOP/test/it/billing_http.py" "$tmp/www" "$@" &
  last=$!
  i=0; while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  [ -s "$1" ] || bad "the HTTP server did not start"
}
start_server "$tmp/port" "$tmp/http.log"
srv=$last
port=$(cat "$tmp/port")
url=http://127.0.0.1:$port
billing() {	# billing URL [more conf lines [timeout]]: a configuration pulling URL
  { base_conf "${3:-1}"; echo "billing.url = $1"; [ -n "${2:-}" ] && printf '%s\n' "$2"; } >"$tmp/billing.conf"
}
reqs() { cat "$tmp/http.log"; : >"$tmp/http.log"; }

printf 'serial_no;name;info;access_criteria;pair;start;finish\n2100000001;Alice;flat 1;00000011;0;1735689600;1767225599\n2100000002;Bob;;00000012;1;1735689600;1767225599\n' >"$tmp/www/billing.csv"
touch -d @1735600000 "$tmp/www/billing.csv"
billing "$url/files/billing.csv"
: >"$tmp/http.log"
cron "$tmp/billing.conf"
expect_rc 0 "run pulling billing.url (HTTP 200)"
summary "billing=imported rows=2 added=0 updated=2 expired=1 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=0"
err_line "cascron: info: billing $url/files/billing.csv: imported 2 rows, operator layout (0 added, 2 updated, 0 unchanged) in $(sed -n 's/.*billing.csv: imported.* in \([0-9.]*\) s$/\1/p' "$tmp/err") s"
err_line "cascron: info: card 2100000003 expired"
check "billing rows applied" "SELECT group_concat(printf('%08X', access_criteria), ' ') FROM (SELECT * FROM cards WHERE serial_no < 2100000003 ORDER BY serial_no)" "00000011 00000012"
[ "$(reqs)" = "GET /files/billing.csv 200 If-None-Match=- If-Modified-Since=-" ] && ok "first request unconditional" \
  || bad "requests: $(cat "$tmp/http.log")"
etag=\"$(sha256sum "$tmp/www/billing.csv" | cut -c1-16)\"
lm=$(LC_ALL=C date -u -d @1735600000 "+%a, %d %b %Y %H:%M:%S GMT")

# unchanged: 304 through If-None-Match, nothing imported
dump >"$tmp/before.sql"
cron "$tmp/billing.conf"
expect_rc 0 "run with an unchanged billing file"
summary "billing=not-modified expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=0"
[ ! -s "$tmp/err" ] && ok "quiet" || { bad "stderr:"; cat "$tmp/err"; }
got=$(reqs)
[ "$got" = "GET /files/billing.csv 304 If-None-Match=$etag If-Modified-Since=$lm" ] && ok "conditional request: $got" \
  || bad "requests: $got (want ETag $etag, date $lm)"
dump >"$tmp/after.sql"
cmp -s "$tmp/before.sql" "$tmp/after.sql" && ok "nothing written on 304" || bad "database changed on 304"

# a server that only knows If-Modified-Since
q "UPDATE settings SET value = replace(value, 'etag $etag', 'etag ') WHERE key LIKE 'cascron.source.%'"
cron "$tmp/billing.conf"
summary "billing=not-modified expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=0"
[ "$(reqs)" = "GET /files/billing.csv 304 If-None-Match=- If-Modified-Since=$lm" ] && ok "If-Modified-Since alone gives 304" \
  || bad "requests: $(cat "$tmp/http.log")"

# the file changes: 200, imported
printf 'serial_no;name;info;access_criteria;pair;start;finish\n2100000001;Alice;flat 1;00000021;0;1735689600;1767225599\n' >"$tmp/www/billing.csv"
cron "$tmp/billing.conf"
summary "billing=imported rows=1 added=0 updated=1 expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=0"
check "new billing row applied" "SELECT access_criteria FROM cards WHERE serial_no = 2100000001" "33"
[ "$(cut -d' ' -f3 "$tmp/http.log")" = 200 ] && ok "changed file fetched (200)" || bad "requests: $(cat "$tmp/http.log")"
: >"$tmp/http.log"

# no validators: the body's hash says it is the same
billing "$url/plain/billing.csv"
cron "$tmp/billing.conf"
summary "billing=imported rows=1 added=0 updated=0 expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=0"
cron "$tmp/billing.conf"
summary "billing=unchanged expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=0"
[ ! -s "$tmp/err" ] && ok "an unchanged body is not imported twice, quietly" || { bad "stderr:"; cat "$tmp/err"; }
: >"$tmp/http.log"

# failures: the other jobs still run; the exit status says what failed
q "UPDATE cards SET finish = $((T0 - 1)) WHERE serial_no = 2100000002"
billing "$url/files/missing.csv"
cron "$tmp/billing.conf"
expect_rc 111 "billing.url answers 404"
summary "billing=failed expired=1 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=111"
cat >"$tmp/want" <<EOF
cascron: error: billing $url/files/missing.csv: unable to fetch: HTTP 404 Not Found (expected 200); nothing imported
cascron: info: card 2100000002 expired
EOF
err_is "$tmp/want"

billing "$url/stall"
start=$(date +%s)
cron "$tmp/billing.conf"
took=$(( $(date +%s) - start ))
expect_rc 111 "billing.url never answers"
summary "billing=failed expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=111"
grep -Eqx "cascron: error: billing $url/stall: unable to fetch: Operation timed out after 1[0-9]{3} milliseconds with 0 bytes received; nothing imported" "$tmp/err" \
  && ok "timeout after billing.timeout = 1 s" || { bad "timeout message:"; cat "$tmp/err"; }
[ $took -le 3 ] && ok "the stalled pull took ${took} s" || bad "the stalled pull took $took s"

cp "$tmp/www/admin.csv" "$tmp/www/big.csv"
dump >"$tmp/before.sql"
billing "$url/truncated/big.csv" "billing.layout = admin"
cron "$tmp/billing.conf"
expect_rc 111 "truncated body"
err_line "cascron: error: billing $url/truncated/big.csv: unable to fetch: transfer closed with 100 bytes remaining to read; nothing imported"
billing "$url/chunked-cut/big.csv" "billing.layout = admin"
cron "$tmp/billing.conf"
expect_rc 111 "chunked body cut before its end"
err_line "cascron: error: billing $url/chunked-cut/big.csv: unable to fetch: transfer closed with outstanding read data remaining; nothing imported"
dump >"$tmp/after.sql"
cmp -s "$tmp/before.sql" "$tmp/after.sql" && ok "nothing imported from cut bodies" || bad "database changed by a cut body"

# a bad row over HTTP: exit 2, nothing written, tried again next run
billing "$url/files/bad.csv"
cron "$tmp/billing.conf"
expect_rc 2 "billing CSV with a bad row"
summary "billing=rejected errors=1 expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=2"
err_line "cascron: error: billing $url/files/bad.csv: line 3: access_criteria: must be exactly 8 hex digits"
err_line "cascron: error: billing $url/files/bad.csv: rejected (1 error), nothing imported"
cron "$tmp/billing.conf"
expect_rc 2 "the rejected CSV is checked again on the next run"
: >"$tmp/http.log"

# redirects: followed up to 5, never to file://
billing "$url/redirect/4/billing.csv"
cron "$tmp/billing.conf"
expect_rc 0 "4 redirects followed"
billing "$url/redirect/9/billing.csv"
cron "$tmp/billing.conf"
expect_rc 111 "too many redirects"
err_line "cascron: error: billing $url/redirect/9/billing.csv: unable to fetch: Maximum (5) redirects followed; nothing imported"
billing "$url/to-file"
cron "$tmp/billing.conf"
expect_rc 111 "redirect to file:// refused"
grep -q "^cascron: error: billing $url/to-file: unable to fetch: .*file.*; nothing imported$" "$tmp/err" \
  && ok "redirect to file:// refused: $(cat "$tmp/err")" || { bad "redirect to file:"; cat "$tmp/err"; }
grep -q root: "$tmp/err" && bad "file:///etc/passwd read"

# credentials and query strings stay out of the log and out of -n
billing "http://billuser:hunter2@127.0.0.1:$port/files/missing.csv?token=s3cr3t"
cron "$tmp/billing.conf"
err_line "cascron: error: billing http://billuser:***@127.0.0.1:$port/files/missing.csv?***: unable to fetch: HTTP 404 Not Found (expected 200); nothing imported"
"$bin/cascron" -n -f "$tmp/billing.conf" >>"$tmp/err" 2>&1
if grep -q "hunter2\|s3cr3t" "$tmp/err"; then bad "a secret of billing.url was printed"; else ok "billing.url secrets not printed"; fi

# HTTPS: TLS verification is on, a self-signed certificate is refused
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 \
     -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1; then
  start_server "$tmp/sport" "$tmp/https.log" "$tmp/cert.pem" "$tmp/key.pem"
  srvs=$last
  billing "https://127.0.0.1:$(cat "$tmp/sport")/files/billing.csv"
  cron "$tmp/billing.conf"
  expect_rc 111 "self-signed certificate"
  grep -q "unable to fetch: SSL certificate problem: self.signed certificate; nothing imported$" "$tmp/err" \
    && ok "certificate refused: $(cat "$tmp/err")" || { bad "TLS:"; cat "$tmp/err"; }
  [ ! -s "$tmp/https.log" ] && ok "no request sent over the unverified connection" || bad "request sent: $(cat "$tmp/https.log")"
  # the same certificate trusted through billing.ca_file: the pull works
  billing "https://127.0.0.1:$(cat "$tmp/sport")/files/billing.csv" "billing.ca_file = $tmp/cert.pem"
  cron "$tmp/billing.conf"
  expect_rc 0 "HTTPS pull with billing.ca_file"
  summary "billing=imported rows=1 added=0 updated=0 expired=0 renewed=0 unblocked=0 audit_removed=0 backup=off time=T exit=0"
  [ "$(cut -d' ' -f1-3 "$tmp/https.log")" = "GET /files/billing.csv 200" ] && ok "fetched over verified TLS" \
    || bad "https requests: $(cat "$tmp/https.log")"
else
  bad "openssl could not make a test certificate"
fi

# ---- two runs at once: the second does nothing, says who holds the lock ----
billing "$url/stall" "" 2
: >"$tmp/http.log"
"$bin/cascron" -f "$tmp/billing.conf" --now $T0 >"$tmp/out1" 2>"$tmp/err1" &
bg=$!
i=0; while ! grep -q "^GET /stall" "$tmp/http.log" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
audit_before=$(q "SELECT count(*) FROM audit")
cron "$tmp/billing.conf"
expect_rc 2 "second run while the first is pulling"
echo "cascron: warning: another cascron run (pid $bg) holds $db.cron.lock; this one does nothing" >"$tmp/want"
err_is "$tmp/want"
wait $bg; rc=$?; bg=
expect_rc 111 "the first run ends with its timeout"
grep -q "^cascron: summary: billing=failed expired=0" "$tmp/out1" && ok "the first run finished its other jobs" \
  || bad "first run: $(cat "$tmp/out1" "$tmp/err1")"
billing "$url/files/billing.csv"
cron "$tmp/billing.conf"
expect_rc 0 "a run after both"

echo "cascron_import: $fails failure(s)"
[ "$fails" -eq 0 ]
