#!/usr/bin/env bash
# The CLI's errors against a real scheduler (and without one): usage errors
# exit 2, failures exit 1 with a message saying what and where, a bad DAG is
# refused before anything is uploaded, and no scheduler at the endpoint is a
# clear error within a bounded time, not a hang.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo x >"$ws/in.txt"
cat >"$ws/dag.yaml" <<YAML
name: cli
params: {n: 1}
defaults: {retries: 0}
steps:
  one:
    run: echo "n={{params.n}}" > out.txt
    inputs: [in.txt]
    outputs: [out.txt]
YAML
cat >"$ws/bad.yaml" <<YAML
steps:
  one:
    run: echo hi
    inputs: [missing-input.txt]
    outputs: [out.txt]
    retries: three
YAML

# No scheduler: a closed port on loopback.
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_ns=$(date +%s%N)
expect_exit 1 timeout 30 "$RECETA" runs --scheduler "tcp://127.0.0.1:$closed_port"
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
assert_contains "error without a scheduler names the endpoint" "$ERR" "tcp://127.0.0.1:$closed_port"
[ "$elapsed_ms" -lt 15000 ] || fail "receta runs without a scheduler took ${elapsed_ms} ms"
RECETA_SCHEDULER="tcp://127.0.0.1:$closed_port" expect_exit 1 timeout 30 "$RECETA" workers
assert_contains "RECETA_SCHEDULER is used" "$ERR" "tcp://127.0.0.1:$closed_port"

start_scheduler
start_worker w1

# Usage errors: exit 2.
expect_exit 2 "$RECETA" submit
expect_exit 2 "$RECETA" status
expect_exit 2 "$RECETA" logs
expect_exit 2 "$RECETA" artifacts
expect_exit 2 "$RECETA" cache
expect_exit 2 "$RECETA" runs --no-such-flag

# DAG problems: exit 1, nothing submitted.
runs_before=$("$RECETA" runs --json | jpy "len(d)")
expect_exit 1 "$RECETA" submit "$ws/no-such.yaml"
assert_contains "submit of a missing file" "$ERR" "no-such.yaml"
expect_exit 1 "$RECETA" submit "$ws/bad.yaml"
assert_contains "submit of an invalid DAG gives file:line:col" "$ERR" "bad.yaml:6:14"
expect_exit 1 "$RECETA" submit "$ws/dag.yaml" -p nn=2
assert_contains "submit with an unknown param" "$ERR" "did you mean 'n'"
expect_exit 1 "$RECETA" submit "$ws/dag.yaml" -p n=many
assert_contains "submit with a mistyped param" "$ERR" "param 'n' is an integer"
assert_eq "runs after refused submissions" "$runs_before" "$("$RECETA" runs --json | jpy "len(d)")"

# The happy path of each read verb, text and JSON.
submit_wait 0 "$ws/dag.yaml" -p n=5
run=$RUN
for verb in runs workers "cache ls"; do
  # shellcheck disable=SC2086
  expect_exit 0 "$RECETA" $verb
  # shellcheck disable=SC2086
  expect_exit 0 "$RECETA" $verb --json
  printf '%s' "$OUT" | python3 -c 'import json, sys; json.load(sys.stdin)' ||
    fail "receta $verb --json printed invalid JSON: [$OUT]"
done
expect_exit 0 "$RECETA" status "$run"
assert_contains "receta status (text) names the step" "$OUT" "one"
expect_exit 0 "$RECETA" watch "$run"
assert_contains "receta watch of a finished run" "$OUT" "succeeded"
expect_exit 0 "$RECETA" artifacts ls "$run"
assert_contains "artifacts ls" "$OUT" "out.txt"
expect_exit 0 "$RECETA" artifacts get "$run" one out.txt -o "$T/out.txt"
assert_file_eq "the fetched artifact" "$T/out.txt" "n=5"
assert_eq "params in the run's status" 5 "$(run_field "$run" params | jpy "d['n']")"
