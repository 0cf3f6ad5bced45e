#!/bin/sh
# Runs every benchmark: the self-contained programs $BUILD/bench/bench_*
# (from test/bench/bench_*.c), then the test/bench/*.sh scripts, which drive
# the real daemons with the other test/bench/*.c helpers (load generators).
set -u
build=$1
export BUILD="$build" TOP="$(pwd)"
rc=0
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" || rc=1
done
for s in test/bench/*.sh; do
  [ -f "$s" ] || continue
  echo "== $(basename "$s" .sh)"
  sh "$s" || rc=1
done
exit $rc
