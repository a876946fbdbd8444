#pragma once
// Moving blobs between a local file and the scheduler's CAS over a
// Connection, in chunks of kTransferChunkBytes with credit-based flow control
// (zguide "file transfer"): at most a window of chunks in flight, so neither
// side buffers a whole blob. Digests are verified on both ends.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/connection.h"
#include "net/upload_item.h"

namespace receta::net {

inline constexpr uint64_t kTransferChunkBytes = 1u << 20;
inline constexpr uint32_t kTransferWindowChunks = 8;
/// Digests per BlobQuery (64 hex characters each: ~700 KB per query).
inline constexpr size_t kQueryBatchDigests = 10000;
/// How long a transfer waits for the scheduler's next message before giving
/// up with an error naming the endpoint.
inline constexpr std::chrono::milliseconds kTransferReplyTimeout{30000};

/// The digests among `digests` the scheduler's CAS lacks (BlobQuery), in
/// order. Sends large lists in several queries.
Result<std::vector<std::string>> QueryMissingBlobs(
    Connection& connection, const std::vector<std::string>& digests,
    std::chrono::milliseconds timeout = kTransferReplyTimeout);

/// What the uploader checks of the file itself; the scheduler verifies
/// size and digest of every upload whatever this says.
enum class LocalCheck {
  /// Re-hash while sending: a file changed since it was hashed is an error
  /// naming it (a user's workspace file may be edited at any moment).
  kRehash,
  /// Size only: for a file nothing writes any more (a worker's read-only
  /// cache copy, hashed moments before), where a second local pass over
  /// every byte would only repeat the scheduler's check.
  kSizeOnly,
};

/// Uploads the file at `path`, which must hash to `digest` and be
/// `size_bytes` long (see LocalCheck). Restarts once if the scheduler
/// reports a digest mismatch.
/// `timeout` bounds each wait for the scheduler's next message.
/// `attempt_id` (a worker uploading an attempt's output) lets the scheduler
/// refuse the upload when that attempt is no longer current.
Status UploadBlob(Connection& connection, const std::string& path, const std::string& digest,
                  uint64_t size_bytes, std::chrono::milliseconds timeout = kTransferReplyTimeout,
                  const std::optional<std::string>& attempt_id = std::nullopt,
                  LocalCheck check = LocalCheck::kRehash);

/// How many single-chunk uploads UploadBlobs keeps in flight, and how many
/// of their declared bytes.
inline constexpr size_t kUploadsInFlight = 128;
inline constexpr uint64_t kUploadBytesInFlight = 16u << 20;

/// Uploads every item (each digest once; see UploadBlob for the checks).
/// Items that fit in one chunk are pipelined: up to kUploadsInFlight of
/// them are in flight at once, so a thousand small files cost a few round
/// trips and group commits at the scheduler, not a thousand of each (a
/// small blob's BlobPutDone waits for the commit that makes it durable).
/// Larger items follow one at a time, each streamed by UploadBlob.
/// Stops at the first failure, naming the file. `attempt_id`: as UploadBlob.
Status UploadBlobs(Connection& connection, const std::vector<UploadItem>& items,
                   std::chrono::milliseconds timeout = kTransferReplyTimeout,
                   const std::optional<std::string>& attempt_id = std::nullopt,
                   LocalCheck check = LocalCheck::kRehash);

/// Downloads blob `digest` into `dest_path` through a temp file in the same
/// directory, verifying size and digest before renaming. A missing blob is an
/// error naming the digest. Keeps kTransferWindowChunks BlobGets of
/// kTransferChunkBytes in flight; `timeout` bounds each wait for a chunk. On
/// error the temp file is removed and `dest_path` is left untouched. The file
/// is created with mode 0644. Bytes that do not hash to `digest` are reported
/// to the scheduler (BlobDamaged), and the error says what it found.
Status DownloadBlob(Connection& connection, const std::string& digest, uint64_t size_bytes,
                    const std::string& dest_path,
                    std::chrono::milliseconds timeout = kTransferReplyTimeout);

}  // namespace receta::net
