#!/usr/bin/env bash
# corrupt_blob_test.sh with A's output past the inline limit (200000 lines of
# seq, ~1.3 MB): B's worker downloads it from the scheduler, finds its bytes
# do not hash to the digest and reports it (BlobDamaged); the scheduler
# hashes its copy, drops it and A runs again. Same assertions.
CORRUPT_BLOB_LINES=200000
export CORRUPT_BLOB_LINES
# shellcheck source=tests/fault/corrupt_blob_test.sh
source "$(dirname "$0")/corrupt_blob_test.sh"
