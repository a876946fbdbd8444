# shellcheck shell=bash
# lib.sh: the harness of receta's integration tests, sourced by every
# tests/integration/*_test.sh. It starts the real binaries on 127.0.0.1 with
# ephemeral ports, each in its own session, inside one temporary directory,
# and on exit kills every process it started (with their process groups and
# sessions, so step commands die too) and removes that directory.
#
# Environment: RECETA_BIN_DIR (the build directory, required),
# RECETA_SOURCE_DIR (the checkout; default: two levels up), RECETA_IT_KEEP=1
# keeps the temporary directory for a post-mortem.
#
# Conventions: wait on conditions with deadlines (wait_for), never sleep for
# correctness; every failure says what was expected, what was seen, and dumps
# the daemons' log tails and the scheduler's view of the run.

set -euo pipefail

IT_BIN="${RECETA_BIN_DIR:?set RECETA_BIN_DIR to the build directory}"
# shellcheck disable=SC2034  # used by the tests that source this file
IT_SRC="${RECETA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
RECETA="$IT_BIN/cli/receta"
RECETA_SCHEDULER_BIN="$IT_BIN/scheduler/receta-scheduler"
RECETA_WORKER_BIN="$IT_BIN/worker/receta-worker"
IT_NAME="$(basename "${0%.sh}")"

for exe in "$RECETA" "$RECETA_SCHEDULER_BIN" "$RECETA_WORKER_BIN"; do
  if [ ! -x "$exe" ]; then
    echo "$IT_NAME: FAIL: $exe is missing; build it first (ninja -C $IT_BIN)" >&2
    exit 1
  fi
done
command -v python3 >/dev/null || { echo "$IT_NAME: FAIL: python3 is required" >&2; exit 1; }

T="$(mktemp -d "${TMPDIR:-/tmp}/receta-it-${IT_NAME}.XXXXXX")"
mkdir -p "$T/logs" "$T/workers" "$T/out"
export HOME="$T/home"  # Why: no test reads or writes the user's real ~/.receta or caches.
mkdir -p "$HOME"
# Why: the CLI falls back to ./.receta/scheduler.endpoint; a test must never
# reach a scheduler it did not start, so every command runs from the temp dir.
cd "$T"
unset RECETA_SCHEDULER

IT_PIDS=()                # every daemon started, in order; each leads its own session,
                          # swept at exit even after it stopped (its leftovers die too)
declare -A WORKER_PID=()  # worker name -> pid
SCHED_PID=""
SCHED_DATA="$T/scheduler"
SCHED_ENDPOINT=""
LAST_RUN=""               # the run the diagnostics describe
IT_START_NS=$(date +%s%N)

# ---------------------------------------------------------------- teardown

# Kills pid's whole session (it was started with setsid, so its session id
# is its pid): the daemon, its process group, and the step commands it
# started in process groups of their own.
_kill_session() {
  local sid=$1 signal=$2 pids
  pids=$(ps -e -o pid=,sid= 2>/dev/null | awk -v s="$sid" '$2 == s { print $1 }')
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -s "$signal" $pids 2>/dev/null || true
}

_alive() { kill -0 "$1" 2>/dev/null; }

_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  local pid
  for pid in "${IT_PIDS[@]}"; do _kill_session "$pid" TERM; done
  local deadline=$(($(date +%s%N) + 3000000000))
  for pid in "${IT_PIDS[@]}"; do
    while _alive "$pid" && [ "$(date +%s%N)" -lt "$deadline" ]; do sleep 0.05; done
  done
  for pid in "${IT_PIDS[@]}"; do _kill_session "$pid" KILL; done
  for pid in "${IT_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  local elapsed_ms=$((($(date +%s%N) - IT_START_NS) / 1000000))
  if [ "$rc" -eq 0 ]; then
    echo "$IT_NAME: PASS (${elapsed_ms} ms)"
  else
    echo "$IT_NAME: FAIL (exit $rc after ${elapsed_ms} ms)" >&2
  fi
  if [ "${RECETA_IT_KEEP:-0}" = 1 ]; then
    echo "$IT_NAME: kept $T" >&2
  else
    rm -rf "$T"
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------- diagnostics

diagnostics() {
  set +e
  echo "----- diagnostics ($IT_NAME, temp dir $T) -----" >&2
  local log
  for log in "$T"/logs/*.log; do
    [ -f "$log" ] || continue
    echo "--- tail of $(basename "$log")" >&2
    tail -n 25 "$log" >&2
  done
  if [ -n "$SCHED_PID" ] && _alive "$SCHED_PID"; then
    if [ -n "$LAST_RUN" ]; then
      echo "--- receta status $LAST_RUN --json" >&2
      timeout 5 "$RECETA" status "$LAST_RUN" --json >&2 2>&1
    fi
    echo "--- receta runs --json" >&2
    timeout 5 "$RECETA" runs --json 2>&1 | head -c 4000 >&2
    echo "--- receta workers --json" >&2
    timeout 5 "$RECETA" workers --json >&2 2>&1
  else
    echo "--- the scheduler is not running" >&2
  fi
  echo "----- end of diagnostics -----" >&2
}

# fail MESSAGE...: prints the message and the diagnostics, ends the test.
fail() {
  echo "$IT_NAME: FAIL: $*" >&2
  diagnostics
  exit 1
}

# ------------------------------------------------------------------ waiting

# wait_for "description" DEADLINE_S COMMAND...: runs COMMAND (quietly) every
# 50 ms until it succeeds; fails the test with the description after
# DEADLINE_S seconds (a decimal such as 0.5 is fine).
wait_for() {
  local description=$1 deadline_s=$2
  shift 2
  local deadline_ns
  deadline_ns=$(python3 -c 'import sys; print(int(float(sys.argv[1]) * 1e9))' "$deadline_s")
  deadline_ns=$(($(date +%s%N) + deadline_ns))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ "$(date +%s%N)" -ge "$deadline_ns" ]; then
      fail "timed out after ${deadline_s}s waiting for: $description (last try: $*)"
    fi
    sleep 0.05
  done
}

# ------------------------------------------------------------------- JSON

# jpy EXPR: reads JSON on stdin as `d` and prints the Python expression EXPR:
# strings raw, booleans as true/false, None as null, lists and dicts as JSON.
# Example: receta status "$run" --json | jpy 'd["state"]'
jpy() {
  python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d, "json": json})
if isinstance(v, str): print(v)
elif isinstance(v, bool): print("true" if v else "false")
elif v is None: print("null")
elif isinstance(v, (list, dict)): print(json.dumps(v, sort_keys=True))
else: print(v)
' "$1"
}

# status_json RUN: the run's status document (fails the test if unavailable).
status_json() {
  local out
  out=$("$RECETA" status "$1" --json 2>"$T/out/status.err") ||
    fail "receta status $1 --json failed: $(cat "$T/out/status.err")"
  printf '%s\n' "$out"
}

# run_field RUN FIELD: a top-level field of the run's status.
run_field() { status_json "$1" | jpy "d.get('$2')"; }

# step_field RUN STEP FIELD: one field of one step (null if absent).
step_field() {
  status_json "$1" | jpy "next((s.get('$3') for s in d['steps'] if s['name'] == '$2'), 'NO-SUCH-STEP')"
}

# step_states RUN: "name=state" for every step, sorted, space-separated.
step_states() {
  status_json "$1" | jpy "' '.join(sorted(s['name'] + '=' + s['state'] for s in d['steps']))"
}

# steps_in_state RUN STATE: the names of the steps in STATE, sorted, space-separated.
steps_in_state() {
  status_json "$1" | jpy "' '.join(sorted(s['name'] for s in d['steps'] if s['state'] == '$2'))"
}

# run_state RUN: running, succeeded, failed or cancelled.
run_state() { run_field "$1" state; }

# run_finished RUN: succeeds once the run has left "running".
run_finished() {
  local state
  state=$("$RECETA" status "$1" --json 2>/dev/null | jpy "d['state']") || return 1
  [ -n "$state" ] && [ "$state" != running ]
}

# ------------------------------------------------------------------ asserts

# assert_eq "what" EXPECTED ACTUAL
assert_eq() {
  [ "$2" == "$3" ] || fail "$1: expected [$2], got [$3]"
}

# assert_ne "what" UNEXPECTED ACTUAL
assert_ne() {
  [ "$2" != "$3" ] || fail "$1: expected anything but [$2]"
}

# assert_contains "what" HAYSTACK NEEDLE
assert_contains() {
  case "$2" in
    *"$3"*) ;;
    *) fail "$1: expected text containing [$3], got [$2]" ;;
  esac
}

# assert_not_contains "what" HAYSTACK NEEDLE
assert_not_contains() {
  case "$2" in
    *"$3"*) fail "$1: expected text without [$3], got [$2]" ;;
    *) ;;
  esac
}

# assert_file_eq "what" FILE EXPECTED_CONTENT
assert_file_eq() {
  [ -f "$2" ] || fail "$1: file $2 does not exist"
  assert_eq "$1" "$3" "$(cat "$2")"
}

# run_cmd COMMAND...: runs COMMAND, keeping its stdout in $T/out/stdout (and
# $OUT), stderr in $T/out/stderr (and $ERR), exit code in $RC. Never fails.
run_cmd() {
  set +e
  "$@" >"$T/out/stdout" 2>"$T/out/stderr"
  RC=$?
  set -e
  OUT=$(cat "$T/out/stdout")
  ERR=$(cat "$T/out/stderr")
}

# expect_exit CODE COMMAND...: run_cmd, then asserts the exit code.
expect_exit() {
  local want=$1
  shift
  run_cmd "$@"
  [ "$RC" -eq "$want" ] ||
    fail "'$*' exited $RC, expected $want; stdout: [$OUT]; stderr: [$ERR]"
}

# ------------------------------------------------------------- the daemons

_sched_log() { echo "$T/logs/scheduler.log"; }

# start_scheduler [FLAGS...]: starts receta-scheduler with its data in
# $SCHED_DATA, listening on SCHED_LISTEN (default tcp://127.0.0.1:*, a free
# port), waits (10 s) for it to publish its endpoint, and exports
# RECETA_SCHEDULER. The log is $T/logs/scheduler.log (appended across restarts).
# shellcheck disable=SC2120  # callers may pass flags
start_scheduler() {
  local listen=${SCHED_LISTEN:-tcp://127.0.0.1:*}
  mkdir -p "$SCHED_DATA"
  # Why: a scheduler killed with SIGKILL leaves its endpoint file behind.
  rm -f "$SCHED_DATA/scheduler.endpoint"
  echo "===== start_scheduler $(date +%T.%N) =====" >>"$(_sched_log)"
  setsid "$RECETA_SCHEDULER_BIN" --data-dir "$SCHED_DATA" --listen "$listen" "$@" \
    >>"$(_sched_log)" 2>&1 </dev/null &
  SCHED_PID=$!
  IT_PIDS+=("$SCHED_PID")
  local deadline=$(($(date +%s%N) + 10000000000))
  while [ ! -s "$SCHED_DATA/scheduler.endpoint" ]; do
    _alive "$SCHED_PID" || fail "receta-scheduler exited before publishing its endpoint"
    [ "$(date +%s%N)" -lt "$deadline" ] ||
      fail "receta-scheduler did not write $SCHED_DATA/scheduler.endpoint within 10 s"
    sleep 0.05
  done
  SCHED_ENDPOINT=$(head -n 1 "$SCHED_DATA/scheduler.endpoint")
  case "$SCHED_ENDPOINT" in
    tcp://127.0.0.1:[0-9]*) ;;
    *) fail "scheduler.endpoint holds [$SCHED_ENDPOINT], expected tcp://127.0.0.1:PORT" ;;
  esac
  export RECETA_SCHEDULER="$SCHED_ENDPOINT"
  wait_for "the scheduler answers 'receta runs'" 10 "$RECETA" runs --json
}

# stop_scheduler: SIGTERM, then waits (10 s) for a clean exit (status 0) and
# for the endpoint file to be removed.
stop_scheduler() {
  [ -n "$SCHED_PID" ] || fail "stop_scheduler: no scheduler is running"
  kill -TERM "$SCHED_PID"
  local rc=0
  _wait_exit "$SCHED_PID" 10 || fail "receta-scheduler did not exit within 10 s of SIGTERM"
  wait "$SCHED_PID" || rc=$?
  [ "$rc" -eq 0 ] || fail "receta-scheduler exited $rc after SIGTERM, expected 0"
  [ ! -e "$SCHED_DATA/scheduler.endpoint" ] ||
    fail "receta-scheduler left $SCHED_DATA/scheduler.endpoint behind after a clean exit"
  SCHED_PID=""
}

# kill_scheduler: SIGKILL (a crash), and waits for it to be gone.
kill_scheduler() {
  _kill_session "$SCHED_PID" KILL
  wait "$SCHED_PID" 2>/dev/null || true
  SCHED_PID=""
}

# restart_scheduler: stop_scheduler, then start it again on the same
# endpoint (so the workers, which know that endpoint, find it again).
restart_scheduler() {
  local endpoint=$SCHED_ENDPOINT
  stop_scheduler
  # shellcheck disable=SC2119
  SCHED_LISTEN=$endpoint start_scheduler
  assert_eq "endpoint after restart" "$endpoint" "$SCHED_ENDPOINT"
}

# _wait_exit PID SECONDS: waits for PID to exit; returns 1 on timeout.
_wait_exit() {
  local deadline=$(($(date +%s%N) + $2 * 1000000000))
  while _alive "$1"; do
    # A zombie child counts as exited: `wait` reaps it.
    if [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; then return 0; fi
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# worker_field NAME FIELD: a field of the worker called NAME in `workers --json`.
worker_field() {
  "$RECETA" workers --json | jpy "next((w.get('$2') for w in d if w['name'] == '$1'), None)"
}

# worker_connected NAME: succeeds when the scheduler lists NAME as connected.
worker_connected() { [ "$(worker_field "$1" connected)" = true ]; }

# start_worker NAME [FLAGS...]: starts receta-worker NAME with its own work
# dir ($T/workers/NAME) and waits (10 s) until the scheduler lists it as
# connected. FLAGS go to the worker (--slots, --labels, ...).
start_worker() {
  local name=$1
  shift
  [ -n "$SCHED_ENDPOINT" ] || fail "start_worker $name: start the scheduler first"
  mkdir -p "$T/workers/$name"
  echo "===== start_worker $name $(date +%T.%N) =====" >>"$T/logs/worker-$name.log"
  setsid "$RECETA_WORKER_BIN" --scheduler "$SCHED_ENDPOINT" --work-dir "$T/workers/$name" \
    --name "$name" "$@" >>"$T/logs/worker-$name.log" 2>&1 </dev/null &
  WORKER_PID[$name]=$!
  IT_PIDS+=("$!")
  wait_for "worker '$name' registers with the scheduler" 10 worker_connected "$name"
}

# stop_worker NAME: SIGTERM and waits (10 s) for it to exit.
stop_worker() {
  local pid=${WORKER_PID[$1]:?no worker named $1}
  kill -TERM "$pid"
  _wait_exit "$pid" 10 || fail "worker $1 did not exit within 10 s of SIGTERM"
  wait "$pid" 2>/dev/null || true
  unset "WORKER_PID[$1]"
}

# kill_worker NAME: SIGKILL the worker and every process of its session.
kill_worker() {
  local pid=${WORKER_PID[$1]:?no worker named $1}
  _kill_session "$pid" KILL
  wait "$pid" 2>/dev/null || true
  unset "WORKER_PID[$1]"
}

# ---------------------------------------------------------------- runs

# submit DAG [ARGS...]: `receta submit` (no wait); sets RUN to the new run's
# id (the newest run) and checks that submit printed it.
submit() {
  local before
  before=$("$RECETA" runs --json | jpy "d[0]['id'] if d else ''")
  expect_exit 0 "$RECETA" submit "$@"
  RUN=$("$RECETA" runs --json | jpy "d[0]['id'] if d else ''")
  if [ -z "$RUN" ] || [ "$RUN" = "$before" ]; then
    fail "receta submit $* created no run; stdout: [$OUT]"
  fi
  assert_contains "receta submit prints the run id" "$OUT" "$RUN"
  LAST_RUN=$RUN
}

# submit_wait EXPECTED_EXIT DAG [ARGS...]: `receta submit --wait`; asserts its
# exit code (0 only for a run that succeeded) and sets RUN to the run's id.
# The run must end within SUBMIT_TIMEOUT_S (default 60) seconds.
submit_wait() {
  local want=$1
  shift
  local before
  before=$("$RECETA" runs --json | jpy "d[0]['id'] if d else ''")
  run_cmd timeout "${SUBMIT_TIMEOUT_S:-60}" "$RECETA" submit --wait "$@"
  RUN=$("$RECETA" runs --json | jpy "d[0]['id'] if d else ''")
  if [ -n "$RUN" ] && [ "$RUN" != "$before" ]; then LAST_RUN=$RUN; else RUN=""; fi
  [ "$RC" -ne 124 ] || fail "receta submit --wait $* did not return within ${SUBMIT_TIMEOUT_S:-60} s"
  [ "$RC" -eq "$want" ] ||
    fail "receta submit --wait $* exited $RC, expected $want; stdout: [$OUT]; stderr: [$ERR]"
  [ -n "$RUN" ] || fail "receta submit --wait $* created no run; stdout: [$OUT]; stderr: [$ERR]"
  assert_contains "receta submit --wait prints the run id" "$OUT$ERR" "$RUN"
}

# ------------------------------------------------------------ step markers

# Every test DAG gets env MARK=$T/marks (outside the worker sandboxes) and
# its commands append their step name to $MARK/ran.log, so a test can tell
# exactly which commands executed.
MARK="$T/marks"
mkdir -p "$MARK"
: >"$MARK/ran.log"

# ran_since LINE: the sorted, space-separated, de-duplicated step names
# appended to ran.log after line LINE (take LINE from ran_count first).
ran_count() { wc -l <"$MARK/ran.log" | tr -d ' '; }
ran_since() { tail -n "+$(($1 + 1))" "$MARK/ran.log" | sort -u | tr '\n' ' ' | sed 's/ $//'; }

# digest_hex DIGEST: the hex part of "sha256:HEX" or of a bare HEX digest.
digest_hex() { printf '%s\n' "${1#sha256:}"; }

# sha256_of FILE: the hex SHA-256 of FILE.
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
