#!/usr/bin/env bash
# A worker dies (kill -9) while it uploads a step's 200 MiB output to the
# scheduler: the step runs again on another worker, which uploads it whole;
# the run succeeds, no partial blob is ever visible in the CAS (every blob's
# SHA-256 matches its name), and the cut upload's temp file is removed (at
# the latest when the upload expires).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/fault/fault_lib.sh
source "$IT_SRC/tests/fault/fault_lib.sh"

UPLOAD_EXPIRY_S=${FAULT_UPLOAD_EXPIRY_S:-75}  # the scheduler's idle upload timeout (60 s) and margin
SIZE=$((200 << 20))

ws="$T/ws"
mkdir -p "$ws"
echo payload >"$ws/in.txt"
cat >"$ws/dag.yaml" <<YAML
name: upload-cut
defaults:
  retries: 0
  env: {MARK: "$MARK"}
steps:
  big:
    run: |
      echo big >> "\$MARK/ran.log"
      head -c $SIZE /dev/zero > big.bin
    inputs: [in.txt]
    outputs: [big.bin]
  after:
    run: echo after >> "\$MARK/ran.log"; wc -c < big.bin > size.txt
    inputs: [big.bin]
    outputs: [size.txt]
YAML

fault_start_scheduler
start_worker w1
tmp_dir="$SCHED_DATA/cas/tmp"
[ -d "$tmp_dir" ] || fail "the scheduler has no $tmp_dir; where do uploads go? $(find "$SCHED_DATA/cas" -maxdepth 1)"

# Kill w1 once the upload has begun and before it has ended: a temp file in
# cas/tmp with some but not all of the bytes. Why the scheduler runs in
# slices meanwhile (SIGSTOP, look, SIGCONT, 1 ms): it writes the upload only
# while it runs, and each look happens while it is stopped, so on a busy
# machine too the upload cannot begin and end between two looks (a slice
# moves a few MB of the 200 MiB). Started before the submit: a poll started
# after it missed the whole upload on a loaded machine. It ends on its own
# (within 60 s, or at once when the scheduler is gone).
python3 - "$tmp_dir" "${WORKER_PID[w1]}" "$SIZE" "$SCHED_PID" >"$T/cut.log" 2>&1 <<'PY' &
import os, signal, sys, time
tmp_dir, pid, size, sched = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def stopped():
    with open(f"/proc/{sched}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"

def partial_upload():
    for name in os.listdir(tmp_dir):
        try:
            n = os.stat(os.path.join(tmp_dir, name)).st_size
        except FileNotFoundError:
            continue
        if 0 < n < size:
            return name, n
    return None

deadline = time.time() + 60
try:
    while time.time() < deadline:
        os.kill(sched, signal.SIGSTOP)
        while not stopped():
            time.sleep(0.0001)
        found = partial_upload()
        if found:
            os.kill(pid, signal.SIGKILL)
            print(f"upload-cut: killed w1 with {found[1]} of {size} bytes of {found[0]} uploaded")
            sys.exit(0)
        os.kill(sched, signal.SIGCONT)
        time.sleep(0.001)
finally:
    os.kill(sched, signal.SIGCONT)
print("upload-cut: no upload of big.bin seen in cas/tmp within 60 s", file=sys.stderr)
sys.exit(1)
PY
cutter=$!
submit "$ws/dag.yaml"
run=$RUN
wait "$cutter" || fail "did not catch w1 uploading big.bin: $(cat "$T/cut.log")"
cat "$T/cut.log"
killed_ns=$(date +%s%N)
wait "${WORKER_PID[w1]}" 2>/dev/null || true
unset "WORKER_PID[w1]"
echo "$IT_NAME: cas/tmp right after the kill: $(find "$tmp_dir" -type f -printf '%s bytes %f; ')"
start_worker w2
wait_for "run $run finishes on w2" 90 run_finished "$run"
echo "$IT_NAME: run finished $(ms_since "$killed_ns") ms after the kill"
assert_eq "state of the run" succeeded "$(run_state "$run")"
assert_eq "worker of step big" w2 "$(step_field "$run" big worker)"
assert_eq "system_failures of step big" 1 "$(step_field "$run" big system_failures)"
assert_eq "user_failures of step big" 0 "$(step_field "$run" big user_failures)"
assert_eq "commands run" "after big big" "$(sort "$MARK/ran.log" | tr '\n' ' ' | sed 's/ $//')"
"$RECETA" artifacts get "$run" after size.txt -o "$T/size.txt" >/dev/null || fail "artifacts get size.txt"
assert_eq "size of big.bin as step after read it" "$SIZE" "$(tr -d ' ' <"$T/size.txt")"

# Every blob in the CAS is whole: its SHA-256 is its name.
bad=""
while IFS= read -r -d '' f; do
  [ "$(sha256_of "$f")" = "$(basename "$f")" ] || bad+=" $f ($(stat -c %s "$f") bytes)"
done < <(find "$SCHED_DATA/cas" -path "$tmp_dir" -prune -o -type f -print0)
[ -z "$bad" ] || fail "blobs in the CAS whose SHA-256 does not match their name:$bad"
echo "$IT_NAME: $(find "$SCHED_DATA/cas" -path "$tmp_dir" -prune -o -type f -print | wc -l) blobs in the CAS, all intact"

if [ -n "$(ls -A "$tmp_dir")" ]; then
  echo "$IT_NAME: cas/tmp still holds the cut upload after the run ($(find "$tmp_dir" -type f -printf '%f ')); waiting up to ${UPLOAD_EXPIRY_S} s for it to expire"
fi
tmp_empty() { [ -z "$(ls -A "$tmp_dir")" ]; }
wait_for "cas/tmp is empty (the cut upload's temp file removed)" "$UPLOAD_EXPIRY_S" tmp_empty
echo "$IT_NAME: cas/tmp empty $(ms_since "$killed_ns") ms after the kill"

check_run_invariants "$run"
