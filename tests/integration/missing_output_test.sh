#!/usr/bin/env bash
# Failing steps: a declared output the command did not create fails the step
# with the output's name in the error; a non-zero exit fails it with the exit
# code; the steps downstream of a failure never run; a declared output
# directory is uploaded file by file.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo x >"$ws/in.txt"
cat >"$ws/missing.yaml" <<YAML
name: missing
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  train:
    run: |
      echo train >> "\$MARK/ran.log"
      echo "wrote the metrics only"
      echo 1 > model/metrics.json
    inputs: [in.txt]
    outputs: [model/model.pkl, model/metrics.json]
  after:
    run: echo after >> "\$MARK/ran.log"; cp model/model.pkl copy.pkl
    inputs: [model/model.pkl]
    outputs: [copy.pkl]
YAML
cat >"$ws/exit.yaml" <<YAML
name: exits
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  boom:
    run: |
      echo boom >> "\$MARK/ran.log"
      echo "boom is about to fail" >&2
      exit 3
    inputs: [in.txt]
    outputs: [never.txt]
YAML
cat >"$ws/dir.yaml" <<YAML
name: dirout
defaults: {retries: 0}
steps:
  many:
    run: |
      mkdir -p shards/sub
      for i in 1 2 3; do echo "shard \$i" > shards/part-\$i.txt; done
      echo deep > shards/sub/deep.txt
    inputs: [in.txt]
    outputs: [shards]
  count:
    run: cat shards/part-*.txt shards/sub/deep.txt | wc -l > count.txt
    inputs: [shards]
    outputs: [count.txt]
YAML

start_scheduler
start_worker w1

n=$(ran_count)
submit_wait 1 "$ws/missing.yaml"
assert_eq "run state" failed "$(run_state "$RUN")"
assert_eq "train state" failed "$(step_field "$RUN" train state)"
train_error=$(step_field "$RUN" train error)
assert_contains "error of train names the missing output" "$train_error" "model/model.pkl"
assert_not_contains "error of train does not blame the output that exists" "$train_error" "metrics.json"
assert_eq "exit code of train (the command itself succeeded)" 0 "$(step_field "$RUN" train exit_code)"
assert_eq "after state" skipped "$(step_field "$RUN" after state)"
assert_eq "commands that ran" "train" "$(ran_since "$n")"
run_cmd "$RECETA" status "$RUN"
assert_contains "receta status (text) shows the error" "$OUT" "model/model.pkl"
expect_exit 0 "$RECETA" logs "$RUN" train
assert_contains "logs of the failed step" "$OUT" "wrote the metrics only"
assert_eq "cache entries of a failed step" 0 \
  "$("$RECETA" cache ls --json | jpy "len([e for e in d if e['dag'] == 'missing'])")"

n=$(ran_count)
submit_wait 1 "$ws/exit.yaml"
assert_eq "boom state" failed "$(step_field "$RUN" boom state)"
assert_eq "boom exit code" 3 "$(step_field "$RUN" boom exit_code)"
assert_eq "attempts of boom (retries: 0)" 1 "$(step_field "$RUN" boom attempts)"
expect_exit 0 "$RECETA" logs "$RUN" boom
assert_contains "stderr of boom in its logs" "$OUT" "boom is about to fail"
# A failed step is not cached: submitting again runs it again.
n=$(ran_count)
submit_wait 1 "$ws/exit.yaml"
assert_eq "commands that ran on resubmitting a failed DAG" "boom" "$(ran_since "$n")"

submit_wait 0 "$ws/dir.yaml"
assert_eq "files of the output directory" \
  "shards/part-1.txt shards/part-2.txt shards/part-3.txt shards/sub/deep.txt" \
  "$("$RECETA" artifacts ls "$RUN" many --json | jpy "' '.join(sorted(a['path'] for a in d))")"
"$RECETA" artifacts get "$RUN" count count.txt -o "$T/count.txt" >/dev/null || fail "artifacts get count.txt"
assert_eq "lines counted from the directory input" 4 "$(tr -d ' ' <"$T/count.txt")"
