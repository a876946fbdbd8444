#!/usr/bin/env bash
# receta submit keeps what parsing a DAG file gave it (its warnings and the
# workspace files it reads; cli/dag_plan_cache.h) and parses an unchanged
# DAG only again when it must, from the same checkout or a copy elsewhere.
# What a user sees must not change: the same warnings every time, the DAG's
# own error for an input that went missing since, a changed DAG or other -p
# values read afresh.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws/data"
echo a >"$ws/data/a.txt"
echo b >"$ws/data/b.txt"
echo x >"$ws/in.txt"
write_dag() {  # write_dag EXTRA_INPUT: the DAG, reading in.txt and EXTRA_INPUT if given
  local extra=${1:-}
  cat >"$ws/dag.yaml" <<YAML
name: plan
params: {split: a}
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  read:
    run: |
      echo read >> "\$MARK/ran.log"
      cat in.txt data/{{params.split}}.txt ${extra} > out.txt
    inputs: [in.txt, "data/{{params.split}}.txt"${extra:+, $extra}]
    outputs: [out.txt]
  stamp:
    run: date > stamp.txt
    outputs: [stamp.txt]
YAML
}
write_dag

start_scheduler
start_worker w1

plans() { find "$HOME/.cache/receta" -name 'dag-plan-*' ! -name '*.tmp.*' 2>/dev/null | wc -l; }
output() {  # output STEP FILE: the artifact's bytes
  "$RECETA" artifacts get "$RUN" "$1" "$2" -o "$T/artifact" >/dev/null || fail "artifacts get $1 $2"
  cat "$T/artifact"
}

submit_wait 0 "$ws/dag.yaml"
assert_contains "the lint warning on the first submit" "$ERR" "step 'stamp' reads no declared inputs"
assert_eq "plans kept after the first submit" 1 "$(plans)"
assert_eq "read's output" "x a" "$(output read out.txt | tr '\n' ' ' | sed 's/ $//')"

# Unchanged DAG: the same warning, from the kept plan (not written again).
plan_file=$(find "$HOME/.cache/receta" -name 'dag-plan-*' ! -name '*.tmp.*' | head -1)
plan_inode=$(stat -c '%i' "$plan_file")
submit_wait 0 "$ws/dag.yaml"
assert_eq "the plan was used, not made again" "$plan_inode" "$(stat -c '%i' "$plan_file")"
assert_contains "the lint warning again on a submit from the plan" "$ERR" "step 'stamp' reads no declared inputs"
assert_eq "read is cached on the unchanged rerun" cached "$(step_field "$RUN" read state)"

# A copy of the checkout elsewhere, with other data, submitted by a relative
# name: a plan of its own (the warnings name the file as given); then the
# first checkout submitted by that same name finds it (no parse, no new
# file), with the same warning, and reads its own inputs.
cp -r "$ws" "$T/copy"
echo y >"$T/copy/in.txt"
cd "$T/copy"
submit_wait 0 dag.yaml
assert_eq "plans after a submit by another name" 2 "$(plans)"
assert_eq "the copy's read ran on the copy's input" "y a" "$(output read out.txt | tr '\n' ' ' | sed 's/ $//')"
cd "$ws"
submit_wait 0 dag.yaml
cd "$T"
assert_eq "the same DAG by the same name from another checkout used the kept plan" 2 "$(plans)"
assert_contains "the lint warning from that plan" "$ERR" "dag.yaml"
assert_contains "the lint warning from that plan names the step" "$ERR" "step 'stamp' reads no declared inputs"
assert_eq "read is cached there (its own input, as before)" cached "$(step_field "$RUN" read state)"

# Other -p values: another key, the other file is read.
submit_wait 0 "$ws/dag.yaml" -p split=b
assert_eq "read's output with -p split=b" "x b" "$(output read out.txt | tr '\n' ' ' | sed 's/ $//')"

# An input gone since the plan was kept: the DAG's own diagnostic.
mv "$ws/in.txt" "$ws/in.moved"
run_cmd "$RECETA" submit --wait "$ws/dag.yaml"
assert_eq "exit code of a submit with a missing input" 1 "$RC"
assert_contains "the DAG's diagnostic names the input and the step" "$ERR" \
  "input 'in.txt' of step 'read' is neither a file in the workspace nor an output of any step"
assert_contains "and says nothing was submitted" "$ERR" "nothing was submitted"
mv "$ws/in.moved" "$ws/in.txt"

# A changed DAG (one more input): parsed again, the new input sent and read.
echo extra >"$ws/extra.txt"
write_dag extra.txt
submit_wait 0 "$ws/dag.yaml"
assert_eq "read's output after the DAG changed" "x a extra" "$(output read out.txt | tr '\n' ' ' | sed 's/ $//')"
assert_eq "plans kept (one per DAG text, name and -p values)" 4 "$(plans)"

# A plan file that is not one (torn, or written by hand) is only a miss.
plan_file=$(ls -t "$HOME"/.cache/receta/dag-plan-* | head -1)  # the changed DAG's
printf '{"format": 1, "key": "' >"$plan_file"
submit_wait 0 "$ws/dag.yaml"
assert_eq "read is cached after a garbled plan" cached "$(step_field "$RUN" read state)"
