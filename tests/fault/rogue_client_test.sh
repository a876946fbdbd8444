#!/usr/bin/env bash
# A rogue client on the scheduler's port while a run is in progress
# (tests/fault/rogue_zmtp.py, ZMTP and msgpack by hand): garbage header
# frames, truncated msgpack, headers claiming huge arrays, maps and strings,
# oversized frames, messages of 10,000 frames, ZMTP-level garbage, and worker
# messages from a peer that never registered, forging the running attempt's
# start, log, result and an upload. The scheduler keeps serving (`receta
# runs` answers after every phase), believes none of the forgeries (the
# step's result, output and log are the real worker's), and the run
# completes.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"
cat >"$ws/dag.yaml" <<YAML
name: rogue
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  slow:
    run: |
      echo slow >> "\$MARK/ran.log"
      echo "real log line of slow"
      touch "\$MARK/slow.started"
      while [ ! -e "\$MARK/go" ]; do sleep 0.05; done
      tr a-z A-Z < in.txt > slow.txt
    inputs: [in.txt]
    outputs: [slow.txt]
  after:
    run: echo after >> "\$MARK/ran.log"; rev slow.txt > after.txt
    inputs: [slow.txt]
    outputs: [after.txt]
YAML

fault_start_scheduler
start_worker w1
submit "$ws/dag.yaml"
run=$RUN
wait_for "step slow starts" 15 test -e "$MARK/slow.started"
wait_for "the scheduler sees slow running" 10 step_state_is "$run" slow running
attempt=$(attempts_of "$run" slow "a[0]['id']")
port=${SCHED_ENDPOINT##*:}

started_ns=$(date +%s%N)
timeout 300 python3 "$IT_SRC/tests/fault/rogue_zmtp.py" "$port" "$RECETA" "$attempt" slow.txt >"$T/out/rogue.txt" 2>&1 ||
  fail "the rogue client's checks failed (exit $?): $(cat "$T/out/rogue.txt")"
sed "s/^/$IT_NAME: /" "$T/out/rogue.txt" | cut -c1-400
echo "$IT_NAME: the rogue phases took $(ms_since "$started_ns") ms"
kill -0 "$SCHED_PID" || fail "the scheduler died during the rogue traffic"
assert_eq "state of slow after the forgeries (the real worker still runs it)" running "$(step_field "$run" slow state)"
assert_eq "attempts of slow after the forgeries" "$attempt" "$(attempts_of "$run" slow "' '.join(x['id'] for x in a)")"
worker_connected w1 || fail "worker w1 is no longer connected after the rogue traffic"

touch "$MARK/go"
wait_for "run $run finishes" 30 run_finished "$run"
assert_eq "state of the run" succeeded "$(run_state "$run")"
assert_eq "commands run" "after slow" "$(sort "$MARK/ran.log" | tr '\n' ' ' | sed 's/ $//')"
assert_eq "worker of slow" w1 "$(step_field "$run" slow worker)"
real_digest=$(printf 'PAYLOAD\n' | sha256sum | cut -d' ' -f1)
assert_eq "digest of slow.txt (the real one, not the forged 00...)" "$real_digest" \
  "$(digest_hex "$("$RECETA" artifacts ls "$run" slow --json | jpy "d[0]['digest']")")"
expect_exit 0 "$RECETA" logs "$run" slow
assert_contains "log of slow" "$OUT" "real log line of slow"
assert_not_contains "log of slow (no forged chunks)" "$OUT" "ROGUE-LOG"
"$RECETA" artifacts get "$run" after after.txt -o "$T/after.txt" >/dev/null || fail "artifacts get after.txt"
assert_file_eq "after.txt" "$T/after.txt" "DAOLYAP"
! cas_holds "$(printf 'ab%.0s' {1..32})" || fail "the rogue's upload of 10 wrong bytes was stored in the CAS"
expect_exit 0 timeout 10 "$RECETA" runs
assert_contains "receta runs lists the run" "$OUT" "$run"
assert_not_contains "scheduler log" "$(cat "$T/logs/scheduler.log")" "Assertion"
check_run_invariants "$run"
