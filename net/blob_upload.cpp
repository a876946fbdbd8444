// QueryMissingBlobs and UploadBlob (net/blob_transfer.h): the uploader's half
// of the credit protocol. The scheduler grants absolute credit
// (offset + credit_bytes); the uploader never sends past it, so at most one
// window of chunks is ever buffered between the two.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

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

std::string UploadWhat(const Connection& connection, const std::string& path, const std::string& digest) {
  return "upload of " + path + " (blob " + Short(digest) + ") to the scheduler at " + connection.endpoint();
}

std::string ChangedBytes(const std::string& path, const std::string& digest) {
  return path + " changed after it was hashed (its bytes no longer hash to " + digest +
         "); try again once nothing is writing to it";
}

// Opens `path` and checks it still has the size it was hashed at.
Result<UniqueFd> OpenUnchanged(const std::string& path, uint64_t size_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::Error(ErrnoText("cannot open", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::Error(ErrnoText("cannot stat", path));
  if (static_cast<uint64_t>(st.st_size) != size_bytes) {
    return Status::Error(path + " changed after it was hashed (now " + std::to_string(st.st_size) +
                         " bytes, was " + std::to_string(size_bytes) +
                         "); try again once nothing is writing to it");
  }
  return fd;
}

// The scheduler refused an upload: a conflict after the last chunk (its
// digest check failed) is worth one retry.
UploadOutcome Refused(const std::string& what, const protocol::Error& error, bool ended) {
  UploadOutcome outcome{Status::Error(what + " failed: " + error.message)};
  outcome.conflict = ended && error.code == protocol::ErrorCode::kConflict;
  return outcome;
}

Status Stalled(const std::string& what, std::chrono::milliseconds timeout) {
  return Status::Error(what + " stalled: no reply for " + std::to_string(timeout.count() / 1000) +
                       "s; is receta-scheduler running?");
}

UploadOutcome UploadOnce(Connection& connection, const std::string& path, const std::string& digest,
                         uint64_t size_bytes, std::chrono::milliseconds timeout,
                         const std::optional<std::string>& attempt_id, LocalCheck check) {
  auto fail = [](std::string message) { return UploadOutcome{Status::Error(std::move(message))}; };
  Result<UniqueFd> fd = OpenUnchanged(path, size_bytes);
  if (!fd.ok()) return {fd.status()};

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
  const std::string what = UploadWhat(connection, path, digest);
  while (true) {
    while (got_credit && sent < size_bytes && sent < allowed) {
      uint64_t length = std::min({kTransferChunkBytes, size_bytes - sent, allowed - sent});
      std::string chunk;  // handed to ZeroMQ as is, not copied
      if (Status s = PreadExact(fd->get(), sent, length, path, &chunk); !s.ok()) return {s};
      if (rehash) hasher.Update(chunk);
      Status s = connection.Send(protocol::BlobPutChunk{digest, sent, length}, request_id,
                                 std::move(chunk));
      if (!s.ok()) return {s};
      sent += length;
    }
    if (got_credit && sent == size_bytes && !ended) {
      if (rehash && hasher.Finish().ToHex() != digest) return fail(ChangedBytes(path, digest));
      if (Status s = connection.Send(protocol::BlobPutEnd{digest, size_bytes}, request_id);
          !s.ok()) {
        return {s};
      }
      ended = true;
    }

    Result<std::optional<Received>> received = connection.Receive(timeout);
    if (!received.ok()) return {received.status().WithContext(what)};
    if (!received->has_value()) return {Stalled(what, timeout)};
    const protocol::Envelope& envelope = (*received)->envelope;
    if (envelope.request_id != request_id) continue;  // stale reply to an earlier request
    if (std::holds_alternative<protocol::BlobPutDone>(envelope.message)) return {Status::Ok()};
    if (auto* credit = std::get_if<protocol::BlobPutCredit>(&envelope.message)) {
      got_credit = true;
      uint64_t grant = credit->offset + std::min(credit->credit_bytes, UINT64_MAX - credit->offset);
      allowed = std::max(allowed, grant);
      continue;
    }
    if (auto* error = std::get_if<protocol::Error>(&envelope.message)) return Refused(what, *error, ended);
    return fail(what + ": unexpected " + std::string(protocol::NameOf(envelope.message)));
  }
}

// Single-chunk uploads, many in flight on one connection: each is
// BlobPutBegin, then (on its credit) the one chunk and BlobPutEnd, then
// BlobPutDone. Replies are matched to uploads by request id.
class PipelinedUploads {
 public:
  PipelinedUploads(Connection& connection, std::chrono::milliseconds timeout,
                   const std::optional<std::string>& attempt_id, LocalCheck check)
      : connection_(connection), timeout_(timeout), attempt_id_(attempt_id), check_(check) {}

  /// Items whose first credit did not cover them, for UploadBlob to stream.
  const std::vector<const UploadItem*>& deferred() const { return deferred_; }

  Status Run(const std::vector<const UploadItem*>& items) {
    size_t next = 0;
    while (next < items.size() || !in_flight_.empty()) {
      while (next < items.size() && Room(*items[next])) {
        if (Status s = Begin(*items[next++], /*retry=*/false); !s.ok()) return s;
      }
      Result<std::optional<Received>> received = connection_.Receive(timeout_);
      if (!received.ok()) return received.status().WithContext("uploading to " + connection_.endpoint());
      if (!received->has_value()) {
        const UploadItem& oldest = *in_flight_.begin()->second.item;
        return Stalled(UploadWhat(connection_, oldest.path, oldest.digest), timeout_);
      }
      if (Status s = OnReply((*received)->envelope); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  struct Upload {
    const UploadItem* item = nullptr;
    bool ended = false;
    bool retried = false;
  };

  bool Room(const UploadItem& item) const {
    if (in_flight_.empty()) return true;
    return in_flight_.size() < kUploadsInFlight && bytes_in_flight_ + item.size_bytes <= kUploadBytesInFlight;
  }

  Status Begin(const UploadItem& item, bool retry) {
    const uint64_t request_id = connection_.NextRequestId();
    if (Status s = connection_.Send(protocol::BlobPutBegin{item.digest, item.size_bytes, attempt_id_}, request_id);
        !s.ok()) {
      return s;
    }
    in_flight_[request_id] = Upload{&item, false, retry};
    bytes_in_flight_ += item.size_bytes;
    return Status::Ok();
  }

  void Forget(std::map<uint64_t, Upload>::iterator it) {
    bytes_in_flight_ -= it->second.item->size_bytes;
    in_flight_.erase(it);
  }

  Status OnReply(const protocol::Envelope& envelope) {
    auto it = in_flight_.find(envelope.request_id);
    if (it == in_flight_.end()) return Status::Ok();  // stale reply to an earlier request
    Upload& upload = it->second;
    const UploadItem& item = *upload.item;
    const std::string what = UploadWhat(connection_, item.path, item.digest);
    if (std::holds_alternative<protocol::BlobPutDone>(envelope.message)) {
      Forget(it);
      return Status::Ok();
    }
    if (auto* credit = std::get_if<protocol::BlobPutCredit>(&envelope.message)) {
      if (upload.ended) return Status::Ok();  // the credit for the chunk just sent
      // The whole file in one chunk. The scheduler's first grant is a
      // window of several chunks; a peer granting less gets it streamed.
      if (credit->offset + credit->credit_bytes < item.size_bytes) {
        deferred_.push_back(&item);
        Forget(it);
        return Status::Ok();
      }
      upload.ended = true;
      return SendWhole(item, envelope.request_id);
    }
    if (auto* error = std::get_if<protocol::Error>(&envelope.message)) {
      UploadOutcome outcome = Refused(what, *error, upload.ended);
      // Why once: as UploadBlob; a second failure is not luck.
      if (!outcome.conflict || upload.retried) return outcome.status;
      Forget(it);
      return Begin(item, /*retry=*/true);
    }
    return Status::Error(what + ": unexpected " + std::string(protocol::NameOf(envelope.message)));
  }

  Status SendWhole(const UploadItem& item, uint64_t request_id) {
    Result<UniqueFd> fd = OpenUnchanged(item.path, item.size_bytes);
    if (!fd.ok()) return fd.status();
    std::string bytes;
    if (Status s = PreadExact(fd->get(), 0, item.size_bytes, item.path, &bytes); !s.ok()) return s;
    if (check_ == LocalCheck::kRehash && HashBytes(bytes).ToHex() != item.digest) {
      return Status::Error(ChangedBytes(item.path, item.digest));
    }
    if (item.size_bytes > 0) {
      Status s = connection_.Send(protocol::BlobPutChunk{item.digest, 0, item.size_bytes}, request_id, std::move(bytes));
      if (!s.ok()) return s;
    }
    return connection_.Send(protocol::BlobPutEnd{item.digest, item.size_bytes}, request_id);
  }

  Connection& connection_;
  std::chrono::milliseconds timeout_;
  const std::optional<std::string>& attempt_id_;
  LocalCheck check_;
  std::map<uint64_t, Upload> in_flight_;  // by request id, oldest first
  uint64_t bytes_in_flight_ = 0;
  std::vector<const UploadItem*> deferred_;
};

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

Status UploadBlobs(Connection& connection, const std::vector<UploadItem>& items,
                   std::chrono::milliseconds timeout, const std::optional<std::string>& attempt_id,
                   LocalCheck check) {
  std::set<std::string> seen;
  std::vector<const UploadItem*> small;
  std::vector<const UploadItem*> large;
  for (const UploadItem& item : items) {
    if (!seen.insert(item.digest).second) continue;
    (item.size_bytes <= kTransferChunkBytes ? small : large).push_back(&item);
  }
  PipelinedUploads pipelined(connection, timeout, attempt_id, check);
  if (Status s = pipelined.Run(small); !s.ok()) return s;
  large.insert(large.end(), pipelined.deferred().begin(), pipelined.deferred().end());
  for (const UploadItem* item : large) {
    Status s = UploadBlob(connection, item->path, item->digest, item->size_bytes, timeout, attempt_id, check);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace receta::net
