#!/bin/sh
# Runs every cmocka unit test binary; prints one summary line and fails if
# any test failed.  Usage: run-unit.sh BUILD BIN...
set -u
build=$1; shift
pass=0; fail=0; failed=""
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  n=$(printf '%s\n' "$out" | grep -c '^\[       OK \]')
  pass=$((pass + n))
  if [ $rc -ne 0 ]; then
    printf '%s\n' "$out" | grep -v '^\[       OK \]\|^\[ RUN      \]'
    f=$(printf '%s\n' "$out" | grep -c '^\[  FAILED  \] [a-z_]')
    [ "$f" -eq 0 ] && f=1
    fail=$((fail + f)); failed="$failed $(basename "$t")"
  fi
done
echo "unit ($build): $pass passed, $fail failed"
echo "$pass $fail" >"$build/results-unit"
[ $fail -eq 0 ] || { echo "unit: failing binaries:$failed"; exit 1; }
