#!/usr/bin/env bash
# Alerts: a failing step with a webhook alert on [failure, retry] posts one
# JSON document per event to a local HTTP server (event, run, step, error,
# the step's last log line in log_tail, a text summary, ...), and a
# `command:` sink gets the same document on stdin; each delivery is an
# alert_delivered event. With the server down, delivery is retried and then
# given up (alert_failed, with the reason) after --alert-give-up-after. A
# 100-step run alerting a down server and the same run without alerts both
# finish; their durations are printed, not compared.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"

fault_start_scheduler --alert-give-up-after 2s --alert-first-retry 200ms
start_worker w1 --slots 2
start_webhook_sink up
up_port=$SINK_PORT
up_dir=$SINK_DIR
mkdir -p "$MARK/cmd"

cat >"$ws/alerted.yaml" <<YAML
name: alerted
defaults:
  env: {MARK: "$MARK"}
alerts:
  - on: [failure]
    command: 'cat > "\$(mktemp $MARK/cmd/alert.XXXXXX)"'
steps:
  bad:
    retries: 1
    retry_backoff: 100ms
    alerts:
      - on: [failure, retry]
        webhook: http://127.0.0.1:$up_port/hook
    run: |
      echo bad >> "\$MARK/ran.log"
      echo "some output of attempt \$RECETA_ATTEMPT"
      echo "the last line before failing"
      exit 2
    inputs: [in.txt]
    outputs: [bad.txt]
YAML

# 1. retry, then failure: two POSTs, one command run.
submit_wait 1 "$ws/alerted.yaml"
run=$RUN
assert_eq "attempts of bad" 2 "$(step_field "$run" bad attempts)"
wait_for "the webhook gets 2 alerts (retry, failure)" 15 files_at_least "$up_dir" 2
wait_for "the command sink writes its alert" 15 files_at_least "$MARK/cmd" 1 'alert.*'
attempt_ids=$(attempts_of "$run" bad "' '.join(x['id'] for x in a)")
python3 - "$up_dir" "$MARK/cmd" "$run" "$attempt_ids" <<'PY' || fail "the alert documents are not as expected (above)"
import glob, json, os, sys
up_dir, cmd_dir, run, attempts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
fields = ["text", "event", "run", "dag", "step", "attempt", "attempt_number", "worker", "state",
          "error", "time", "log_tail", "see_more"]
problems = []
def check(doc, where, event, number):
    missing = [f for f in fields if f not in doc]
    if missing:
        problems.append(f"{where}: missing fields {missing}")
    want = {"event": event, "run": run, "dag": "alerted", "step": "bad", "attempt_number": number,
            "attempt": attempts[number - 1] if len(attempts) >= number else "?", "worker": "w1"}
    for k, v in want.items():
        if doc.get(k) != v:
            problems.append(f"{where}: {k} is {doc.get(k)!r}, expected {v!r}")
    if "exited with code 2" not in str(doc.get("error")):
        problems.append(f"{where}: error {doc.get('error')!r} does not say 'exited with code 2'")
    tail = doc.get("log_tail")
    if not isinstance(tail, list) or not tail or tail[-1] != "the last line before failing":
        problems.append(f"{where}: log_tail {tail!r} does not end with the step's last output line")
    elif f"some output of attempt {number}" not in tail:
        problems.append(f"{where}: log_tail {tail!r} is not attempt {number}'s log")
    if not isinstance(doc.get("text"), str) or "bad" not in doc.get("text", ""):
        problems.append(f"{where}: text {doc.get('text')!r} does not name the step")
    if run not in str(doc.get("see_more")):
        problems.append(f"{where}: see_more {doc.get('see_more')!r} does not name the run")
posts = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(up_dir, "*.json")))]
events = sorted(d.get("event") for d in posts)
if events != ["failure", "retry"]:
    problems.append(f"webhook: got events {events}, expected one retry and one failure")
for d in posts:
    if d.get("event") == "retry":
        check(d, "webhook retry alert", "retry", 1)
    elif d.get("event") == "failure":
        check(d, "webhook failure alert", "failure", 2)
cmds = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(cmd_dir, "alert.*")))]
if len(cmds) != 1:
    problems.append(f"command sink: {len(cmds)} documents, expected 1 (failure)")
else:
    check(cmds[0], "command failure alert", "failure", 2)
for p in problems:
    print("alerts: " + p, file=sys.stderr)
if not problems:
    print("alerts: the retry and failure documents: " + json.dumps(posts[0], sort_keys=True)[:400] + " ...")
sys.exit(1 if problems else 0)
PY
delivered() { [ "$(event_count "$run" alert_delivered)" -ge 3 ]; }
wait_for "3 alert_delivered events (2 webhook, 1 command)" 10 delivered
assert_eq "alert_failed events of a run whose sinks are up" 0 "$(event_count "$run" alert_failed)"
check_run_invariants "$run"

# 2. The webhook is down: retried, then given up after 2 s.
down_port=$(free_port)
sed -e "s/$up_port/$down_port/" -e 's/name: alerted/name: alerted-down/' "$ws/alerted.yaml" >"$ws/down.yaml"
sent_ns=$(date +%s%N)
submit_wait 1 "$ws/down.yaml"
run=$RUN
finished_ms=$(run_field "$run" finished_ms)
gave_up() { [ "$(event_count "$run" alert_failed)" -ge 2 ]; }
wait_for "alert_failed events for the retry and failure alerts to the down webhook" 20 gave_up
echo "$IT_NAME: both undeliverable alerts given up $(ms_since "$sent_ns") ms after the submit"
events_json "$run" >"$T/out/down-events.json"
python3 - "$T/out/down-events.json" "$down_port" "$finished_ms" <<'PY' || fail "alert_failed events are not as expected (above)"
import json, sys
events, port, finished_ms = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
failed = [e for e in events if e["kind"] == "alert_failed"]
problems = []
for e in failed:
    print(f"alerts: alert_failed: {e['message']}")
    if not e["message"].strip():
        problems.append(f"alert_failed event {e['seq']} gives no reason")
    if e["time_ms"] < finished_ms:
        problems.append(f"alert_failed event {e['seq']} at {e['time_ms']} came before the run finished "
                        f"({finished_ms}), although delivery is retried for 2 s")
delivered = [e for e in events if e["kind"] == "alert_delivered"]
if len(delivered) != 1:  # only the command sink
    problems.append(f"{len(delivered)} alert_delivered events, expected 1 (the command sink): "
                    f"{[e['message'] for e in delivered]}")
for p in problems:
    print("alerts: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
assert_eq "posts received by the up webhook during the down test" 2 "$(files_in "$up_dir")"
check_run_invariants "$run"

# 3. 100 steps, each alerting a down webhook on success, vs no alerts.
python3 - "$ws" "$down_port" <<'PY'
import sys
ws, port = sys.argv[1], sys.argv[2]
for name, alerts in (("many-alerted", True), ("many-quiet", False)):
    lines = [f"name: {name}", "steps:"]
    for i in range(100):
        lines += [f"  s{i}:", f"    run: echo s{i} > s{i}.txt", "    inputs: [in.txt]", f"    outputs: [s{i}.txt]"]
        if alerts:
            lines += ["    alerts:", f"      - {{on: [success, failure], webhook: 'http://127.0.0.1:{port}/hook'}}"]
    open(f"{ws}/{name}.yaml", "w").write("\n".join(lines) + "\n")
PY
declare -A took=()
for dag in many-alerted many-quiet; do
  submit_wait 0 "$ws/$dag.yaml" --no-cache
  took[$dag]=$(run_field "$RUN" duration_ms)
  check_run_invariants "$RUN"
done
echo "$IT_NAME: 100-step run alerting a down webhook: ${took[many-alerted]} ms; the same run without alerts: ${took[many-quiet]} ms"
kill -0 "$SCHED_PID" || fail "the scheduler died"
