# shellcheck shell=bash
# fault_lib.sh: helpers shared by the fault suite (tests/fault/*_test.sh),
# sourced after tests/integration/lib.sh, whose harness (daemons, waits,
# asserts, cleanup) they build on. Issue 4's scenarios kill, pause and
# restart the daemons mid-run; every test ends with check_run_invariants.

# The scheduler flags of the fault suite: workers are declared lost after 2 s
# of silence and an attempt unclaimed 3 s after a restart runs again, so a
# test sees a recovery within seconds instead of the 10 s defaults.
FAULT_SCHED_FLAGS=(--heartbeat-ms 200 --worker-timeout 2s --orphan-grace 3s)
FAULT_SCHED_ARGS=()  # the flags the running scheduler was started with (kept for restarts)

# fault_start_scheduler [FLAGS...]: start_scheduler with FAULT_SCHED_FLAGS and
# FLAGS. A flag this receta-scheduler does not know yet (it is missing from
# --help) is left out with a warning, so the scenario still runs and fails
# on the behaviour it checks rather than on the command line.
# shellcheck disable=SC2120  # callers may pass flags
fault_start_scheduler() {
  local help flag
  help=$("$RECETA_SCHEDULER_BIN" --help 2>&1)
  FAULT_SCHED_ARGS=()
  local args=("${FAULT_SCHED_FLAGS[@]}" "$@")
  local i=0
  while [ "$i" -lt "${#args[@]}" ]; do
    flag=${args[$i]}
    if [[ "$flag" == --* ]] && ! grep -q -- "$flag" <<<"$help"; then
      echo "$IT_NAME: WARNING: receta-scheduler has no $flag yet; starting it without '$flag ${args[$((i + 1))]}'" >&2
      i=$((i + 2))
      continue
    fi
    FAULT_SCHED_ARGS+=("$flag")
    i=$((i + 1))
  done
  start_scheduler "${FAULT_SCHED_ARGS[@]}"
}

# crash_scheduler: SIGKILL the scheduler (lib.sh's kill_scheduler) and start
# it again on the same data dir, endpoint and flags. Sets RESTARTED_NS to the
# time (date +%s%N) the new scheduler answered its first request.
crash_scheduler() {
  local endpoint=$SCHED_ENDPOINT
  kill_scheduler
  SCHED_LISTEN=$endpoint start_scheduler "${FAULT_SCHED_ARGS[@]}"
  assert_eq "endpoint after the crash" "$endpoint" "$SCHED_ENDPOINT"
  # shellcheck disable=SC2034  # used by the tests that source this file
  RESTARTED_NS=$(date +%s%N)
}

# kill9_worker_process NAME: SIGKILL only the worker's own process (not its
# session, as lib.sh's kill_worker does), so that whatever keeps its steps
# from outliving it is what the test sees working.
kill9_worker_process() {
  local pid=${WORKER_PID[$1]:?no worker named $1}
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  unset "WORKER_PID[$1]"
}

# worker_heard_since NAME MS: succeeds once the scheduler's last_heartbeat_ms
# of worker NAME is at least MS (epoch milliseconds). Messages of one worker
# are handled in order, so it proves that what the worker sent before MS was
# handled.
worker_heard_since() {
  local heard
  heard=$("$RECETA" workers --json 2>/dev/null | jpy "next((w['last_heartbeat_ms'] for w in d if w['name'] == '$1'), 0)") || return 1
  [ "$heard" -ge "$2" ]
}

# group_alive PGID: succeeds while a live (non-zombie) process is in process
# group PGID.
group_alive() {
  ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
group_gone() { ! group_alive "$1"; }

# group_processes PGID: "pid stat command" of the processes in group PGID.
group_processes() {
  ps -e -o pgid=,pid=,stat=,args= 2>/dev/null | awk -v g="$1" '$1 == g { $1 = ""; print }'
}

# wait_group_gone "what" PGID SECONDS: waits until no live process of group
# PGID is left; the failure lists the survivors.
wait_group_gone() {
  local what=$1 pgid=$2 seconds=$3
  local deadline=$(($(date +%s%N) + seconds * 1000000000))
  while group_alive "$pgid"; do
    if [ "$(date +%s%N)" -ge "$deadline" ]; then
      fail "$what: process group $pgid still has live processes ${seconds}s later: $(group_processes "$pgid" | tr '\n' ';')"
    fi
    sleep 0.05
  done
}

# ms_since NS: milliseconds from NS (date +%s%N) to now.
# True when the scheduler's CAS holds the blob DIGEST in either tier: a file
# under cas/ (big blobs), or a key in its RocksDB (small blobs, stored raw in
# the write-ahead log and table files; the digest is their key).
cas_holds() {
  local digest=$1
  [ -e "$SCHED_DATA/cas/${digest:0:2}/$digest" ] || grep -rqa -- "$digest" "$SCHED_DATA/db"
}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# events_json RUN: the run's whole event log as one JSON array (`receta
# events --json` prints one array per batch); RUN "" for every event (worker
# events such as worker_lost belong to no run).
events_json() {
  local out run_args=()
  [ -z "$1" ] || run_args=(--run "$1")
  out=$("$RECETA" events "${run_args[@]}" --json 2>"$T/out/events.err") ||
    fail "receta events ${run_args[*]} --json failed: $(cat "$T/out/events.err")"
  printf '%s\n' "$out" | python3 -c '
import json, sys
text, dec, pos, merged = sys.stdin.read(), json.JSONDecoder(), 0, []
while True:
    while pos < len(text) and text[pos].isspace(): pos += 1
    if pos >= len(text): break
    part, pos = dec.raw_decode(text, pos)
    merged.extend(part)
print(json.dumps(merged))'
}

# event_count RUN KIND [STEP]: how many events of KIND the run has (of STEP).
event_count() {
  events_json "$1" | jpy "len([e for e in d if e['kind'] == '$2' and ('${3:-}' == '' or e['step'] == '${3:-}')])"
}

# worker_event_count KIND WORKER: how many events of KIND name worker WORKER.
worker_event_count() {
  events_json "" | jpy "len([e for e in d if e['kind'] == '$1' and e['worker'] == '$2'])"
}
has_event() { [ "$(event_count "$@")" -gt 0 ]; }

# step_state_is RUN STEP STATE: succeeds when STEP is in STATE (quiet: for wait_for).
step_state_is() {
  local state
  state=$("$RECETA" status "$1" --json 2>/dev/null |
    jpy "next((s['state'] for s in d['steps'] if s['name'] == '$2'), '')") || return 1
  [ "$state" = "$3" ]
}

# attempts_of RUN STEP EXPR: evaluates EXPR with `a` bound to the step's
# attempt_history (a list), e.g. attempts_of r-1 train 'len(a)'.
attempts_of() {
  status_json "$1" |
    jpy "(lambda a: $3)(next(s for s in d['steps'] if s['name'] == '$2')['attempt_history'])"
}

# check_run_invariants RUN: what must hold after any fault:
# - the run reached a terminal state (succeeded, failed or cancelled);
# - each step has at most one recorded result: at most one attempt in
#   attempt_history in state "succeeded"; a succeeded step has exactly one
#   (and is not cached), a cached step says cached=true and ran no attempt
#   that succeeded; attempt ids and numbers are unique within a step;
# - the event log agrees: at most one step_succeeded event per step, naming
#   the succeeded attempt;
# - the cache holds only outputs of successful attempts: every `receta cache
#   ls --json` entry names (attempt_id) an attempt that succeeded in its run.
#   While cache ls has no attempt_id, the entry's run must hold its step with
#   exactly one succeeded attempt, the entry's key and the step's outputs
#   (count and size).
check_run_invariants() {
  local run=$1
  "$RECETA" status "$run" --json >"$T/out/inv-status.json" 2>"$T/out/inv.err" ||
    fail "check_run_invariants: receta status $run --json failed: $(cat "$T/out/inv.err")"
  events_json "$run" >"$T/out/inv-events.json"
  "$RECETA" cache ls --json >"$T/out/inv-cache.json" 2>"$T/out/inv.err" ||
    fail "check_run_invariants: receta cache ls --json failed: $(cat "$T/out/inv.err")"
  local verdict
  verdict=$(RECETA="$RECETA" python3 - "$T/out" <<'PY'
import json, os, subprocess, sys
out = sys.argv[1]
status = json.load(open(f"{out}/inv-status.json"))
events = json.load(open(f"{out}/inv-events.json"))
cache = json.load(open(f"{out}/inv-cache.json"))
run = status["id"]
problems = []
if status["state"] not in ("succeeded", "failed", "cancelled"):
    problems.append(f"run {run} is '{status['state']}', not terminal (succeeded, failed or cancelled)")
attempts_total = 0
for s in status["steps"]:
    hist = s.get("attempt_history", [])
    attempts_total += len(hist)
    name = s["name"]
    won = [a for a in hist if a["state"] == "succeeded"]
    ids = [a["id"] for a in hist]
    numbers = [a["number"] for a in hist]
    if len(set(ids)) != len(ids):
        problems.append(f"step {name}: attempt ids repeat: {ids}")
    if len(set(numbers)) != len(numbers):
        problems.append(f"step {name}: attempt numbers repeat: {numbers}")
    if len(won) > 1:
        problems.append(f"step {name}: {len(won)} succeeded attempts recorded "
                        f"({', '.join(a['id'] + ' on ' + a['worker'] for a in won)}), expected at most 1")
    if s["state"] == "succeeded":
        if len(won) != 1:
            problems.append(f"step {name} is succeeded with {len(won)} succeeded attempts, expected exactly 1")
        if s.get("cached"):
            problems.append(f"step {name} is succeeded but says cached=true")
    if s["state"] == "cached":
        if not s.get("cached"):
            problems.append(f"step {name} is cached but says cached=false")
        if won:
            problems.append(f"step {name} is cached but has succeeded attempts {[a['id'] for a in won]}")
    ok_events = [e for e in events if e["kind"] == "step_succeeded" and e["step"] == name]
    if len(ok_events) > 1:
        problems.append(f"step {name}: {len(ok_events)} step_succeeded events "
                        f"(seq {[e['seq'] for e in ok_events]}), expected at most 1")
    if s["state"] == "succeeded" and len(won) == 1:
        if len(ok_events) != 1:
            problems.append(f"step {name} succeeded but the event log has {len(ok_events)} step_succeeded events")
        elif ok_events[0]["attempt_id"] != won[0]["id"]:
            problems.append(f"step {name}: step_succeeded names attempt {ok_events[0]['attempt_id']}, "
                            f"the succeeded attempt is {won[0]['id']}")
# Cache entries, each checked against the run that made it.
runs = {run: status}
def run_status(rid):
    if rid not in runs:
        p = subprocess.run([os.environ["RECETA"], "status", rid, "--json"], capture_output=True, text=True)
        runs[rid] = json.loads(p.stdout) if p.returncode == 0 else None
    return runs[rid]
notes = []
for e in cache:
    rs = run_status(e["run_id"])
    where = f"cache entry {e['key'][:12]} ({e['dag']}/{e['step']}, run {e['run_id']})"
    if rs is None:
        problems.append(f"{where}: its run is unknown to receta status")
        continue
    step = next((s for s in rs["steps"] if s["name"] == e["step"]), None)
    if step is None:
        problems.append(f"{where}: run {e['run_id']} has no step {e['step']}")
        continue
    hist = step.get("attempt_history", [])
    if "attempt_id" in e:
        a = next((a for a in hist if a["id"] == e["attempt_id"]), None)
        if a is None:
            problems.append(f"{where}: attempt {e['attempt_id']} is not in the step's attempt_history")
        elif a["state"] != "succeeded":
            problems.append(f"{where}: made by attempt {a['id']} whose state is '{a['state']}', not succeeded")
    else:
        notes.append("cache ls --json has no attempt_id; checked entries by run, key and outputs")
        won = [a for a in hist if a["state"] == "succeeded"]
        if len(won) != 1:
            problems.append(f"{where}: the step has {len(won)} succeeded attempts, expected 1")
        if step.get("cache_key") != e["key"]:
            problems.append(f"{where}: the step's cache_key is {step.get('cache_key')}")
        outs = step.get("outputs", [])
        if len(outs) != e["files"] or sum(o["size_bytes"] for o in outs) != e["size_bytes"]:
            problems.append(f"{where}: {e['files']} files, {e['size_bytes']} bytes; the step's outputs are "
                            f"{len(outs)} files, {sum(o['size_bytes'] for o in outs)} bytes")
for n in sorted(set(notes)):
    print("NOTE: " + n)
if problems:
    print("BROKEN: " + "; ".join(problems))
else:
    print(f"ok: run {run} {status['state']}, {len(status['steps'])} steps, {attempts_total} attempts, "
          f"{len(events)} events, {len(cache)} cache entries")
PY
) || fail "check_run_invariants $run: the checker itself failed"
  case "$verdict" in
    *BROKEN:*) fail "invariants of run $run: $(grep BROKEN: <<<"$verdict")" ;;
  esac
  echo "$IT_NAME: invariants of $run: ${verdict//$'\n'/ | }"
}

# start_webhook_sink NAME: starts tests/fault/webhook_sink.py (an HTTP server
# on 127.0.0.1 that stores each POST body as a file) and waits for its port.
# Sets SINK_PORT, SINK_DIR (where the bodies go, NNNN.json) and SINK_PID.
start_webhook_sink() {
  local name=$1
  SINK_DIR="$T/sink-$name"
  mkdir -p "$SINK_DIR"
  setsid python3 "$IT_SRC/tests/fault/webhook_sink.py" "$T/sink-$name.port" "$SINK_DIR" \
    >>"$T/logs/sink-$name.log" 2>&1 </dev/null &
  SINK_PID=$!
  IT_PIDS+=("$SINK_PID")
  wait_for "webhook sink $name publishes its port" 10 test -s "$T/sink-$name.port"
  # shellcheck disable=SC2034  # used by the tests that source this file
  SINK_PORT=$(cat "$T/sink-$name.port")
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on (bound, then
# released).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# files_in DIR [PATTERN]: how many files match DIR/PATTERN (default *.json).
files_in() { find "$1" -maxdepth 1 -name "${2:-*.json}" -type f | wc -l | tr -d ' '; }
files_at_least() { [ "$(files_in "$1" "${3:-}")" -ge "$2" ]; }
