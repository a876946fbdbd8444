#!/usr/bin/env bash
# Core benchmark (issue #3): a scheduler and two one-slot workers on
# loopback, all started before timing, against `ninja -j2` running the same
# commands in the same session. Prints:
#   - 1,000-step fan-out + join, cold: receta vs ninja wall time and ratio
#   - the same DAG resubmitted, every step cached: submit to finished
#   - median ready -> started latency over a 200-step chain
#   - scheduler RSS with a 10,000-step DAG submitted
# Process start costs milliseconds here, so only ratios mean much.
#
# Usage: bench/core/run.sh [BUILD_DIR]    (default: build, relative to the repo)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build="$repo/$build"
for tool in ninja python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is not installed" >&2; exit 1; }
done
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja >/dev/null
fi
ninja -C "$build" receta receta-scheduler receta-worker >/dev/null
receta="$build/cli/receta"

work=$(mktemp -d /tmp/receta-bench-core.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
wait_for_file() {
  local deadline=$(($(date +%s) + 20))
  until [[ -s "$1" ]]; do
    (($(date +%s) < deadline)) || { echo "run.sh: $1 never appeared" >&2; exit 1; }
    sleep 0.05
  done
}

start_cluster() {
  local dir=$1
  "$build/scheduler/receta-scheduler" --data-dir "$dir/sched" --listen 'tcp://127.0.0.1:*' \
    >"$dir/scheduler.log" 2>&1 &
  scheduler_pid=$!
  pids+=("$scheduler_pid")
  wait_for_file "$dir/sched/scheduler.endpoint"
  export RECETA_SCHEDULER=$(cat "$dir/sched/scheduler.endpoint")
  for n in 1 2; do
    "$build/worker/receta-worker" --work-dir "$dir/w$n" --name "w$n" --slots 1 >"$dir/w$n.log" 2>&1 &
    pids+=("$!")
  done
  local deadline=$(($(date +%s) + 20))
  until [[ $("$receta" workers --json 2>/dev/null | python3 -c \
      'import json,sys; print(sum(1 for w in json.load(sys.stdin) if w["connected"]))' 2>/dev/null) == 2 ]]; do
    (($(date +%s) < deadline)) || { echo "run.sh: workers did not register" >&2; exit 1; }
    sleep 0.05
  done
}

# fanout DIR N: a workspace with N input files, N steps and one join step.
make_fanout() {
  local dir=$1 n=$2
  mkdir -p "$dir/in"
  python3 - "$dir" "$n" <<'EOF'
import sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/dag.yaml", "w") as y, open(f"{d}/build.ninja", "w") as b:
    y.write("name: fanout\nsteps:\n")
    b.write("rule step\n  command = mkdir -p out && cat $in > $out; echo x >> $out\n")
    outs = []
    for i in range(n):
        open(f"{d}/in/{i}.txt", "w").write(f"{i}\n")
        y.write(f"  s{i}:\n    run: cat in/{i}.txt > out/{i}.txt; echo x >> out/{i}.txt\n"
                f"    inputs: [in/{i}.txt]\n    outputs: [out/{i}.txt]\n")
        b.write(f"build out/{i}.txt: step in/{i}.txt\n")
        outs.append(f"out/{i}.txt")
    y.write("  join:\n    run: cat out/*.txt > all.txt; echo x >> all.txt\n"
            "    inputs: [out]\n    outputs: [all.txt]\n")
    b.write("build all.txt: step " + " ".join(outs) + "\n")
EOF
}

make_chain() {
  local dir=$1 n=$2
  mkdir -p "$dir"
  python3 - "$dir" "$n" <<'EOF'
import sys
d, n = sys.argv[1], int(sys.argv[2])
open(f"{d}/c0.txt", "w").write("0\n")
with open(f"{d}/dag.yaml", "w") as y:
    y.write("name: chain\nsteps:\n")
    for i in range(1, n + 1):
        y.write(f"  s{i}:\n    run: cat c{i-1}.txt > c{i}.txt; echo x >> c{i}.txt\n"
                f"    inputs: [c{i-1}.txt]\n    outputs: [c{i}.txt]\n")
EOF
}

echo "receta core benchmark ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "  receta: scheduler + 2 workers x 1 slot on loopback, synced RocksDB writes"
start_cluster "$work"

make_fanout "$work/fanout" 1000
cp -r "$work/fanout" "$work/fanout-ninja"
t0=$(now_ms)
(cd "$work/fanout-ninja" && ninja -j2 >/dev/null)
ninja_ms=$(($(now_ms) - t0))

t0=$(now_ms)
run=$("$receta" submit "$work/fanout/dag.yaml" --wait 2>"$work/submit1.log")
receta_ms=$(($(now_ms) - t0))
t0=$(now_ms)
run2=$("$receta" submit "$work/fanout/dag.yaml" --wait 2>"$work/submit2.log")
cached_ms=$(($(now_ms) - t0))
cached_steps=$("$receta" status "$run2" --json | python3 -c \
  'import json,sys; print(sum(1 for s in json.load(sys.stdin)["steps"] if s["state"] == "cached"))')

make_chain "$work/chain" 200
chain_run=$("$receta" submit "$work/chain/dag.yaml" --wait 2>"$work/submit3.log")
latency=$("$receta" status "$chain_run" --json | python3 -c '
import json, statistics, sys
steps = json.load(sys.stdin)["steps"]
d = [s["attempt_history"][-1]["started_ms"] - s["ready_ms"] for s in steps if s["attempt_history"]]
print(f"{statistics.median(d):.1f} ms (p90 {sorted(d)[int(len(d) * 0.9)]} ms, n={len(d)})")')

# 10,000 steps submitted to a scheduler with no free worker: the DAG, its
# run state and its ready queue all in memory.
kill "${pids[1]}" "${pids[2]}" 2>/dev/null || true
make_fanout "$work/big" 10000
"$receta" submit "$work/big/dag.yaml" >/dev/null 2>"$work/submit4.log"
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$scheduler_pid/status")
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$scheduler_pid/status")

printf '\n%-46s %10s\n' "measure" "value"
printf '%-46s %8d ms\n' "fan-out 1,000 + join, cold: receta" "$receta_ms"
printf '%-46s %8d ms\n' "fan-out 1,000 + join, cold: ninja -j2" "$ninja_ms"
printf '%-46s %10s\n' "  receta / ninja" "$(awk -v a="$receta_ms" -v b="$ninja_ms" 'BEGIN{printf "%.2f", a/b}')"
printf '%-46s %8d ms  (%s of 1001 steps cached; target < 300 ms)\n' "same DAG resubmitted, submit to finished" \
  "$cached_ms" "$cached_steps"
printf '%-46s %s  (target < 2 ms)\n' "ready -> started, 200-step chain, median" "$latency"
printf '%-46s %7d MB  (peak %d MB; target < 300 MB)\n' "scheduler RSS, 10,000-step DAG submitted" \
  $((rss_kb / 1024)) $((hwm_kb / 1024))
