// QueryMissingBlobs and UploadBlob (net/blob_transfer.h): the uploader's half
// of the credit protocol. The scheduler grants absolute credit
// (offset + credit_bytes); the uploader never sends past it, so at most one
// window of chunks is ever buffered between the two.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>

#include "common/fs/fd_io.h"
#include "common/hash/sha256.h"
#include "net/blob_transfer.h"

namespace receta::net {
namespace {

struct UploadOutcome {
  Status status;
  bool conflict = false;  // the scheduler's digest check failed: worth one retry
};

std::string Short(const std::string& digest) { return digest.substr(0, 12); }

UploadOutcome UploadOnce(Connection& connection, const std::string& path, const std::string& digest,
                         uint64_t size_bytes, std::chrono::milliseconds timeout,
                         const std::optional<std::string>& attempt_id, LocalCheck check) {
  auto fail = [](std::string message) { return UploadOutcome{Status::Error(std::move(message))}; };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail(ErrnoText("cannot open", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(ErrnoText("cannot stat", path));
  if (static_cast<uint64_t>(st.st_size) != size_bytes) {
    return fail(path + " changed after it was hashed (now " + std::to_string(st.st_size) +
                " bytes, was " + std::to_string(size_bytes) +
                "); try again once nothing is writing to it");
  }

  const uint64_t request_id = connection.NextRequestId();
  if (Status s = connection.Send(protocol::BlobPutBegin{digest, size_bytes, attempt_id}, request_id); !s.ok()) {
    return {s};
  }
  uint64_t sent = 0;
  uint64_t allowed = 0;  // bytes the scheduler lets us have sent in total
  bool got_credit = false;
  bool ended = false;
  Sha256 hasher;
  const bool rehash = check == LocalCheck::kRehash;
  const std::string what = "upload of " + path + " (blob " + Short(digest) +
                           ") to the scheduler at " + connection.endpoint();
  while (true) {
    while (got_credit && sent < size_bytes && sent < allowed) {
      uint64_t length = std::min({kTransferChunkBytes, size_bytes - sent, allowed - sent});
      std::string chunk;  // handed to ZeroMQ as is, not copied
      if (Status s = PreadExact(fd.get(), sent, length, path, &chunk); !s.ok()) return {s};
      if (rehash) hasher.Update(chunk);
      Status s = connection.Send(protocol::BlobPutChunk{digest, sent, length}, request_id,
                                 std::move(chunk));
      if (!s.ok()) return {s};
      sent += length;
    }
    if (got_credit && sent == size_bytes && !ended) {
      if (rehash && hasher.Finish().ToHex() != digest) {
        return fail(path + " changed after it was hashed (its bytes no longer hash to " + digest +
                    "); try again once nothing is writing to it");
      }
      if (Status s = connection.Send(protocol::BlobPutEnd{digest, size_bytes}, request_id);
          !s.ok()) {
        return {s};
      }
      ended = true;
    }

    Result<std::optional<Received>> received = connection.Receive(timeout);
    if (!received.ok()) return {received.status().WithContext(what)};
    if (!received->has_value()) {
      return fail(what + " stalled: no reply for " + std::to_string(timeout.count() / 1000) +
                  "s; is receta-scheduler running?");
    }
    const protocol::Envelope& envelope = (*received)->envelope;
    if (envelope.request_id != request_id) continue;  // stale reply to an earlier request
    if (std::holds_alternative<protocol::BlobPutDone>(envelope.message)) return {Status::Ok()};
    if (auto* credit = std::get_if<protocol::BlobPutCredit>(&envelope.message)) {
      got_credit = true;
      uint64_t grant = credit->offset + std::min(credit->credit_bytes, UINT64_MAX - credit->offset);
      allowed = std::max(allowed, grant);
      continue;
    }
    if (auto* error = std::get_if<protocol::Error>(&envelope.message)) {
      UploadOutcome outcome{Status::Error(what + " failed: " + error->message)};
      outcome.conflict = ended && error->code == protocol::ErrorCode::kConflict;
      return outcome;
    }
    return fail(what + ": unexpected " + std::string(protocol::NameOf(envelope.message)));
  }
}

}  // namespace

Result<std::vector<std::string>> QueryMissingBlobs(Connection& connection,
                                                   const std::vector<std::string>& digests,
                                                   std::chrono::milliseconds timeout) {
  std::vector<std::string> missing;
  for (size_t begin = 0; begin < digests.size(); begin += kQueryBatchDigests) {
    size_t end = std::min(digests.size(), begin + kQueryBatchDigests);
    protocol::BlobQuery query;
    query.digests.assign(digests.begin() + begin, digests.begin() + end);
    Result<protocol::BlobMissing> reply = connection.Call<protocol::BlobMissing>(query, timeout);
    if (!reply.ok()) return reply.status();
    missing.insert(missing.end(), reply->digests.begin(), reply->digests.end());
  }
  return missing;
}

Status UploadBlob(Connection& connection, const std::string& path, const std::string& digest,
                  uint64_t size_bytes, std::chrono::milliseconds timeout,
                  const std::optional<std::string>& attempt_id, LocalCheck check) {
  UploadOutcome outcome = UploadOnce(connection, path, digest, size_bytes, timeout, attempt_id, check);
  // Why once: a conflict after our own digest check passed means the bytes
  // were damaged on the way or at the scheduler; a second failure is not luck.
  if (outcome.conflict) {
    outcome = UploadOnce(connection, path, digest, size_bytes, timeout, attempt_id, check);
  }
  return outcome.status;
}

}  // namespace receta::net
