#!/usr/bin/env bash
# CPU policy (common/os/thread_policy.h): the scheduler's and the worker's
# own threads run as SCHED_BATCH, so their wake-ups never preempt a step;
# the steps themselves, and the worker threads that start them, run under
# the normal policy (a step must not inherit batch).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v chrt >/dev/null || fail "chrt (util-linux) is required"

# policy PID: SCHED_OTHER, SCHED_BATCH, ... of one thread.
policy() { chrt -p "$1" | sed -n "s/.*current scheduling policy: //p"; }

ws="$T/ws"
mkdir -p "$ws"
echo x >"$ws/in.txt"
cat >"$ws/policy.yaml" <<YAML
name: policy
defaults: {retries: 0}
steps:
  probe:
    run: |
      chrt -p \$\$ | sed -n "s/.*current scheduling policy: //p" > policy.txt
      cat in.txt > /dev/null
    inputs: [in.txt]
    outputs: [policy.txt]
YAML

start_scheduler
start_worker w1
submit_wait 0 "$ws/policy.yaml"
"$RECETA" artifacts get "$RUN" probe policy.txt -o "$T/policy.txt" >/dev/null || fail "artifacts get policy.txt"
assert_eq "policy of the step's shell" SCHED_OTHER "$(cat "$T/policy.txt")"

# Every scheduler thread (ZeroMQ's I/O thread, RocksDB's) inherits it from
# the main thread.
for task in /proc/"$SCHED_PID"/task/*; do
  got=$(policy "${task##*/}" || true)
  [ -n "$got" ] || continue  # the thread ended meanwhile
  assert_eq "policy of scheduler thread ${task##*/} ($(cat "$task/comm" 2>/dev/null))" SCHED_BATCH "$got"
done
# The worker's main and I/O threads too; its attempt threads (idle now)
# went back to normal, which the step's own policy above shows.
worker=${WORKER_PID[w1]}
assert_eq "policy of the worker's main thread" SCHED_BATCH "$(policy "$worker")"
for task in /proc/"$worker"/task/*; do
  [ "$(cat "$task/comm" 2>/dev/null)" = "ZMQbg/IO/0" ] || continue
  assert_eq "policy of the worker's ZeroMQ I/O thread" SCHED_BATCH "$(policy "${task##*/}")"
done
