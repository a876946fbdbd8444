#!/usr/bin/env bash
# A fan-out's independent steps run on both workers at once: each step
# writes its start and end times (ns) to a file outside the sandboxes, and
# the test checks that intervals on different workers overlapped, that no
# worker ran more steps at once than its slots, and that the fan-in step
# started only after every branch had ended.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo seed >"$ws/seed.txt"
{
  echo "name: fanout"
  echo "defaults:"
  echo "  retries: 0"
  echo "  env: {MARK: \"$MARK\"}"
  echo "steps:"
  echo "  split:"
  echo "    run: cp seed.txt parts/seed.txt"
  echo "    inputs: [seed.txt]"
  echo "    outputs: [parts/seed.txt]"
  for i in 1 2 3 4; do
    cat <<YAML
  f$i:
    run: |
      echo "\$RECETA_STEP start \$(date +%s%N)" >> "\$MARK/times"
      sleep 0.6
      echo "$i" > out/f$i.txt
      echo "\$RECETA_STEP end \$(date +%s%N)" >> "\$MARK/times"
    inputs: [parts/seed.txt]
    outputs: [out/f$i.txt]
YAML
  done
  cat <<YAML
  join:
    run: |
      echo "\$RECETA_STEP start \$(date +%s%N)" >> "\$MARK/times"
      cat out/f1.txt out/f2.txt out/f3.txt out/f4.txt > joined.txt
    inputs: [out/f1.txt, out/f2.txt, out/f3.txt, out/f4.txt]
    outputs: [joined.txt]
YAML
} >"$ws/dag.yaml"

start_scheduler
start_worker w1 --slots 1
start_worker w2 --slots 1

submit_wait 0 "$ws/dag.yaml"
assert_eq "run state" succeeded "$(run_state "$RUN")"

status_json "$RUN" >"$T/status.json"
python3 - "$MARK/times" "$T/status.json" <<'PY' || fail "fan-out timing check failed (see above)"
import json, sys
times = {}
for line in open(sys.argv[1]):
    step, what, ns = line.split()
    times.setdefault(step, {})[what] = int(ns)
status = json.load(open(sys.argv[2]))
worker = {s["name"]: s["worker"] for s in status["steps"]}
fan = ["f1", "f2", "f3", "f4"]
errors = []
for f in fan:
    if set(times.get(f, {})) != {"start", "end"}:
        errors.append(f"{f} did not record both start and end: {times.get(f)}")
if errors:
    print("\n".join(errors)); sys.exit(1)
used = sorted(set(worker[f] for f in fan))
if len(used) != 2:
    errors.append(f"the fan-out ran on workers {used}, expected both workers")
overlaps = [(a, b) for i, a in enumerate(fan) for b in fan[i + 1:]
            if times[a]["start"] < times[b]["end"] and times[b]["start"] < times[a]["end"]]
if not any(worker[a] != worker[b] for a, b in overlaps):
    errors.append(f"no two fan-out steps on different workers overlapped; overlaps={overlaps}")
for a, b in overlaps:
    if worker[a] == worker[b]:
        errors.append(f"{a} and {b} overlapped on worker {worker[a]}, which has 1 slot")
last_end = max(times[f]["end"] for f in fan)
if times["join"]["start"] < last_end:
    errors.append("join started before every fan-out step had ended")
span_ms = (last_end - min(times[f]["start"] for f in fan)) / 1e6
print(f"fan-out: 4 x 0.6 s steps on {used} took {span_ms:.0f} ms; overlapping pairs {overlaps}")
if errors:
    print("\n".join(errors)); sys.exit(1)
PY

joined=$("$RECETA" artifacts get "$RUN" join joined.txt -o "$T/joined.txt" >/dev/null && cat "$T/joined.txt") ||
  fail "artifacts get $RUN join joined.txt failed"
assert_eq "joined output" "$(printf '1\n2\n3\n4')" "$joined"
