#!/usr/bin/env bash
# Timeouts: a step that hangs is killed at its timeout (timed_out, a user
# failure) and retried, and its second attempt succeeds; a step that ignores
# SIGTERM is killed anyway (SIGKILL after the grace), the run fails, and
# nothing of either hung attempt is left running.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"
# hang: the first attempt records its process group and sleeps (in a child,
# so the whole group must be killed); the second finishes at once.
cat >"$ws/hang.yaml" <<YAML
name: hang
defaults:
  env: {MARK: "$MARK"}
steps:
  hang:
    retries: 1
    retry_backoff: 100ms
    timeout: 1s
    run: |
      echo hang >> "\$MARK/ran.log"
      if [ ! -e "\$MARK/hang.first" ]; then
        touch "\$MARK/hang.first"
        echo \$\$ > "\$MARK/hang.pid"
        sleep 600
      fi
      cp in.txt hang.txt
    inputs: [in.txt]
    outputs: [hang.txt]
YAML
# stubborn: ignores SIGTERM (so does its child, which inherits the ignored
# disposition) and never ends by itself.
cat >"$ws/stubborn.yaml" <<YAML
name: stubborn
defaults:
  env: {MARK: "$MARK"}
steps:
  stubborn:
    retries: 0
    timeout: 1s
    run: |
      trap '' TERM
      echo stubborn >> "\$MARK/ran.log"
      echo \$\$ > "\$MARK/stubborn.pid"
      echo "ignoring SIGTERM"
      while :; do sleep 0.2; done
    inputs: [in.txt]
    outputs: [never.txt]
  after:
    run: cp never.txt after.txt
    inputs: [never.txt]
    outputs: [after.txt]
YAML

fault_start_scheduler
start_worker w1

# 1. Hang, killed at 1 s, retried, then succeeds.
started_ns=$(date +%s%N)
submit_wait 0 "$ws/hang.yaml"
run=$RUN
echo "$IT_NAME: hang run took $(ms_since "$started_ns") ms"
assert_eq "state of step hang" succeeded "$(step_field "$run" hang state)"
assert_eq "attempts of hang" 2 "$(step_field "$run" hang attempts)"
assert_eq "attempt 1 of hang (state, timed_out, failure)" "failed True user" \
  "$(attempts_of "$run" hang "a[0]['state'] + ' ' + str(a[0]['timed_out']) + ' ' + a[0]['failure']")"
assert_eq "attempt 2 of hang (state, timed_out)" "succeeded False" \
  "$(attempts_of "$run" hang "a[1]['state'] + ' ' + str(a[1]['timed_out'])")"
assert_eq "user_failures of hang" 1 "$(step_field "$run" hang user_failures)"
assert_eq "system_failures of hang" 0 "$(step_field "$run" hang system_failures)"
duration=$(attempts_of "$run" hang "a[0]['duration_ms']")
if [ "$duration" -lt 900 ] || [ "$duration" -ge 6000 ]; then
  fail "attempt 1 of hang lasted $duration ms, expected about its 1 s timeout"
fi
assert_eq "step_retrying events of hang" 1 "$(event_count "$run" step_retrying hang)"
hang_pgid=$(cat "$MARK/hang.pid")
wait_group_gone "the timed-out attempt of hang" "$hang_pgid" 5
check_run_invariants "$run"

# 2. Ignores SIGTERM: killed after the 5 s grace; the run fails.
started_ns=$(date +%s%N)
SUBMIT_TIMEOUT_S=30 submit_wait 1 "$ws/stubborn.yaml"
run=$RUN
took=$(ms_since "$started_ns")
echo "$IT_NAME: stubborn run took $took ms (1 s timeout + SIGKILL grace)"
assert_eq "state of the stubborn run" failed "$(run_state "$run")"
assert_eq "state of step stubborn" failed "$(step_field "$run" stubborn state)"
assert_eq "state of step after" skipped "$(step_field "$run" after state)"
assert_eq "attempt 1 of stubborn (timed_out, failure)" "True user" \
  "$(attempts_of "$run" stubborn "str(a[0]['timed_out']) + ' ' + a[0]['failure']")"
assert_eq "attempts of stubborn (retries: 0)" 1 "$(step_field "$run" stubborn attempts)"
stubborn_signal=$(attempts_of "$run" stubborn "a[0]['signal']")
assert_eq "signal that ended stubborn (SIGKILL, since it ignores SIGTERM)" 9 "$stubborn_signal"
assert_contains "error of stubborn" "$(step_field "$run" stubborn error)" "time"
stubborn_pgid=$(cat "$MARK/stubborn.pid")
wait_group_gone "the stubborn step that ignores SIGTERM" "$stubborn_pgid" 5
expect_exit 0 "$RECETA" logs "$run" stubborn
assert_contains "log of stubborn" "$OUT" "ignoring SIGTERM"
check_run_invariants "$run"
