#!/usr/bin/env bash
# The three executables as a user meets them: --help and --version work,
# `receta` verbs give the documented exit codes, and `receta hash` agrees
# with sha256sum on files.
set -euo pipefail
bin="${RECETA_BIN_DIR:?set RECETA_BIN_DIR to the build directory}"
src="${RECETA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
receta="$bin/cli/receta"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_exit() {  # expect_exit CODE COMMAND...
  local want=$1; shift
  set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat "$tmp/err")"
}

version=$(sed -n 's/^project(receta VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
for exe in "$bin/scheduler/receta-scheduler" "$bin/worker/receta-worker" "$receta"; do
  name=$(basename "$exe")
  expect_exit 0 "$exe" --help
  grep -q "Usage" "$tmp/out" || fail "$name --help printed no usage"
  expect_exit 0 "$exe" --version
  grep -qx "$name $version" "$tmp/out" || fail "$name --version printed '$(cat "$tmp/out")'"
  expect_exit 2 "$exe" --no-such-flag
done

# Verbs and exit codes.
expect_exit 2 "$receta"
expect_exit 2 "$receta" dag
expect_exit 0 "$receta" dag validate "$src/dags/iris/iris.yaml"
grep -q "ok: DAG 'iris', 4 steps" "$tmp/out" || fail "validate summary: $(cat "$tmp/out")"
expect_exit 0 "$receta" dag validate "$src/dags/iris/iris.yaml" -p n_estimators=10 -p seed=1
expect_exit 1 "$receta" dag validate "$src/dags/iris/iris.yaml" -p n_estimators=many
grep -q "param 'n_estimators' is an integer" "$tmp/err" || fail "typed override: $(cat "$tmp/err")"
expect_exit 1 "$receta" dag validate "$src/dags/iris/iris.yaml" -p seeed=1
grep -q "did you mean 'seed'" "$tmp/err" || fail "unknown override: $(cat "$tmp/err")"
expect_exit 1 "$receta" dag validate "$tmp/missing.yaml"
grep -q "cannot open the DAG file" "$tmp/err" || fail "missing file: $(cat "$tmp/err")"

cat >"$tmp/bad.yaml" <<'YAML'
steps:
  a:
    run: echo a
    inputs: [b.txt]
    outputs: [a.txt]
    retries: three
  b:
    run: echo b
    inputs: [a.txt]
    outputs: [b.txt]
YAML
expect_exit 1 "$receta" dag validate "$tmp/bad.yaml"
grep -q "bad.yaml:6:14: error: \`retries\` of step 'a' must be an integer" "$tmp/err" ||
  fail "type error: $(cat "$tmp/err")"
grep -q "cycle: a -> b -> a" "$tmp/err" || fail "cycle: $(cat "$tmp/err")"
grep -q "^2 errors in" "$tmp/err" || fail "error count: $(cat "$tmp/err")"

# Warnings (a deploy step behind no gate) do not fail validation.
mkdir -p "$tmp/lint"
cat >"$tmp/lint/dag.yaml" <<'YAML'
steps:
  deploy:
    kind: deploy
    run: cp model.pkl /srv
    inputs: [model.pkl]
YAML
touch "$tmp/lint/model.pkl"
expect_exit 0 "$receta" dag validate "$tmp/lint/dag.yaml"
grep -q "dag.yaml:2:3: warning: deploy step 'deploy' runs behind no gate" "$tmp/err" ||
  fail "lint warning: $(cat "$tmp/err")"
grep -q "; 1 warning above" "$tmp/out" || fail "warning count: $(cat "$tmp/out")"

expect_exit 0 "$receta" dag show "$src/dags/sweep/sweep.yaml" --json
expect_exit 0 "$receta" dag graph "$src/dags/sweep/sweep.yaml" --format dot
expect_exit 2 "$receta" dag graph "$src/dags/sweep/sweep.yaml" --format png
expect_exit 0 "$receta" dag schema

# receta hash of a file matches sha256sum; a directory gets one digest.
printf 'hello receta\n' >"$tmp/file.txt"
expect_exit 0 "$receta" hash "$tmp/file.txt"
[ "$(cut -d' ' -f1 "$tmp/out")" = "$(sha256sum "$tmp/file.txt" | cut -d' ' -f1)" ] ||
  fail "hash differs from sha256sum: $(cat "$tmp/out")"
expect_exit 0 "$receta" hash "$src/dags/iris/src"
grep -Eq '^[0-9a-f]{64}  ' "$tmp/out" || fail "directory hash: $(cat "$tmp/out")"
expect_exit 1 "$receta" hash "$tmp/nope"
grep -q "nope" "$tmp/err" || fail "hash error names the path: $(cat "$tmp/err")"
# --scheduler works before the verb too; a bad endpoint is named, whichever
# place it came from (checked before any connection, so this is instant).
expect_exit 1 "$receta" --scheduler not-an-endpoint runs
grep -q "not-an-endpoint" "$tmp/err" || fail "bad endpoint before the verb: $(cat "$tmp/err")"
expect_exit 1 "$receta" runs --scheduler also-bad
grep -q "also-bad" "$tmp/err" || fail "bad endpoint after the verb: $(cat "$tmp/err")"
expect_exit 1 "$receta" --scheduler not-an-endpoint runs --scheduler also-bad
grep -q "also-bad" "$tmp/err" || fail "the verb's own --scheduler wins: $(cat "$tmp/err")"
echo "binaries_test: ok"
