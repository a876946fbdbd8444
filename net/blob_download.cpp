// DownloadBlob (net/blob_transfer.h): a window of BlobGets in flight, chunks
// written at their offsets into a temp file next to the destination, hashed
// in order, renamed into place only when size and digest check out.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>

#include "common/fs/fd_io.h"
#include "common/hash/background_sha256.h"
#include "common/protocol/validate.h"
#include "net/blob_transfer.h"

namespace receta::net {
namespace {

/// A temp file that is removed unless Commit renames it into place.
class TempFile {
 public:
  explicit TempFile(const std::string& dest_path) : dest_(dest_path) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  Status Create() {
    std::string pattern = dest_ + ".receta-tmp-XXXXXX";
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) return Status::Error(ErrnoText("cannot create a temp file next to", dest_));
    fd_ = UniqueFd(fd);
    path_ = pattern;
    if (::fchmod(fd, 0644) != 0) return Status::Error(ErrnoText("cannot chmod", path_));
    return Status::Ok();
  }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  Status Commit() {
    if (Status s = fd_.Close(path_); !s.ok()) return s;
    if (::rename(path_.c_str(), dest_.c_str()) != 0) {
      return Status::Error(ErrnoText("cannot rename " + path_ + " to", dest_));
    }
    path_.clear();
    return Status::Ok();
  }

 private:
  std::string dest_;
  std::string path_;
  UniqueFd fd_;
};

// Tells the scheduler its blob came here damaged (BlobDamaged) and says
// what it found; the error the download ends with either way.
// Why report: the scheduler does not hash what it serves, so the reader's
// check is the one that finds a damaged copy, and only the scheduler can
// drop it and have the steps that made it run again.
Status DamagedDownload(Connection& connection, const std::string& digest, const std::string& got,
                       std::chrono::milliseconds timeout) {
  const std::string found =
      "downloaded bytes of blob " + digest + " from " + connection.endpoint() + " hash to " + got;
  Result<protocol::BlobDamagedReply> reply =
      connection.Call<protocol::BlobDamagedReply>(protocol::BlobDamaged{digest, got}, timeout);
  if (!reply.ok()) {
    return Status::Error(found + "; telling the scheduler failed (" + reply.error() +
                         "), so it has not checked its copy: retry once it answers");
  }
  if (reply->dropped) {
    return Status::Error(found +
                         "; the scheduler's copy was damaged and is dropped, and the steps "
                         "that made it run again: retry once they have");
  }
  return Status::Error(found +
                       "; the scheduler's copy checks out, so the bytes were damaged on "
                       "the way here: retry, and check this machine's memory and network if it "
                       "happens again");
}

}  // namespace

Status DownloadBlob(Connection& connection, const std::string& digest, uint64_t size_bytes,
                    const std::string& dest_path, std::chrono::milliseconds timeout) {
  const std::string what = "blob " + digest + " from the scheduler at " + connection.endpoint();
  TempFile temp(dest_path);
  if (Status s = temp.Create(); !s.ok()) return s;

  // Why: a big blob is hashed on a thread while its chunks are written.
  BackgroundSha256 hasher(size_bytes);
  uint64_t hashed = 0;                     // bytes fed to the hasher, in order
  uint64_t requested = 0;                  // bytes asked for so far
  std::map<uint64_t, uint64_t> in_flight;  // request id -> offset
  std::map<uint64_t, zmq::message_t> early;  // offset -> chunk that came out of order
  while (hashed < size_bytes) {
    while (in_flight.size() < kTransferWindowChunks && requested < size_bytes) {
      uint64_t length = std::min(kTransferChunkBytes, size_bytes - requested);
      uint64_t id = connection.NextRequestId();
      Status s = connection.Send(protocol::BlobGet{digest, requested, length}, id);
      if (!s.ok()) return s;
      in_flight[id] = requested;
      requested += length;
    }
    Result<std::optional<Received>> received = connection.Receive(timeout);
    if (!received.ok()) return received.status().WithContext("downloading " + what);
    if (!received->has_value()) {
      return Status::Error("downloading " + what + " stalled: no chunk for " +
                           std::to_string(timeout.count() / 1000) +
                           "s; is receta-scheduler running?");
    }
    Received& message = **received;
    auto it = in_flight.find(message.envelope.request_id);
    if (it == in_flight.end()) continue;  // stale reply to an earlier request
    const uint64_t offset = it->second;
    in_flight.erase(it);
    if (auto* error = std::get_if<protocol::Error>(&message.envelope.message)) {
      if (error->code == protocol::ErrorCode::kNotFound) {
        std::string detail =
            error->message.find(digest) == std::string::npos ? ": " + error->message : "";
        return Status::Error("blob " + digest + " is not in the scheduler's store at " +
                             connection.endpoint() + detail);
      }
      return Status::Error("downloading " + what + " failed: " + error->message);
    }
    auto* chunk = std::get_if<protocol::BlobGetChunk>(&message.envelope.message);
    if (chunk == nullptr) {
      return Status::Error("downloading " + what + ": unexpected " +
                           std::string(protocol::NameOf(message.envelope.message)));
    }
    const uint64_t expected = std::min(kTransferChunkBytes, size_bytes - offset);
    if (chunk->total_size_bytes != size_bytes) {
      return Status::Error(what + " is " + std::to_string(chunk->total_size_bytes) +
                           " bytes there, but " + std::to_string(size_bytes) + " were expected");
    }
    if (chunk->digest != digest || chunk->offset != offset || chunk->length != expected) {
      return Status::Error("downloading " + what + ": asked for [" + std::to_string(offset) +
                           ", +" + std::to_string(expected) + ") and got [" +
                           std::to_string(chunk->offset) + ", +" + std::to_string(chunk->length) +
                           ") of " + chunk->digest);
    }
    if (Status s = protocol::ValidateChunkFrame(chunk->length, message.blob().size()); !s.ok()) {
      return s.WithContext("downloading " + what);
    }
    if (Status s = PwriteAll(temp.fd(), offset, message.blob(), temp.path()); !s.ok()) return s;
    early.emplace(offset, std::move(message.blob_frame));
    // Why in order: SHA-256 is sequential; replies normally arrive in order,
    // and at most one window is ever held here otherwise.
    for (auto next = early.find(hashed); next != early.end(); next = early.find(hashed)) {
      hashed += next->second.size();
      auto frame = std::make_shared<zmq::message_t>(std::move(next->second));
      hasher.Update(frame, frame->to_string_view());
      early.erase(next);
    }
  }
  std::string got = hasher.Finish().ToHex();
  if (got != digest) return DamagedDownload(connection, digest, got, timeout);
  return temp.Commit();
}

}  // namespace receta::net
