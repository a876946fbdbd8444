// The scheduler's side of blob transfer (common/protocol/README.md): uploads
// into the CAS with credit-based flow control, chunked downloads, queries.

#include <spdlog/spdlog.h>

#include "common/protocol/codec.h"
#include "common/protocol/validate.h"
#include "scheduler/server.h"

namespace receta::scheduler {
namespace {

using protocol::ErrorCode;

// Bytes an uploader may send ahead of what is written: eight 1 MiB chunks.
constexpr uint64_t kUploadWindowBytes = 8ull << 20;
// An upload silent this long is abandoned and its temp file removed.
constexpr uint64_t kUploadIdleTimeoutMs = 60'000;

}  // namespace

void Server::OnBlobQuery(const std::string& peer, uint64_t request_id, const protocol::BlobQuery& query) {
  protocol::BlobMissing missing;
  for (const std::string& digest : query.digests) {
    if (!blobs_->Has(digest)) missing.digests.push_back(digest);
  }
  Reply(peer, request_id, missing);
}

void Server::OnBlobPutBegin(const std::string& peer, uint64_t request_id, const protocol::BlobPutBegin& begin,
                            uint64_t now_ms) {
  if (blobs_->Has(begin.digest, begin.size_bytes)) {
    Reply(peer, request_id, protocol::BlobPutDone{begin.digest, begin.size_bytes});
    return;
  }
  auto key = std::make_pair(peer, begin.digest);
  uploads_.erase(key);  // a restarted upload replaces the old one
  Result<std::unique_ptr<BlobWriter>> writer = blobs_->BeginWrite(begin.digest, begin.size_bytes);
  if (!writer.ok()) {
    ReplyError(peer, request_id, ErrorCode::kInternal, writer.error());
    return;
  }
  UploadSession& session = uploads_[key];
  session.writer = std::move(*writer);
  session.request_id = request_id;
  session.size_bytes = begin.size_bytes;
  session.last_activity_ms = now_ms;
  Reply(peer, request_id, protocol::BlobPutCredit{begin.digest, 0, kUploadWindowBytes});
}

void Server::OnBlobPutChunk(const std::string& peer, uint64_t request_id, const protocol::BlobPutChunk& chunk,
                            const std::string& bytes, uint64_t now_ms) {
  auto it = uploads_.find(std::make_pair(peer, chunk.digest));
  if (it == uploads_.end()) {
    ReplyError(peer, request_id, ErrorCode::kNotFound,
               "no upload of " + chunk.digest + " in progress; start with BlobPutBegin");
    return;
  }
  UploadSession& session = it->second;
  Status status = protocol::ValidateChunkFrame(chunk.length, bytes.size());
  if (status.ok() && chunk.offset + chunk.length > session.size_bytes) {
    status = Status::Error("chunk runs past the declared size of " + std::to_string(session.size_bytes) + " bytes");
  }
  if (status.ok()) status = session.writer->Write(chunk.offset, bytes);
  if (!status.ok()) {
    ReplyError(peer, request_id, ErrorCode::kBadMessage, "upload of " + chunk.digest + ": " + status.message());
    uploads_.erase(it);
    return;
  }
  session.last_activity_ms = now_ms;
  Reply(peer, request_id,
        protocol::BlobPutCredit{chunk.digest, session.writer->bytes_written(), kUploadWindowBytes});
}

void Server::OnBlobPutEnd(const std::string& peer, uint64_t request_id, const protocol::BlobPutEnd& end,
                          uint64_t now_ms) {
  auto it = uploads_.find(std::make_pair(peer, end.digest));
  if (it == uploads_.end()) {
    if (blobs_->Has(end.digest, end.size_bytes)) {
      Reply(peer, request_id, protocol::BlobPutDone{end.digest, end.size_bytes});
    } else {
      ReplyError(peer, request_id, ErrorCode::kNotFound, "no upload of " + end.digest + " in progress");
    }
    return;
  }
  Status finished = it->second.writer->Finish();
  uploads_.erase(it);
  if (!finished.ok()) {
    spdlog::warn("upload of blob {} from peer rejected: {}", end.digest, finished.message());
    ReplyError(peer, request_id, ErrorCode::kConflict, finished.message());
    return;
  }
  own_changes_.blobs.push_back(BlobRecord{end.digest, end.size_bytes, now_ms});
  Reply(peer, request_id, protocol::BlobPutDone{end.digest, end.size_bytes});
}

void Server::OnBlobGet(const std::string& peer, uint64_t request_id, const protocol::BlobGet& get) {
  Result<uint64_t> size = blobs_->Size(get.digest);
  if (!size.ok()) {
    ReplyError(peer, request_id, ErrorCode::kNotFound, "blob " + get.digest + " is not in the scheduler's CAS");
    return;
  }
  uint64_t offset = std::min(get.offset, *size);
  uint64_t length = std::min<uint64_t>({get.length, *size - offset, protocol::kMaxBlobChunkBytes});
  Result<std::string> bytes = blobs_->ReadChunk(get.digest, offset, length);
  if (!bytes.ok()) {
    ReplyError(peer, request_id, ErrorCode::kInternal, bytes.error());
    return;
  }
  // Why a local: argument evaluation order is unspecified, and the move
  // below must not run before the size is read.
  uint64_t chunk_bytes = bytes->size();
  Reply(peer, request_id, protocol::BlobGetChunk{get.digest, offset, chunk_bytes, *size}, std::move(*bytes));
}

void Server::ExpireUploads(uint64_t now_ms) {
  for (auto it = uploads_.begin(); it != uploads_.end();) {
    if (now_ms - it->second.last_activity_ms > kUploadIdleTimeoutMs) {
      spdlog::warn("abandoned upload of blob {} after {} ms of silence", it->first.second, kUploadIdleTimeoutMs);
      it->second.writer->Abort();
      it = uploads_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace receta::scheduler
