#!/bin/sh
# Runs every integration test script in test/it/ with BUILD set to the build
# folder (binaries in $BUILD/bin).  Each script exits 0 on success and prints
# what it checked.  Usage: run-it.sh BUILD SCRIPT...
set -u
build=$1; shift
export BUILD="$build" TOP="$(pwd)"
pass=0; fail=0; failed=""
for s in "$@"; do
  name=$(basename "$s" .sh)
  log="$build/it-$name.log"
  start=$(date +%s)
  if timeout 600 sh "$s" >"$log" 2>&1; then
    pass=$((pass + 1)); echo "it: $name ok ($(( $(date +%s) - start ))s)"
  else
    fail=$((fail + 1)); failed="$failed $name"
    echo "it: $name FAILED; last lines of $log:"; tail -n 40 "$log"
  fi
done
echo "integration ($build): $pass passed, $fail failed"
echo "$pass $fail" >"$build/results-it"
[ $fail -eq 0 ]
