#!/usr/bin/env bash
# The ML example (dags/iris) end to end on two workers: the run succeeds,
# the gate's metrics are kept, the model artifact fetched with `artifacts
# get` is byte-identical to the blob the worker reported (and to the digest
# the deploy step wrote in its manifest), and a rerun is fully cached (the
# iris deploy step opts in with `cache: true`).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

if ! python3 -c 'import sklearn, numpy' 2>/dev/null; then
  # Why: a python3 earlier in PATH (pyenv, a venv) may lack the Debian
  # packages deploy/install-deps.sh installs for /usr/bin/python3.
  if /usr/bin/python3 -c 'import sklearn, numpy' 2>/dev/null; then
    export PATH="/usr/bin:$PATH"
  else
    fail "python3-sklearn and python3-numpy are needed by dags/iris; run deploy/install-deps.sh"
  fi
fi

# A copy of the workspace, so nothing is written into the source tree.
cp -r "$IT_SRC/dags/iris" "$T/iris"
dag="$T/iris/iris.yaml"

start_scheduler
start_worker w1
start_worker w2
assert_eq "connected workers" "w1 w2" \
  "$("$RECETA" workers --json | jpy "' '.join(sorted(w['name'] for w in d if w['connected']))")"

SUBMIT_TIMEOUT_S=120 submit_wait 0 "$dag"
run1=$RUN
assert_eq "step states" "deploy=succeeded evaluate=succeeded prepare=succeeded train=succeeded" \
  "$(step_states "$run1")"
assert_eq "run dag" iris "$(run_field "$run1" dag)"
accuracy=$(step_field "$run1" evaluate metrics | jpy "d['accuracy']")
python3 -c "import sys; sys.exit(0 if float('$accuracy') >= 0.9 else 1)" ||
  fail "evaluate's accuracy is $accuracy, expected >= 0.9 (the gate passed)"
workers=$(status_json "$run1" | jpy "' '.join(sorted(set(s['worker'] for s in d['steps'])))")
w1_id=$(worker_field w1 id)
w2_id=$(worker_field w2 id)
for w in $workers; do
  case "$w" in "$w1_id" | "$w2_id" | w1 | w2) ;; *) fail "a step ran on unknown worker [$w]" ;; esac
done

# The model: fetched bytes == the digest the worker reported == the manifest's.
"$RECETA" artifacts ls "$run1" train --json >"$T/train-artifacts.json" ||
  fail "artifacts ls $run1 train failed"
reported=$(jpy "next(a['digest'] for a in d if a['path'] == 'model/model.pkl')" <"$T/train-artifacts.json")
reported_size=$(jpy "next(a['size_bytes'] for a in d if a['path'] == 'model/model.pkl')" <"$T/train-artifacts.json")
expect_exit 0 "$RECETA" artifacts get "$run1" train model/model.pkl -o "$T/model.pkl"
assert_eq "sha256 of the fetched model vs the worker's report" "$(digest_hex "$reported")" \
  "$(sha256_of "$T/model.pkl")"
assert_eq "size of the fetched model" "$reported_size" "$(stat -c %s "$T/model.pkl")"
expect_exit 0 "$RECETA" artifacts get "$run1" deploy deployed/manifest.json -o "$T/manifest.json"
assert_eq "sha256 in the deploy manifest" "$(digest_hex "$reported")" \
  "$(jpy "d['sha256']" <"$T/manifest.json")"
assert_eq "run id in the deploy manifest" "$run1" "$(jpy "d['run_id']" <"$T/manifest.json")"
expect_exit 0 "$RECETA" artifacts get "$run1" deploy deployed/model.pkl -o "$T/deployed.pkl"
cmp -s "$T/model.pkl" "$T/deployed.pkl" || fail "deployed/model.pkl differs from model/model.pkl"
expect_exit 0 "$RECETA" logs "$run1" evaluate
assert_contains "logs of evaluate" "$OUT" "evaluate: accuracy"

# Rerun: every step is cached, none runs.
start_ns=$(date +%s%N)
submit_wait 0 "$dag"
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
assert_eq "step states of the rerun" "deploy=cached evaluate=cached prepare=cached train=cached" \
  "$(step_states "$RUN")"
echo "ml_example: fully cached rerun took ${elapsed_ms} ms end to end"
