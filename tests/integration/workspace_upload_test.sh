#!/usr/bin/env bash
# receta submit gets a workspace's new files to the scheduler: the small
# ones inline with the SubmitRun (up to 256 KiB in all), the rest uploaded
# first. A workspace of both kinds runs on exactly its files' bytes; a
# second submit sends nothing and every step is cached; a file changed
# between submits is sent again.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ws="$T/ws"
mkdir -p "$ws/small" "$ws/big"
for i in $(seq 1 40); do echo "row $i of the small file $i" >"$ws/small/$i.csv"; done
head -c 200000 /dev/urandom >"$ws/big/a.bin"  # two of these pass the inline limit
head -c 200000 /dev/urandom >"$ws/big/b.bin"
head -c 1500000 /dev/urandom >"$ws/big/c.bin"  # over the limit on its own
cat >"$ws/dag.yaml" <<YAML
name: workspace-upload
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  digest:
    run: |
      echo digest >> "\$MARK/ran.log"
      sha256sum small/*.csv big/*.bin > sums.txt
    inputs: [small, big]
    outputs: [sums.txt]
YAML
(cd "$ws" && sha256sum small/*.csv big/*.bin) >"$T/expected.txt"

start_scheduler
start_worker w1

submit_wait 0 "$ws/dag.yaml"
assert_eq "run state" succeeded "$(run_state "$RUN")"
assert_contains "submit says what it sends" "$ERR" "uploading 43 files"
"$RECETA" artifacts get "$RUN" digest sums.txt -o "$T/sums.txt" >/dev/null || fail "artifacts get sums.txt"
assert_file_eq "the step read exactly the workspace's bytes" "$T/sums.txt" "$(cat "$T/expected.txt")"

# The stat cache is saved once the run is submitted (not before: its
# fsyncs are off the submit's path), so the next submit reads no file.
cache_files=$(find "$HOME/.cache/receta" -name 'stat-cache-*' ! -name '*.tmp.*' 2>/dev/null | wc -l)
assert_eq "stat cache files of the workspace after the first submit" 1 "$cache_files"
submit_wait 0 "$ws/dag.yaml"
assert_not_contains "a second submit sends nothing" "$ERR" "uploading"
assert_eq "state of step digest on the second submit" cached "$(step_field "$RUN" digest state)"

echo "row 1, changed" >"$ws/small/1.csv"
(cd "$ws" && sha256sum small/*.csv big/*.bin) >"$T/expected.txt"
submit_wait 0 "$ws/dag.yaml"
assert_contains "the changed file is sent" "$ERR" "uploading 1 file"
"$RECETA" artifacts get "$RUN" digest sums.txt -o "$T/sums.txt" >/dev/null || fail "artifacts get sums.txt"
assert_file_eq "the step read the changed file" "$T/sums.txt" "$(cat "$T/expected.txt")"
assert_eq "commands run" "digest digest" "$(sort "$MARK/ran.log" | tr '\n' ' ' | sed 's/ $//')"
