#!/usr/bin/env bash
# The demo: the iris pipeline (dags/iris) run for real on this machine. It
# starts a scheduler and two workers on loopback in the background (state and
# logs under .receta/), submits the pipeline and watches it to the end,
# submits it again to show the cached rerun, runs the hyperparameter sweep
# (dags/sweep) to show independent steps on both workers at once, and stops
# what it started, also on failure or Ctrl-C.
#
#   scripts/demo.sh [BUILD_DIR]     (default: build; ./quickstart.sh demo runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build_dir="${1:-build}"
receta="$repo/$build_dir/cli/receta"
scheduler_bin="$repo/$build_dir/scheduler/receta-scheduler"
worker_bin="$repo/$build_dir/worker/receta-worker"
dag=dags/iris/iris.yaml
sweep_dag=dags/sweep/sweep.yaml
state=.receta                       # the scheduler's data dir; the CLI finds it here
pids_file="$state/demo.pids"

if [ -t 1 ]; then bold=$'\033[1m' dim=$'\033[2m' plain=$'\033[0m'; else bold="" dim="" plain=""; fi
say() { printf '\n%s%s%s\n' "$bold" "$*" "$plain"; }
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
now_ns() { date +%s%N; }

for exe in "$receta" "$scheduler_bin" "$worker_bin"; do
  [ -x "$exe" ] || die "$exe is missing; build first (./quickstart.sh demo does)"
done
# Why: a python3 earlier in PATH (pyenv, a venv) may lack the Debian packages
# deploy/install-deps.sh installs for /usr/bin/python3; the steps need them.
if ! python3 -c 'import sklearn, numpy' 2>/dev/null; then
  if /usr/bin/python3 -c 'import sklearn, numpy' 2>/dev/null; then
    export PATH="/usr/bin:$PATH"
  else
    die "the iris pipeline needs python3-sklearn and python3-numpy; run deploy/install-deps.sh"
  fi
fi

# ------------------------------------------------ start and stop what we own

started=()  # pids of the daemons this script started (each leads its own session)

stop_all() {
  local pid deadline
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$(($(now_ns) + 5000000000))
  for pid in "${started[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$(now_ns)" -lt "$deadline" ]; do sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: pid $pid did not stop within 5 s of SIGTERM; killing its session" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  started=()
  rm -f "$pids_file"
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#started[@]} -gt 0 ]; then
    printf '\n%sstopping the scheduler and workers this demo started%s\n' "$dim" "$plain"
    stop_all
  fi
  if [ "$rc" -ne 0 ]; then
    echo "demo: failed (exit $rc); logs are in $state/*.log" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A demo killed with SIGKILL leaves its daemons behind: stop those first,
# checking that each pid still runs a receta daemon before signalling it.
if [ -f "$pids_file" ]; then
  while read -r pid; do
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "receta-"; then
      echo "demo: stopping pid $pid left running by an earlier demo"
      started+=("$pid")
    fi
  done <"$pids_file"
  stop_all
fi

mkdir -p "$state/workers"
launch() {  # launch LOG COMMAND...: in the background, in its own session
  local log=$1
  shift
  setsid "$@" >>"$log" 2>&1 </dev/null &
  started+=("$!")
  echo "$!" >>"$pids_file"
}

say "Starting a scheduler and two workers on loopback (logs in $state/)"
rm -f "$state/scheduler.endpoint"
launch "$state/scheduler.log" "$scheduler_bin" --data-dir "$state" --listen 'tcp://127.0.0.1:*'
deadline=$(($(now_ns) + 10000000000))
until [ -s "$state/scheduler.endpoint" ]; do
  kill -0 "${started[0]}" 2>/dev/null || die "the scheduler exited; see $state/scheduler.log: $(tail -n 5 "$state/scheduler.log")"
  [ "$(now_ns)" -lt "$deadline" ] || die "the scheduler did not start within 10 s; see $state/scheduler.log"
  sleep 0.05
done
endpoint=$(head -n 1 "$state/scheduler.endpoint")
echo "scheduler: $endpoint (data in $state/)"
for n in 1 2; do
  launch "$state/worker-$n.log" "$worker_bin" --scheduler "$endpoint" \
    --work-dir "$state/workers/worker-$n" --name "worker-$n"
done
# The CLI finds the scheduler through .receta/scheduler.endpoint; say it anyway.
export RECETA_SCHEDULER="$endpoint"
deadline=$(($(now_ns) + 10000000000))
until [ "$("$receta" workers --json 2>/dev/null |
  python3 -c 'import json, sys; print(sum(1 for w in json.load(sys.stdin) if w.get("connected")))' 2>/dev/null)" = 2 ]; do
  [ "$(now_ns)" -lt "$deadline" ] || die "the workers did not register within 10 s; see $state/worker-*.log"
  sleep 0.05
done
step "$receta" workers

# ---------------------------------------------------------------- the runs

newest_run() {
  "$receta" runs --json | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d[0]["id"] if d else "")'
}

say "Submitting the iris pipeline: prepare -> train -> evaluate (gate) -> deploy"
step "$receta" dag graph "$dag"
step "$receta" submit "$dag"
run1=$(newest_run)
[ -n "$run1" ] || die "receta submit created no run"
step "$receta" watch "$run1"
state1=$("$receta" status "$run1" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
[ "$state1" = succeeded ] || { "$receta" status "$run1" || true; die "run $run1 ended $state1"; }
step "$receta" status "$run1"
if "$receta" status "$run1" --json |
  python3 -c 'import json, sys; sys.exit(0 if any(s["state"] == "cached" for s in json.load(sys.stdin)["steps"]) else 1)'; then
  echo "(some steps were cached by an earlier demo; rm -rf $state to start from nothing)"
fi
step "$receta" artifacts ls "$run1" evaluate

say "Submitting it again: nothing changed, so every cached step is skipped"
start=$(now_ns)
step "$receta" submit --wait "$dag"
elapsed_ms=$((($(now_ns) - start) / 1000000))
run2=$(newest_run)
step "$receta" status "$run2"
printf '\n%sThe rerun took %d ms end to end, submit included.%s\n' "$bold" "$elapsed_ms" "$plain"
"$receta" status "$run2" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
cached = [s["name"] for s in d["steps"] if s["state"] == "cached"]
ran = [s["name"] for s in d["steps"] if s["state"] != "cached"]
print("cached: " + ", ".join(cached))
if ran:
    print("ran again: " + ", ".join(ran) + " (cache: false)")
'

# Why --no-cache: iris is a chain, so locality keeps it on one worker; the
# sweep's five train steps are independent and must really run (not come
# from an earlier demo's cache) for both workers to be seen busy at once.
say "A hyperparameter sweep: prepare -> 5 x train (independent) -> select (gate) -> deploy"
step "$receta" submit --no-cache "$sweep_dag"
run3=$(newest_run)
[ -n "$run3" ] || die "receta submit created no run"
step "$receta" watch "$run3"
"$receta" status "$run3" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print()
spans = []
for s in d["steps"]:
    for a in s["attempt_history"]:
        print("%-14s attempt %d on %-9s %5.1f s  %s" % (s["name"], a["number"], a["worker"], a["duration_ms"] / 1000, a["state"]))
        if a["started_ms"] and a["finished_ms"]:
            spans.append((a["started_ms"], a["finished_ms"], a["worker"]))
# The most workers busy at one moment. Why workers, not attempts: the
# span of an attempt runs until its outputs are uploaded, while the worker has
# already started its next step, so attempts overlap even on one slot.
busy = set()
for start, _, _ in spans:
    here = {w for s, f, w in spans if s <= start < f}
    if len(here) > len(busy):
        busy = here
print("\nsteps ran at the same time on %s" % " and ".join(sorted(busy)))
if d["state"] != "succeeded":
    sys.exit("run %s ended %s: %s" % (d["id"], d["state"], d["error"]))
'

say "Done"
cat <<EOF
The scheduler and workers stop now; runs, logs and the cache stay in $state/.
To run the pipeline yourself, start them in the background and submit:
  $build_dir/scheduler/receta-scheduler &      # data in ./.receta, tcp://127.0.0.1:7700
  $build_dir/worker/receta-worker --name w1 --work-dir .receta/workers/w1 &
  $build_dir/cli/receta submit $dag -p n_estimators=200 --wait
  $build_dir/cli/receta runs
EOF
