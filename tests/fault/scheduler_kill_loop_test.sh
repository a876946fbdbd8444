#!/usr/bin/env bash
# A 200-step run (a root, ten chains of 19 steps, eight side steps and a
# join) survives the scheduler being killed (kill -9) and restarted five
# times while it runs: it completes, every step is recorded exactly once (one
# succeeded attempt, one step_succeeded event naming it, its log holding its
# output), and each recovery's time (restart to the next step finishing) is
# printed.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

KILLS=${FAULT_KILLS:-5}
FIRST_KILL_AT=20  # steps done before the first kill
KILL_EVERY=25     # more steps done before each next kill (5 kills by 120 of 200)

ws="$T/ws"
mkdir -p "$ws"
echo seed >"$ws/in.txt"
python3 - "$ws/dag.yaml" "$MARK" <<'PY'
import sys
path, mark = sys.argv[1], sys.argv[2]
lines = ["name: kill-loop", "defaults:", "  retries: 0", f'  env: {{MARK: "{mark}"}}', "steps:"]
def step(name, inputs):
    lines.extend([
        f"  {name}:",
        "    run: |",
        f'      echo {name} >> "$MARK/ran.log"',
        "      sleep 0.3",
        f"      cat {' '.join(inputs)} > out/{name}.txt",
        f"      echo {name}-output",
        f"    inputs: [{', '.join(inputs)}]",
        f"    outputs: [out/{name}.txt]",
    ])
step("root", ["in.txt"])
ends = []
for c in range(10):
    prev = "out/root.txt"
    for j in range(19):
        name = f"c{c}_{j}"
        step(name, [prev])
        prev = f"out/{name}.txt"
    ends.append(prev)
for s in range(8):
    step(f"side{s}", ["in.txt"])
    ends.append(f"out/side{s}.txt")
step("join", ends)
open(path, "w").write("\n".join(lines) + "\n")
PY
total=200

fault_start_scheduler
start_worker w1 --slots 2
start_worker w2 --slots 2

steps_done() { "$RECETA" runs --json 2>/dev/null | jpy "next(r['steps_done'] for r in d if r['id'] == '$1')"; }
done_at_least() {
  local n
  n=$(steps_done "$1") || return 1
  [ -n "$n" ] && [ "$n" -ge "$2" ]
}

start_ns=$(date +%s%N)
submit "$ws/dag.yaml"
run=$RUN
kill_ms=()
last=0
for ((kill = 1; kill <= KILLS; kill++)); do
  # Why max: a kill needs a step to have finished since the last restart.
  want=$((FIRST_KILL_AT + (kill - 1) * KILL_EVERY))
  [ "$want" -gt "$last" ] || want=$((last + 1))
  wait_for "$want steps done before crash $kill (had $last)" 60 done_at_least "$run" "$want"
  kill_ms+=($(($(date +%s%N) / 1000000)))
  crash_scheduler
  last=$(steps_done "$run")
  run_finished "$run" && fail "run $run is finished right after crash $kill, with $last of $total steps done; make its steps slower"
  echo "$IT_NAME: crash $kill at $want+ steps done: the scheduler answered $(( RESTARTED_NS / 1000000 - kill_ms[-1] )) ms after the kill; $last/$total done then"
done

wait_for "run $run finishes" 120 run_finished "$run"
echo "$IT_NAME: run finished after $KILLS crashes in $(ms_since "$start_ns") ms"
# Recovery times, from the scheduler's own event times: from each kill to
# the first step that finished after it (possibly one that ran through the
# outage), and to the first step dispatched after the restart that finished.
events_json "$run" | python3 -c '
import json, sys
events = json.load(sys.stdin)
kills = [int(k) for k in sys.argv[1:]]
for i, k in enumerate(kills):
    end = kills[i + 1] if i + 1 < len(kills) else 1 << 62
    done = [e for e in events if e["kind"] == "step_succeeded" and k <= e["time_ms"] < end]
    fresh = {e["attempt_id"] for e in events if e["kind"] == "step_dispatched" and k <= e["time_ms"] < end}
    first = min((e["time_ms"] for e in done), default=None)
    first_fresh = min((e["time_ms"] for e in done if e["attempt_id"] in fresh), default=None)
    show = lambda t: f"{t - k} ms" if t is not None else "none before the next kill"
    print(f"recovery {i + 1}: kill to first step finished {show(first)}; "
          f"to first step dispatched after the restart finished {show(first_fresh)}")
' "${kill_ms[@]}" | sed "s/^/$IT_NAME: /"
assert_eq "state of the run" succeeded "$(run_state "$run")"
assert_eq "steps succeeded" "$total" "$(status_json "$run" | jpy "len([s for s in d['steps'] if s['state'] == 'succeeded'])")"
assert_eq "run_succeeded events" 1 "$(event_count "$run" run_succeeded)"

# Every step recorded once, with the log of its succeeded attempt holding its output.
status_json "$run" >"$T/out/final.json"
python3 - "$T/out/final.json" "$SCHED_DATA/logs" "$MARK/ran.log" "${kill_ms[@]}" <<'PY' || fail "logs or attempts of the run are inconsistent (above)"
import collections, json, os, sys
status = json.load(open(sys.argv[1]))
logs_dir, ran_log = sys.argv[2], sys.argv[3]
kills = [int(k) for k in sys.argv[4:]]
def around_kill(a):
    hit = [str(i + 1) for i, k in enumerate(kills) if a["dispatched_ms"] <= k <= a["finished_ms"]]
    return f" (dispatched before crash {','.join(hit)}, finished after it)" if hit else " (no crash while it ran)"
problems = []
for s in status["steps"]:
    won = [a for a in s["attempt_history"] if a["state"] == "succeeded"]
    if len(won) != 1:
        problems.append(f"{s['name']}: {len(won)} succeeded attempts")
        continue
    path = os.path.join(logs_dir, status["id"], won[0]["id"] + ".log")
    text = open(path, errors="replace").read() if os.path.exists(path) else None
    if text is None:
        problems.append(f"{s['name']}: attempt {won[0]['id']} has no log file {path}{around_kill(won[0])}")
    elif "were lost here" in text:
        problems.append(f"{s['name']}: log {path} says bytes were lost: {text[-300:]!r}{around_kill(won[0])}")
    elif f"{s['name']}-output" not in text:
        problems.append(f"{s['name']}: log {path} lacks '{s['name']}-output': {text[-200:]!r}{around_kill(won[0])}")
ran = collections.Counter(open(ran_log).read().split())
twice = sorted(n for n, c in ran.items() if c > 1)
missing = sorted(s["name"] for s in status["steps"] if s["name"] not in ran)
attempts = sum(len(s["attempt_history"]) for s in status["steps"])
print(f"kill-loop: {attempts} attempts for {len(status['steps'])} steps; "
      f"{sum(ran.values())} commands executed; run more than once (stale attempts): {twice or 'none'}")
if missing:
    problems.append(f"steps whose command never ran: {missing}")
for p in problems:
    print("kill-loop: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
expect_exit 0 "$RECETA" logs "$run" c9_18
assert_contains "receta logs of the last chain step" "$OUT" "c9_18-output"

check_run_invariants "$run"
