#!/usr/bin/env bash
# The scheduler is killed (kill -9) while steps run and restarted on the same
# data dir and endpoint: the workers find it again and claim the attempts
# they are still running, the run completes, and no step runs twice: not the
# ones that had finished before the crash, nor the ones that were running.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"
# prep1 -> prep2 finish at once; slow_a and slow_b wait for $MARK/go (so they
# are running when the scheduler dies); join needs both.
cat >"$ws/dag.yaml" <<YAML
name: scheduler-killed
defaults:
  retries: 0
  env: {MARK: "$MARK"}
x-slow: &slow
  run: |
    echo {{step.name}} >> "\$MARK/ran.log"
    touch "\$MARK/{{step.name}}.started"
    while [ ! -e "\$MARK/go" ]; do sleep 0.05; done
    cat prep2.txt > {{step.name}}.txt
  inputs: [prep2.txt]
steps:
  prep1:
    run: echo prep1 >> "\$MARK/ran.log"; cp in.txt prep1.txt
    inputs: [in.txt]
    outputs: [prep1.txt]
  prep2:
    run: echo prep2 >> "\$MARK/ran.log"; cat prep1.txt prep1.txt > prep2.txt
    inputs: [prep1.txt]
    outputs: [prep2.txt]
  slow_a:
    <<: *slow
    outputs: [slow_a.txt]
  slow_b:
    <<: *slow
    outputs: [slow_b.txt]
  join:
    run: echo join >> "\$MARK/ran.log"; cat slow_a.txt slow_b.txt > join.txt
    inputs: [slow_a.txt, slow_b.txt]
    outputs: [join.txt]
YAML

fault_start_scheduler
start_worker w1
start_worker w2

submit "$ws/dag.yaml"
run=$RUN
wait_for "slow_a and slow_b start" 15 test -e "$MARK/slow_a.started" -a -e "$MARK/slow_b.started"
wait_for "the scheduler sees slow_a running" 10 step_state_is "$run" slow_a running
wait_for "the scheduler sees slow_b running" 10 step_state_is "$run" slow_b running
before=$(step_states "$run")
assert_eq "step states before the crash" \
  "join=pending prep1=succeeded prep2=succeeded slow_a=running slow_b=running" "$before"
attempts_before=$(status_json "$run" | jpy "' '.join(s['name'] + ':' + ','.join(a['id'] for a in s['attempt_history']) for s in d['steps'])")

crash_scheduler
echo "$IT_NAME: scheduler killed and restarted; states right after: $(step_states "$run")"
wait_for "worker w1 is connected to the restarted scheduler" 15 worker_connected w1
wait_for "worker w2 is connected to the restarted scheduler" 15 worker_connected w2
echo "$IT_NAME: both workers back $(ms_since "$RESTARTED_NS") ms after the restart"
# The slow steps are still running on their workers, which claimed them.
assert_eq "slow steps still on their first attempt" 2 "$(sort "$MARK/ran.log" | grep -c '^slow_')"
touch "$MARK/go"
wait_for "run $run finishes after the crash" 30 run_finished "$run"
echo "$IT_NAME: run finished $(ms_since "$RESTARTED_NS") ms after the restart"

assert_eq "state of the run" succeeded "$(run_state "$run")"
assert_eq "commands run, each once" "join prep1 prep2 slow_a slow_b" "$(sort "$MARK/ran.log" | tr '\n' ' ' | sed 's/ $//')"
assert_eq "attempts of the steps (the crash made none)" "$attempts_before" \
  "$(status_json "$run" | jpy "' '.join(s['name'] + ':' + ','.join(a['id'] for a in s['attempt_history'] if s['name'] != 'join') for s in d['steps'])")"
for step in prep1 prep2 slow_a slow_b join; do
  assert_eq "system_failures of $step" 0 "$(step_field "$run" "$step" system_failures)"
done
"$RECETA" artifacts get "$run" join join.txt -o "$T/join.txt" >/dev/null || fail "artifacts get join.txt"
assert_eq "join.txt" "$(printf 'payload\npayload\npayload\npayload')" "$(cat "$T/join.txt")"

check_run_invariants "$run"
