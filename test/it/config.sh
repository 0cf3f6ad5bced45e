#!/bin/sh
# The configuration contract, through the real programs: the sample
# contrib/cas.conf is valid for every program and documents every key (as
# does cas.conf(5)); -n reports errors as "file:line: reason" and exit 1.
set -eu
: "${BUILD:=build}"
bin=$BUILD/bin
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for p in ecmgd emmgd casapid cascron casprog; do
  "$bin/$p" -n -f contrib/cas.conf >"$t/$p.out" 2>"$t/$p.err" || fail "$p -n rejects contrib/cas.conf: $(cat "$t/$p.err")"
  head -n 1 "$t/$p.out" | grep -qx "# $p: configuration contrib/cas.conf is valid" || fail "$p -n header"
  "$bin/$p" --help >"$t/help" || fail "$p --help exit code"
  grep -q "^usage: $p" "$t/help" || fail "$p --help text"
done

# Every key the programs know is in the sample and in the man page.
keys=$(sed -n 's/^# \([a-z_.]*\) is not set$/\1/p; s/^\([a-z_.]*\) = .*/\1/p' "$t/ecmgd.out")
n=0
for k in $keys; do
  n=$((n + 1))
  grep -Eq "^#?$k = " contrib/cas.conf || fail "key $k missing from contrib/cas.conf"
  grep -q "^\.B $k\$" doc/cas.conf.5 || fail "key $k missing from doc/cas.conf.5"
done
[ "$n" -ge 40 ] || fail "only $n keys listed by -n"
echo "ok: $n keys documented in contrib/cas.conf and cas.conf(5)"

# Errors name file, line and reason; exit code 1.
printf 'db = %s/x.db\nemmg.bandwith = 64\n' "$t" >"$t/typo.conf"
set +e
"$bin/emmgd" -n -f "$t/typo.conf" >/dev/null 2>"$t/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "typo: exit $rc, want 1"
grep -qx "emmgd: fatal: $t/typo.conf:2: unknown key 'emmg.bandwith'" "$t/err" || fail "typo message: $(cat "$t/err")"

printf '# comment\n\necmg.delay_start = 40000\n' >"$t/range.conf"
set +e
"$bin/ecmgd" -n -f "$t/range.conf" >/dev/null 2>"$t/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "range: exit $rc"
grep -qx "ecmgd: fatal: $t/range.conf:3: ecmg.delay_start: value out of range -32768..32767" "$t/err" || fail "range message: $(cat "$t/err")"

# Secrets are masked by -n.
printf 'api.key = topsecretvalue\n' >"$t/secret.conf"
"$bin/casapid" -n -f "$t/secret.conf" >"$t/out"
grep -q topsecretvalue "$t/out" && fail "api.key printed by -n"
grep -qx "api.key = (secret, 14 characters)" "$t/out" || fail "masked api.key line"

# CAS_CONF names the file when -f is absent; usage errors exit 100.
CAS_CONF="$t/range.conf" "$bin/cascron" -n >/dev/null 2>&1 && fail "CAS_CONF not used"
set +e
"$bin/casprog" -f >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 100 ] || fail "-f without a file: exit $rc, want 100"
echo "ok: -n errors, masking, CAS_CONF, usage exit codes"
