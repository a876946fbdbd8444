#!/usr/bin/env bash
# Bad requests to the scheduler: garbage bytes on its TCP port (no ZMTP
# greeting, a truncated greeting, a megabyte of noise, an idle connection)
# are dropped and it keeps serving; an unknown run, an unknown step and an
# unknown artifact get a clear error naming what was not found.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo x >"$ws/in.txt"
cat >"$ws/dag.yaml" <<YAML
name: tiny
defaults: {retries: 0}
steps:
  only:
    run: echo "only ran"; cp in.txt out.txt
    inputs: [in.txt]
    outputs: [out.txt]
YAML

start_scheduler
start_worker w1
port=${SCHED_ENDPOINT##*:}

# Garbage on the socket, several ways, while a client is idle-connected.
python3 - "$port" <<'PY' || fail "could not talk to the scheduler's port $port"
import os, socket, sys, time
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(2)
    return s
idle = conn()                                    # held open, silent, for the whole test
payloads = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",         # not ZMTP at all
    b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f",  # a truncated ZMTP greeting
    os.urandom(1 << 20),                          # a megabyte of noise
    b"\xff" + b"\x00" * 7 + b"\x01\x7f\x03\x00NULL" + b"\x00" * 16 + b"\x00" * 32 +
    b"\x06" + b"\xff" * 8,                         # greeting, then a 2^64-1 byte command
]
for p in payloads:
    s = conn()
    try:
        s.sendall(p)
        s.recv(64)
    except OSError:
        pass                                      # being dropped is fine
    s.close()
for _ in range(50):                               # connect and hang up, quickly
    conn().close()
idle.close()
PY

wait_for "the scheduler answers 'receta runs' after the garbage" 5 "$RECETA" runs --json
kill -0 "$SCHED_PID" || fail "the scheduler died after garbage bytes"
submit_wait 0 "$ws/dag.yaml"
run=$RUN

# Unknown run: exit 1, the message names the id.
for verb in status watch cancel; do
  expect_exit 1 timeout 10 "$RECETA" "$verb" no-such-run-42
  assert_contains "receta $verb of an unknown run" "$ERR" "no-such-run-42"
done
expect_exit 1 timeout 10 "$RECETA" status no-such-run-42 --json
assert_contains "receta status --json of an unknown run" "$ERR" "no-such-run-42"
expect_exit 1 timeout 10 "$RECETA" logs no-such-run-42 only
assert_contains "receta logs of an unknown run" "$ERR" "no-such-run-42"
expect_exit 1 timeout 10 "$RECETA" artifacts ls no-such-run-42
assert_contains "receta artifacts ls of an unknown run" "$ERR" "no-such-run-42"

# Unknown step of a known run: the message names the step (and the run's steps).
expect_exit 1 timeout 10 "$RECETA" logs "$run" nosuchstep
assert_contains "receta logs of an unknown step" "$ERR" "nosuchstep"
expect_exit 1 timeout 10 "$RECETA" logs "$run" only --attempt 9
assert_contains "receta logs of an unknown attempt" "$ERR" "9"
expect_exit 1 timeout 10 "$RECETA" artifacts ls "$run" nosuchstep
assert_contains "receta artifacts ls of an unknown step" "$ERR" "nosuchstep"
expect_exit 1 timeout 10 "$RECETA" artifacts get "$run" only no/such/path -o "$T/x"
assert_contains "receta artifacts get of an unknown path" "$ERR" "no/such/path"
[ ! -e "$T/x" ] || fail "artifacts get of an unknown path created $T/x"
expect_exit 1 timeout 10 "$RECETA" cache rm 0000000000000000000000000000000000000000000000000000000000000000
assert_contains "receta cache rm of an unknown key" "$ERR" "0000000000"

# A known step's logs still work, and the scheduler is still alive and serving.
expect_exit 0 timeout 10 "$RECETA" logs "$run" only
assert_contains "logs of step only" "$OUT" "only ran"
expect_exit 0 timeout 10 "$RECETA" runs
assert_contains "receta runs lists the run" "$OUT" "$run"
kill -0 "$SCHED_PID" || fail "the scheduler died during the bad requests"
assert_not_contains "scheduler log" "$(cat "$T/logs/scheduler.log")" "Assertion"
