#!/usr/bin/env bash
# A worker freezes (SIGSTOP) while two of its steps run, past
# --worker-timeout: the scheduler declares it lost and runs both steps on
# the other worker; the run succeeds. Meanwhile one of the frozen steps ends
# by itself (exit 0, its output written) and the other keeps running. Then
# the worker thaws (SIGCONT): both attempts are stale. The finished one's
# successful result is refused (the step's recorded result and output stay
# the other worker's, and its output never enters the CAS), and the worker
# kills the running one itself (its process group is gone within a deadline
# and the worker's log says so).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"
# Each attempt writes its own id into its output, so the recorded output says
# whose result was kept. First attempts record "PGID ATTEMPT_ID" and wait:
# hang until killed, finish until $MARK/release exists. Later attempts finish
# at once.
cat >"$ws/dag.yaml" <<YAML
name: worker-paused
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  hang:
    run: |
      echo hang >> "\$MARK/ran.log"
      attempt=\$(basename "\$PWD")
      if [ ! -e "\$MARK/hang.first" ]; then
        touch "\$MARK/hang.first"
        echo "\$\$ \$attempt" > "\$MARK/hang.pid"
        while :; do sleep 0.2; done
      fi
      echo "made by \$attempt" > hang.txt
    inputs: [in.txt]
    outputs: [hang.txt]
  finish:
    run: |
      echo finish >> "\$MARK/ran.log"
      attempt=\$(basename "\$PWD")
      if [ ! -e "\$MARK/finish.first" ]; then
        touch "\$MARK/finish.first"
        echo "\$\$ \$attempt" > "\$MARK/finish.pid"
        while [ ! -e "\$MARK/release" ]; do sleep 0.05; done
      fi
      echo "made by \$attempt" > finish.txt
    inputs: [in.txt]
    outputs: [finish.txt]
YAML

fault_start_scheduler
# Only w1 is up when the run starts, with room for both steps.
start_worker w1 --slots 2
submit "$ws/dag.yaml"
run=$RUN
wait_for "both steps start their first attempt" 15 test -s "$MARK/hang.pid" -a -s "$MARK/finish.pid"
read -r hang_pgid hang_stale <"$MARK/hang.pid"
read -r finish_pgid finish_stale <"$MARK/finish.pid"
wait_for "the scheduler sees step hang running" 10 step_state_is "$run" hang running
wait_for "the scheduler sees step finish running" 10 step_state_is "$run" finish running
start_worker w2 --slots 2
w1_pid=${WORKER_PID[w1]}
echo "$IT_NAME: hang ($hang_stale, pgid $hang_pgid) and finish ($finish_stale, pgid $finish_pgid) run on w1; SIGSTOP to w1 (pid $w1_pid)"

stopped_ns=$(date +%s%N)
kill -STOP "$w1_pid"
wait_for "run $run finishes while w1 is frozen" 30 run_finished "$run"
echo "$IT_NAME: run finished $(ms_since "$stopped_ns") ms after the SIGSTOP"
assert_eq "state of the run" succeeded "$(run_state "$run")"
for step in hang finish; do
  assert_eq "worker of step $step" w2 "$(step_field "$run" "$step" worker)"
  assert_eq "system_failures of step $step" 1 "$(step_field "$run" "$step" system_failures)"
  assert_eq "user_failures of step $step" 0 "$(step_field "$run" "$step" user_failures)"
done
hang_winner=$(attempts_of "$run" hang "next(x['id'] for x in a if x['state'] == 'succeeded')")
finish_winner=$(attempts_of "$run" finish "next(x['id'] for x in a if x['state'] == 'succeeded')")
group_alive "$hang_pgid" || fail "the frozen worker's step hang (pgid $hang_pgid) died while the worker was stopped"

# The frozen worker's finish attempt ends by itself while its worker is stopped.
touch "$MARK/release"
wait_group_gone "step finish's first attempt after its release (worker still frozen)" "$finish_pgid" 10

log="$T/logs/worker-w1.log"
kill -CONT "$w1_pid"
thawed_ns=$(date +%s%N)
wait_group_gone "the stale attempt $hang_stale on the thawed worker w1" "$hang_pgid" 10
echo "$IT_NAME: the stale step's process group was gone $(ms_since "$thawed_ns") ms after SIGCONT"
stale_line() { grep -E "attempt $hang_stale is stale; killing it|killing attempt\(s\) .*$hang_stale" "$log"; }
wait_for "worker w1 logs that it kills the stale attempt $hang_stale" 10 stale_line
echo "$IT_NAME: w1 says: $(stale_line | head -n 1)"
wait_for "worker w1 reconnects after SIGCONT" 15 worker_connected w1
for attempt in "$hang_stale" "$finish_stale"; do
  wait_for "worker w1 reports the end of $attempt" 10 grep -q "attempt $attempt finished" "$log"
done
echo "$IT_NAME: w1 says: $(grep "attempt $finish_stale finished" "$log")"
# Why: the scheduler says nothing when it drops a stale report. Messages
# from one worker arrive in order and the worker heartbeats every 200 ms, so
# once the scheduler has heard from it 500 ms after the report was logged,
# the report has been handled.
reported_ms=$(($(date +%s%N) / 1000000))
wait_for "the scheduler hears from w1 after its stale reports" 10 worker_heard_since w1 $((reported_ms + 500))

assert_eq "state of the run after the stale reports" succeeded "$(run_state "$run")"
for pair in "hang $hang_stale $hang_winner" "finish $finish_stale $finish_winner"; do
  read -r step stale winner <<<"$pair"
  assert_ne "the winning attempt of $step" "$stale" "$winner"
  assert_eq "the succeeded attempt of $step after the stale report" "$winner" \
    "$(attempts_of "$run" "$step" "' '.join(x['id'] for x in a if x['state'] == 'succeeded')")"
  stale_state=$(attempts_of "$run" "$step" "next(x['state'] + ':' + x['failure'] for x in a if x['id'] == '$stale')")
  assert_ne "state of the stale attempt $stale of $step" "succeeded" "${stale_state%%:*}"
  assert_eq "failure class of the stale attempt $stale of $step" system "${stale_state#*:}"
  "$RECETA" artifacts get "$run" "$step" "$step.txt" -o "$T/$step.txt" >/dev/null || fail "artifacts get $step.txt"
  assert_file_eq "$step.txt (the recorded result)" "$T/$step.txt" "made by $winner"
done
# Nor do the stale attempt's outputs enter the CAS.
stale_digest=$(printf 'made by %s\n' "$finish_stale" | sha256sum | cut -d' ' -f1)
! cas_holds "$stale_digest" ||
  fail "the stale attempt $finish_stale's output (made by $finish_stale, sha256 $stale_digest) was stored in the CAS"
assert_eq "worker_lost events of w1" 1 "$(worker_event_count worker_lost w1)"

check_run_invariants "$run"
