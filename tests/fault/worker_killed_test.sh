#!/usr/bin/env bash
# A worker dies (kill -9 of the agent alone) while its step runs: the step's
# processes die with it, the scheduler declares the worker lost after
# --worker-timeout and runs the step on the other worker without using up
# its retries (retries: 0), and the run succeeds with one system failure
# recorded on the step.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"
# The first attempt records "PID ATTEMPT_ID" and hangs (with a child, so the
# whole process group must die, not just the shell); any later attempt
# finishes at once.
cat >"$ws/dag.yaml" <<YAML
name: worker-killed
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  long:
    run: |
      echo long >> "\$MARK/ran.log"
      if [ ! -e "\$MARK/long.first" ]; then
        touch "\$MARK/long.first"
        echo "\$\$ \$(basename "\$PWD")" > "\$MARK/long.pid"
        sleep 600 &
        wait
      fi
      tr a-z A-Z < in.txt > long.txt
    inputs: [in.txt]
    outputs: [long.txt]
  after:
    run: echo after >> "\$MARK/ran.log"; rev long.txt > after.txt
    inputs: [long.txt]
    outputs: [after.txt]
YAML

fault_start_scheduler
start_worker w1
start_worker w2

submit "$ws/dag.yaml"
run=$RUN
wait_for "step long starts its first attempt" 15 test -s "$MARK/long.pid"
read -r pgid first_attempt <"$MARK/long.pid"
wait_for "the scheduler sees step long running" 10 step_state_is "$run" long running
victim=$(step_field "$run" long worker)
case "$victim" in w1) survivor=w2 ;; w2) survivor=w1 ;; *) fail "step long runs on [$victim], expected w1 or w2" ;; esac
group_alive "$pgid" || fail "the first attempt's process group $pgid is not running before the kill"
echo "$IT_NAME: step long (attempt $first_attempt, pgid $pgid) runs on $victim; kill -9 of $victim's agent"

killed_ns=$(date +%s%N)
kill9_worker_process "$victim"
wait_group_gone "the killed worker's step (attempt $first_attempt)" "$pgid" 5
echo "$IT_NAME: the step's process group was gone $(ms_since "$killed_ns") ms after the kill"

wait_for "run $run finishes after worker $victim died" 30 run_finished "$run"
echo "$IT_NAME: run finished $(ms_since "$killed_ns") ms after the kill"
assert_eq "state of the run" succeeded "$(run_state "$run")"
assert_eq "state of step long" succeeded "$(step_field "$run" long state)"
assert_eq "system_failures of step long" 1 "$(step_field "$run" long system_failures)"
assert_eq "user_failures of step long" 0 "$(step_field "$run" long user_failures)"
echo "$IT_NAME: attempts of long: $(attempts_of "$run" long "' '.join(x['id'] + ':' + x['worker'] + ':' + x['state'] + ':' + x['failure'] for x in a)")"
assert_eq "number of attempts of step long" 2 "$(attempts_of "$run" long 'len(a)')"
assert_eq "attempt 1 of long (id, worker, failure)" "$first_attempt $victim system" \
  "$(attempts_of "$run" long "a[0]['id'] + ' ' + a[0]['worker'] + ' ' + a[0]['failure']")"
assert_eq "attempt 2 of long (worker, state)" "$survivor succeeded" \
  "$(attempts_of "$run" long "a[1]['worker'] + ' ' + a[1]['state']")"
assert_eq "worker of step after" "$survivor" "$(step_field "$run" after worker)"
assert_eq "commands run (long twice, after once)" "after long long" "$(sort "$MARK/ran.log" | tr '\n' ' ' | sed 's/ $//')"
assert_eq "worker_lost events of $victim" 1 "$(worker_event_count worker_lost "$victim")"
has_event "$run" step_requeued long ||
  fail "no step_requeued event for step long: $(events_json "$run" | jpy "[e['kind'] + ':' + e['step'] for e in d]")"
"$RECETA" artifacts get "$run" after after.txt -o "$T/after.txt" >/dev/null || fail "artifacts get after.txt"
assert_file_eq "after.txt" "$T/after.txt" "DAOLYAP"
assert_eq "worker $victim is listed as disconnected" false "$(worker_field "$victim" connected)"

check_run_invariants "$run"
