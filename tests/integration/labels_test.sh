#!/usr/bin/env bash
# Labels: an artifact made on worker A (label `a`) is consumed by a step
# pinned to worker B (label `b`), byte for byte; a step whose labels no
# worker has waits, `status` says why, and `cancel` ends that run.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo 1 >"$ws/seed.txt"
cat >"$ws/dag.yaml" <<YAML
name: pinned
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  make:
    labels: [a]
    run: |
      echo make >> "\$MARK/ran.log"
      head -c 300000 /dev/urandom > out/blob.bin
    inputs: [seed.txt]
    outputs: [out/blob.bin]
  use:
    labels: [b]
    run: |
      echo use >> "\$MARK/ran.log"
      sha256sum out/blob.bin | cut -d' ' -f1 > out/sum.txt
      mode=\$(stat -c %A out/blob.bin)
      case "\$mode" in *w*) echo "input out/blob.bin is writable (\$mode)" >&2; exit 7 ;; esac
    inputs: [out/blob.bin]
    outputs: [out/sum.txt]
YAML
cat >"$ws/gpu.yaml" <<YAML
name: needs-gpu
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  train:
    labels: [gpu]
    run: echo train >> "\$MARK/ran.log"; touch model.bin
    inputs: [seed.txt]
    outputs: [model.bin]
YAML

start_scheduler
start_worker wa --labels a
start_worker wb --labels b
assert_eq "labels of wa" '["a"]' "$(worker_field wa labels)"
assert_eq "labels of wb" '["b"]' "$(worker_field wb labels)"
wa_id=$(worker_field wa id)
wb_id=$(worker_field wb id)
assert_ne "worker ids differ" "$wa_id" "$wb_id"

submit_wait 0 "$ws/dag.yaml"
# The status names a worker by id (or by name): accept either, but exactly the pinned one.
make_worker=$(step_field "$RUN" make worker)
use_worker=$(step_field "$RUN" use worker)
case "$make_worker" in "$wa_id" | wa) ;; *) fail "make ran on [$make_worker], expected wa ($wa_id)" ;; esac
case "$use_worker" in "$wb_id" | wb) ;; *) fail "use ran on [$use_worker], expected wb ($wb_id)" ;; esac

blob_digest=$("$RECETA" artifacts ls "$RUN" make --json |
  jpy "next(a['digest'] for a in d if a['path'] == 'out/blob.bin')")
assert_eq "size of out/blob.bin" 300000 \
  "$("$RECETA" artifacts ls "$RUN" make --json | jpy "next(a['size_bytes'] for a in d if a['path'] == 'out/blob.bin')")"
"$RECETA" artifacts get "$RUN" use out/sum.txt -o "$T/sum.txt" >/dev/null || fail "artifacts get sum.txt"
assert_eq "sha256 that step use (on wb) computed of wa's out/blob.bin" \
  "$(digest_hex "$blob_digest")" "$(cat "$T/sum.txt")"

# A step no live worker can take waits, with the reason in status.
n=$(ran_count)
submit "$ws/gpu.yaml"
gpu_run=$RUN
waiting() { [ "$(step_field "$gpu_run" train state)" = waiting ]; }
wait_for "step train of $gpu_run is reported as waiting" 10 waiting
assert_eq "run state while waiting" running "$(run_state "$gpu_run")"
why="$(step_field "$gpu_run" train reason) $(step_field "$gpu_run" train error)"
assert_contains "why train waits" "$why" "gpu"
run_cmd "$RECETA" status "$gpu_run"
assert_eq "receta status exit code" 0 "$RC"
assert_contains "receta status (text) says why train waits" "$OUT" "gpu"

expect_exit 0 "$RECETA" cancel "$gpu_run"
wait_for "run $gpu_run is cancelled" 10 run_finished "$gpu_run"
assert_eq "state of the cancelled run" cancelled "$(run_state "$gpu_run")"
assert_eq "commands run for the gpu DAG" "" "$(ran_since "$n")"
