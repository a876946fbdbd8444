#!/usr/bin/env bash
# Gates: an evaluate step whose metrics miss the gate is `gate_failed`, the
# deploy step behind it is `skipped` and never runs, the run fails with the
# gate's expression and the values in its error, and the metrics are kept
# with the step. The same DAG with good metrics deploys.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo model >"$ws/model.txt"
cat >"$ws/dag.yaml" <<YAML
name: gated
params: {acc: 0.5}
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  evaluate:
    kind: evaluate
    run: |
      echo evaluate >> "\$MARK/ran.log"
      printf '{"accuracy": %s, "eval": {"f1": 0.8}, "name": "rf"}\n' "{{params.acc}}" > eval/metrics.json
    inputs: [model.txt]
    outputs: [eval/metrics.json]
    metrics: eval/metrics.json
    gate: accuracy >= 0.9 and eval.f1 > 0.5
  deploy:
    kind: deploy
    needs: [evaluate]
    run: |
      echo deploy >> "\$MARK/ran.log"
      cp model.txt deployed/model.txt
    inputs: [model.txt]
    outputs: [deployed/model.txt]
YAML

start_scheduler
start_worker w1

n=$(ran_count)
submit_wait 1 "$ws/dag.yaml"
assert_eq "run state with a failing gate" failed "$(run_state "$RUN")"
assert_eq "evaluate state" gate_failed "$(step_field "$RUN" evaluate state)"
assert_eq "deploy state" skipped "$(step_field "$RUN" deploy state)"
assert_eq "commands that ran" "evaluate" "$(ran_since "$n")"
assert_eq "metric accuracy kept with the step" 0.5 \
  "$(step_field "$RUN" evaluate metrics | jpy "d['accuracy']")"
assert_eq "nested metric eval.f1" 0.8 "$(step_field "$RUN" evaluate metrics | jpy "d['eval.f1']")"
run_error=$(run_field "$RUN" error)
assert_contains "run error names the gate" "$run_error" "accuracy >= 0.9"
assert_contains "run error gives the value" "$run_error" "0.5"
assert_contains "evaluate's error names the gate" "$(step_field "$RUN" evaluate error)" "accuracy >= 0.9"
assert_contains "submit --wait reports the gate" "$OUT$ERR" "accuracy >= 0.9"
# The event log tells the same story, in order.
expect_exit 0 "$RECETA" events --run "$RUN"
assert_contains "events: the gate failure" "$OUT" "gate_failed run=$RUN step=evaluate"
assert_contains "events: deploy skipped" "$OUT" "step_skipped run=$RUN step=deploy"
assert_contains "events: the run's end" "$OUT" "run_failed run=$RUN"
expect_exit 1 "$RECETA" events --run r-404
assert_contains "events of an unknown run" "$ERR" "no run r-404"

# Good metrics: the gate passes and deploy runs.
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml" -p acc=0.95
assert_eq "step states with a passing gate" "deploy=succeeded evaluate=succeeded" "$(step_states "$RUN")"
assert_eq "commands that ran" "deploy evaluate" "$(ran_since "$n")"
assert_eq "metric accuracy" 0.95 "$(step_field "$RUN" evaluate metrics | jpy "d['accuracy']")"

# A metrics file that is not JSON fails the step with a clear error.
cat >"$ws/badmetrics.yaml" <<YAML
name: badmetrics
defaults: {retries: 0}
steps:
  evaluate:
    kind: evaluate
    run: echo "accuracy=0.9" > eval/metrics.json
    inputs: [model.txt]
    outputs: [eval/metrics.json]
    metrics: eval/metrics.json
    gate: accuracy >= 0.9
YAML
submit_wait 1 "$ws/badmetrics.yaml"
assert_ne "state of evaluate with unreadable metrics" succeeded "$(step_field "$RUN" evaluate state)"
assert_contains "error for unreadable metrics" "$(step_field "$RUN" evaluate error)" \
  "invalid metrics JSON at line 1, column 1"
