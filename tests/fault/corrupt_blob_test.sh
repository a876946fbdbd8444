#!/usr/bin/env bash
# A corrupted blob in the scheduler's CAS: step A's output, consumed by B,
# has one byte flipped on disk after run 1. Run 2 changes B's command (so B
# runs again, on a fresh worker that never held A's output, so it must fetch
# it from the scheduler) while A's cache key is unchanged. The corruption is
# detected when the blob is read, the blob is dropped, A runs again and B
# gets the correct bytes; the run succeeds and the CAS holds the blob intact
# again. Nothing in this is B's fault: B has no user failure.
# A's output is CORRUPT_BLOB_LINES lines of seq: 30000 (~170 KB) rides
# inline in B's Dispatch, where the scheduler checks it as it attaches it;
# corrupt_download_test.sh runs this with one past the inline limit, which
# B's worker downloads, verifies and reports (BlobDamaged).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

ws="$T/ws"
mkdir -p "$ws"
echo "${CORRUPT_BLOB_LINES:-30000}" >"$ws/n.txt"
# A is deterministic (the same bytes every time it runs); B records the
# SHA-256 of what it read.
cat >"$ws/dag.yaml" <<YAML
name: corrupt
params: {salt: 1}
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  A:
    run: echo A >> "\$MARK/ran.log"; seq 1 \$(cat n.txt) > a.bin
    inputs: [n.txt]
    outputs: [a.bin]
  B:
    run: |
      echo B >> "\$MARK/ran.log"
      echo "salt {{params.salt}}"
      sha256sum a.bin | cut -c1-64 > b.txt
    inputs: [a.bin]
    outputs: [b.txt]
YAML

fault_start_scheduler
start_worker w1
submit_wait 0 "$ws/dag.yaml"
run1=$RUN
digest=$(digest_hex "$("$RECETA" artifacts ls "$run1" A --json | jpy "d[0]['digest']")")
blob="$SCHED_DATA/cas/${digest:0:2}/$digest"
[ -f "$blob" ] || fail "A's output blob is not at $blob; CAS holds: $(find "$SCHED_DATA/cas" -type f | head)"
assert_eq "sha256 of A's blob before the corruption" "$digest" "$(sha256_of "$blob")"
"$RECETA" artifacts get "$run1" B b.txt -o "$T/b1.txt" >/dev/null || fail "artifacts get b.txt of run 1"
assert_file_eq "B's record of a.bin in run 1" "$T/b1.txt" "$digest"

# Flip one byte in the middle of the stored blob (same size, wrong bytes).
python3 - "$blob" <<'PY'
import os, sys
path = sys.argv[1]
mode = os.stat(path).st_mode
os.chmod(path, mode | 0o200)
with open(path, "r+b") as f:
    size = f.seek(0, 2)
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0x01]))
os.chmod(path, mode)
PY
assert_ne "sha256 of A's blob after the corruption" "$digest" "$(sha256_of "$blob")"

# B must now read a.bin from the scheduler: w1 (which holds it) goes away and
# a fresh worker w2 takes its place.
stop_worker w1
# Why wait: a worker that stops says no goodbye; until --worker-timeout the
# scheduler could still hand B to w1.
w1_gone() { [ "$(worker_field w1 connected)" = false ]; }
wait_for "the scheduler sees w1 gone" 15 w1_gone
start_worker w2
n=$(ran_count)
submit_wait 0 "$ws/dag.yaml" -p salt=2
run2=$RUN
echo "$IT_NAME: run 2 states: $(step_states "$run2"); commands run: $(tail -n "+$((n + 1))" "$MARK/ran.log" | tr '\n' ' ')"
echo "$IT_NAME: the scheduler says: $(grep -E 'is corrupt|corrupt blob|does not match' "$T/logs/scheduler.log" | head -n 3 | tr '\n' ' ')"
for step in A B; do
  echo "$IT_NAME: attempts of $step in run 2: $(attempts_of "$run2" "$step" "'; '.join(x['id'] + ' ' + x['worker'] + ' ' + x['state'] + ' ' + x['failure'] + ' ' + x['error'] for x in a)")"
done
assert_eq "A ran again (its cached output was corrupt)" 1 "$(tail -n "+$((n + 1))" "$MARK/ran.log" | grep -c '^A$')"
assert_eq "state of A in run 2" succeeded "$(step_field "$run2" A state)"
assert_eq "state of B in run 2" succeeded "$(step_field "$run2" B state)"
assert_eq "user_failures of B (the corruption is not its fault)" 0 "$(step_field "$run2" B user_failures)"
assert_eq "user_failures of A" 0 "$(step_field "$run2" A user_failures)"
"$RECETA" artifacts get "$run2" B b.txt -o "$T/b2.txt" >/dev/null || fail "artifacts get b.txt of run 2"
assert_file_eq "B's record of a.bin in run 2 (the correct bytes)" "$T/b2.txt" "$digest"
assert_eq "A's digest in run 2" "$digest" \
  "$(digest_hex "$("$RECETA" artifacts ls "$run2" A --json | jpy "d[0]['digest']")")"
[ -f "$blob" ] || fail "A's blob is not back in the CAS at $blob after A ran again"
assert_eq "sha256 of A's blob after run 2" "$digest" "$(sha256_of "$blob")"
"$RECETA" artifacts get "$run1" A a.bin -o "$T/a.bin" >/dev/null || fail "artifacts get a.bin of run 1 after the repair"
assert_eq "a.bin of run 1 after the repair" "$digest" "$(sha256_of "$T/a.bin")"

check_run_invariants "$run1"
check_run_invariants "$run2"
