#!/bin/sh
# Runs every benchmark: test/bench/*.sh scripts and $BUILD/bench/* programs.
set -u
build=$1
export BUILD="$build" TOP="$(pwd)"
rc=0
for b in "$build"/bench/*; do
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
