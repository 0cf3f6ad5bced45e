# Shared by the test/it/emmgd_*.sh scripts (sourced, not run): a temporary
# folder with a configuration and a database, the MUX simulator
# (build/bin/mux_sim), emmgd with its readiness fd, bounded waits.
: "${BUILD:=build}"
bin=$BUILD/bin
T=$(mktemp -d /tmp/it-emmgd.XXXXXX)
fails=0
SIM_PID=""
EMMGD_PID=""
cleanup() {
  [ -n "$EMMGD_PID" ] && kill -KILL "$EMMGD_PID" 2>/dev/null
  [ -n "$SIM_PID" ] && kill -KILL "$SIM_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
finish() {
  echo "$(basename "$0" .sh): $fails failure(s)"
  [ "$fails" -eq 0 ]
  exit $?
}

# write_conf [extra lines...]: $T/cas.conf for emmgd, cardtool and mux_sim
write_conf() {
  {
    echo "db = $T/cas.db"
    echo "master_key = $T/master.key"
    echo "emmg.mux = 127.0.0.1:${PORT:-1}"
    case "$*" in *emmg.timeout*) ;; *) echo "emmg.timeout = 2";; esac
    case "$*" in *emmg.min_cycle*) ;; *) echo "emmg.min_cycle = 0";; esac
    for l in "$@"; do echo "$l"; done
  } >"$T/cas.conf"
}

# start_sim [mux_sim options]: sets PORT, SIM_PID; output in $T/sim.out
start_sim() {
  rm -f "$T/port"
  "$bin/mux_sim" -c "$T/cas.conf" -P "$T/port" -o "$T/emm.log" "$@" >"$T/sim.out" 2>&1 &
  SIM_PID=$!
  i=0
  while [ ! -s "$T/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  PORT=$(cat "$T/port" 2>/dev/null)
  [ -n "$PORT" ] || { bad "mux_sim did not start"; cat "$T/sim.out"; finish; }
}

# start_emmgd: emmgd in the background; waits (5 s at most) for readiness
start_emmgd() {
  rm -f "$T/ready"
  mkfifo "$T/ready"
  "$bin/emmgd" -f "$T/cas.conf" -r 3 3>"$T/ready" 2>"$T/emmgd.err" &
  EMMGD_PID=$!
  if timeout 5 head -n 1 "$T/ready" >/dev/null; then ok "emmgd ready (stream set up)"; else
    bad "emmgd not ready within 5 s"; cat "$T/emmgd.err"; fi
}

# stop_emmgd: SIGTERM, then emmgd must exit 0 within 5 s
stop_emmgd() {
  kill -TERM "$EMMGD_PID"
  i=0
  while kill -0 "$EMMGD_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$EMMGD_PID" 2>/dev/null; then bad "emmgd still running 5 s after SIGTERM"; kill -KILL "$EMMGD_PID"; fi
  wait "$EMMGD_PID"; rc=$?
  [ $rc -eq 0 ] && ok "emmgd exited 0 after SIGTERM" || bad "emmgd exit $rc after SIGTERM"
  EMMGD_PID=""
}

# wait_sim: waits for mux_sim to end (its -d or -x), at most $1 s
wait_sim() {
  i=0
  while kill -0 "$SIM_PID" 2>/dev/null && [ $i -lt $(($1 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  kill -0 "$SIM_PID" 2>/dev/null && { bad "mux_sim still running"; kill -KILL "$SIM_PID"; }
  wait "$SIM_PID"; SIM_RC=$?
  SIM_PID=""
}

# sim VALUE: a field of the simulator's summary line
sim() { sed -n "s/^summary: .* $1=\([^ ]*\).*/\1/p; s/^summary: $1=\([^ ]*\).*/\1/p" "$T/sim.out" | head -n 1; }

cardtool() { "$bin/cardtool" -c "$T/cas.conf" "$@"; }
