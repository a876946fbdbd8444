#!/usr/bin/env bash
# Retries: a step that fails twice then succeeds, with retries: 3, succeeds
# on its third attempt with two user failures, each attempt keeping its own
# log, and waits in "retrying" (step_retrying events) between attempts;
# retry_on: [3] retries exit 3 and not exit 4; `receta retry RUN` resumes a
# failed run under the same id, running the failed step and what is
# downstream of it again and keeping the steps that succeeded.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"
# flaky counts its tries in $MARK/flaky.count and fails the first two.
cat >"$ws/flaky.yaml" <<YAML
name: flaky
defaults:
  env: {MARK: "$MARK"}
steps:
  flaky:
    retries: 3
    retry_backoff: 300ms
    run: |
      n=\$(( \$(cat "\$MARK/flaky.count" 2>/dev/null || echo 0) + 1 ))
      echo \$n > "\$MARK/flaky.count"
      echo flaky >> "\$MARK/ran.log"
      echo "flaky try \$n is attempt \$RECETA_ATTEMPT"
      if [ \$n -lt 3 ]; then echo "try \$n fails" >&2; exit 1; fi
      cp in.txt flaky.txt
    inputs: [in.txt]
    outputs: [flaky.txt]
YAML
# on3 exits 3 once (retried: 3 is in retry_on); on4 exits 4 (not retried).
cat >"$ws/retry_on.yaml" <<YAML
name: retry-on
defaults:
  env: {MARK: "$MARK"}
  retries: 3
  retry_backoff: 100ms
  retry_on: [3]
steps:
  on3:
    run: |
      echo on3 >> "\$MARK/ran.log"
      if [ ! -e "\$MARK/on3.once" ]; then touch "\$MARK/on3.once"; exit 3; fi
      cp in.txt on3.txt
    inputs: [in.txt]
    outputs: [on3.txt]
  on4:
    run: echo on4 >> "\$MARK/ran.log"; echo "exit 4 is not in retry_on"; exit 4
    inputs: [in.txt]
    outputs: [on4.txt]
YAML
# resume: a and d succeed; b fails until $MARK/fixed exists; c needs b.
cat >"$ws/resume.yaml" <<YAML
name: resume
defaults:
  env: {MARK: "$MARK"}
  retries: 0
steps:
  a:
    run: echo a >> "\$MARK/ran.log"; cp in.txt a.txt
    inputs: [in.txt]
    outputs: [a.txt]
  b:
    run: |
      echo b >> "\$MARK/ran.log"
      [ -e "\$MARK/fixed" ] || { echo "b is broken" >&2; exit 1; }
      cat a.txt a.txt > b.txt
    inputs: [a.txt]
    outputs: [b.txt]
  c:
    run: echo c >> "\$MARK/ran.log"; cat b.txt > c.txt
    inputs: [b.txt]
    outputs: [c.txt]
  d:
    run: echo d >> "\$MARK/ran.log"; cp in.txt d.txt
    inputs: [in.txt]
    outputs: [d.txt]
YAML

fault_start_scheduler
start_worker w1

# 1. Fails twice, then succeeds.
submit "$ws/flaky.yaml"
run=$RUN
# "retrying" lasts 300 ms, then 600 ms: watch for it while the run goes.
saw_retrying=no
deadline=$(($(date +%s%N) + 30000000000))
while ! run_finished "$run"; do
  [ "$(date +%s%N)" -lt "$deadline" ] || fail "run $run did not finish within 30 s"
  if step_state_is "$run" flaky retrying; then saw_retrying=yes; fi
done
echo "$IT_NAME: state retrying observed while polling: $saw_retrying"
assert_eq "state of the flaky run" succeeded "$(run_state "$run")"
assert_eq "attempts of flaky" 3 "$(step_field "$run" flaky attempts)"
assert_eq "user_failures of flaky" 2 "$(step_field "$run" flaky user_failures)"
assert_eq "system_failures of flaky" 0 "$(step_field "$run" flaky system_failures)"
assert_eq "attempt states of flaky" "failed:user failed:user succeeded:" \
  "$(attempts_of "$run" flaky "' '.join(x['state'] + ':' + x['failure'] for x in a)")"
assert_eq "step_retrying events of flaky" 2 "$(event_count "$run" step_retrying flaky)"
for n in 1 2 3; do
  expect_exit 0 "$RECETA" logs "$run" flaky --attempt "$n"
  assert_contains "log of attempt $n" "$OUT" "flaky try $n is attempt $n"
  for other in 1 2 3; do
    [ "$other" = "$n" ] || assert_not_contains "log of attempt $n" "$OUT" "flaky try $other "
  done
done
expect_exit 0 "$RECETA" logs "$run" flaky --attempt 1
assert_contains "stderr of attempt 1 in its log" "$OUT" "try 1 fails"
# Backoff: attempt 2 starts at least 300 ms (less jitter) after attempt 1 ends.
gap=$(attempts_of "$run" flaky "a[1]['dispatched_ms'] - a[0]['finished_ms']")
[ "$gap" -ge 150 ] || fail "attempt 2 of flaky was dispatched $gap ms after attempt 1 ended, expected a backoff of about 300 ms"
echo "$IT_NAME: backoff before attempts 2 and 3: $gap ms, $(attempts_of "$run" flaky "a[2]['dispatched_ms'] - a[1]['finished_ms']") ms"
check_run_invariants "$run"

# 2. retry_on: [3].
submit_wait 1 "$ws/retry_on.yaml"
run=$RUN
assert_eq "state of on3 (exit 3 is retried)" succeeded "$(step_field "$run" on3 state)"
assert_eq "attempts of on3" 2 "$(step_field "$run" on3 attempts)"
assert_eq "state of on4 (exit 4 is not retried)" failed "$(step_field "$run" on4 state)"
assert_eq "attempts of on4" 1 "$(step_field "$run" on4 attempts)"
assert_eq "exit code of on4" 4 "$(step_field "$run" on4 exit_code)"
assert_eq "step_retrying events of on4" 0 "$(event_count "$run" step_retrying on4)"
check_run_invariants "$run"

# 3. receta retry RUN on a failed run.
n=$(ran_count)
submit_wait 1 "$ws/resume.yaml"
run=$RUN
assert_eq "states after the first try" "a=succeeded b=failed c=skipped d=succeeded" "$(step_states "$run")"
assert_eq "commands of the first try" "a b d" "$(ran_since "$n")"
a_attempt=$(attempts_of "$run" a "a[0]['id']")
touch "$MARK/fixed"
n=$(ran_count)
expect_exit 0 "$RECETA" retry "$run"
assert_contains "receta retry prints the run" "$OUT" "$run"
wait_for "run $run finishes after receta retry" 30 run_finished "$run"
assert_eq "state of the resumed run" succeeded "$(run_state "$run")"
assert_eq "states after receta retry" "a=succeeded b=succeeded c=succeeded d=succeeded" "$(step_states "$run")"
assert_eq "commands run by receta retry (the failed step and downstream)" "b c" "$(ran_since "$n")"
assert_eq "attempts of a (kept)" "$a_attempt" "$(attempts_of "$run" a "' '.join(x['id'] for x in a)")"
assert_eq "attempts of b" "failed succeeded" "$(attempts_of "$run" b "' '.join(x['state'] for x in a)")"
assert_eq "runs (receta retry makes no new run)" 3 "$("$RECETA" runs --json | jpy "len(d)")"
"$RECETA" artifacts get "$run" c c.txt -o "$T/c.txt" >/dev/null || fail "artifacts get c.txt"
assert_eq "c.txt" "$(printf 'payload\npayload')" "$(cat "$T/c.txt")"
check_run_invariants "$run"
