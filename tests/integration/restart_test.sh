#!/usr/bin/env bash
# Restart the scheduler between two runs: the run history, the step logs and
# the cache survive, the workers find it again, and the second run is fully
# cached (no command runs).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo hello >"$ws/in.txt"
cat >"$ws/dag.yaml" <<YAML
name: restart
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  first:
    run: |
      echo first >> "\$MARK/ran.log"
      echo "log line from first on stdout"
      echo "log line from first on stderr" >&2
      tr a-z A-Z < in.txt > out/first.txt
    inputs: [in.txt]
    outputs: [out/first.txt]
  second:
    run: |
      echo second >> "\$MARK/ran.log"
      echo "second saw \$(cat out/first.txt)"
      rev out/first.txt > out/second.txt
    inputs: [out/first.txt]
    outputs: [out/second.txt]
YAML

start_scheduler
start_worker w1
start_worker w2

submit_wait 0 "$ws/dag.yaml"
run1=$RUN
expect_exit 0 "$RECETA" logs "$run1" first
logs_before=$OUT
assert_contains "logs of first (stdout)" "$logs_before" "log line from first on stdout"
assert_contains "logs of first (stderr)" "$logs_before" "log line from first on stderr"
status_before=$(status_json "$run1" | jpy "[(s['name'], s['state'], s['cache_key']) for s in d['steps']]")
entries_before=$("$RECETA" cache ls --json | jpy "sorted(e['key'] for e in d)")
digest_before=$("$RECETA" artifacts ls "$run1" second --json | jpy "[a['digest'] for a in d]")

restart_scheduler
wait_for "worker w1 re-registers after the restart" 15 worker_connected w1
wait_for "worker w2 re-registers after the restart" 15 worker_connected w2

assert_eq "runs after the restart" "$run1 succeeded" \
  "$("$RECETA" runs --json | jpy "' '.join(r['id'] + ' ' + r['state'] for r in d)")"
assert_eq "status of $run1 after the restart" "$status_before" \
  "$(status_json "$run1" | jpy "[(s['name'], s['state'], s['cache_key']) for s in d['steps']]")"
expect_exit 0 "$RECETA" logs "$run1" first
assert_eq "logs of first after the restart" "$logs_before" "$OUT"
assert_eq "cache entries after the restart" "$entries_before" \
  "$("$RECETA" cache ls --json | jpy "sorted(e['key'] for e in d)")"
assert_eq "artifacts of second after the restart" "$digest_before" \
  "$("$RECETA" artifacts ls "$run1" second --json | jpy "[a['digest'] for a in d]")"

n=$(ran_count)
submit_wait 0 "$ws/dag.yaml"
assert_eq "steps that ran after the restart" "" "$(ran_since "$n")"
assert_eq "step states of the rerun" "first=cached second=cached" "$(step_states "$RUN")"
"$RECETA" artifacts get "$RUN" second out/second.txt -o "$T/second.txt" >/dev/null ||
  fail "artifacts get second after the restart"
assert_file_eq "out/second.txt" "$T/second.txt" "OLLEH"

# A crash (SIGKILL) mid-run: the restarted scheduler reloads the run and finishes it.
cat >"$ws/slow.yaml" <<YAML
name: slow
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  slow:
    run: |
      echo slow >> "\$MARK/ran.log"
      touch "\$MARK/slow.started"
      sleep 1
      echo done > out/slow.txt
    inputs: [in.txt]
    outputs: [out/slow.txt]
YAML
submit "$ws/slow.yaml"
slow_run=$RUN
wait_for "step slow starts" 10 test -e "$MARK/slow.started"
endpoint=$SCHED_ENDPOINT
kill_scheduler
SCHED_LISTEN=$endpoint start_scheduler
wait_for "run $slow_run finishes after the scheduler crashed" 30 run_finished "$slow_run"
assert_eq "state of the run interrupted by a crash" succeeded "$(run_state "$slow_run")"
assert_eq "runs known after the crash" 3 "$("$RECETA" runs --json | jpy "len(d)")"
