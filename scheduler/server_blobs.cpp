// The scheduler's side of blob transfer (common/protocol/README.md): uploads
// into the CAS with credit-based flow control, chunked downloads, queries.

#include <algorithm>
#include <set>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/hash/sha256.h"
#include "common/protocol/codec.h"
#include "common/protocol/validate.h"
#include "net/frames.h"
#include "scheduler/server.h"

namespace receta::scheduler {
namespace {

using protocol::ErrorCode;

// Sends a transfer reply at once instead of queueing it behind the turn's
// group commit. Why: nothing in these replies needs the commit. Has() and
// the credits read the CAS, and a CAS file is in place before BlobPutDone
// (its BlobRecord is only an index, committed this same turn); a small blob's
// BlobPutDone is the exception (OnBlobPutEnd). A BlobPutDone for a blob
// already held may name one still pending: it is committed at the end of
// this turn, so every later request sees it; only a crash in between loses
// it, and then the request that needs it finds it missing and says so.
// Queued, every chunk round trip of an upload waited for an fsync of
// unrelated state. Sent in the order the requests arrived, per peer.
void SendNow(zmq::socket_t& socket, const std::string& peer, uint64_t request_id,
             const protocol::Message& message, std::optional<std::string> blob = std::nullopt) {
  Result<std::string> header = protocol::Encode(message, request_id);
  if (!header.ok()) {
    spdlog::error("cannot encode {}: {} [this is a bug]", protocol::NameOf(message), header.error());
    return;
  }
  std::vector<zmq::message_t> parts;
  parts.emplace_back(peer.data(), peer.size());
  parts.emplace_back();
  parts.emplace_back(header->data(), header->size());
  if (blob) parts.push_back(net::FrameOwning(std::move(*blob)));
  if (!net::SendFrames(socket, parts, /*dontwait=*/true)) {
    spdlog::debug("a blob transfer peer is gone; dropped a {}", protocol::NameOf(message));
  }
}

void SendError(zmq::socket_t& socket, const std::string& peer, uint64_t request_id, ErrorCode code,
               const std::string& text) {
  SendNow(socket, peer, request_id, protocol::Error{code, text});
}

// Bytes an uploader may send ahead of what is written: eight 1 MiB chunks.
constexpr uint64_t kUploadWindowBytes = 8ull << 20;
// An upload silent this long is abandoned and its temp file removed. A live
// uploader sends chunks as fast as credit allows; this long a silence means it
// is gone (e.g. its worker was killed mid-upload).
constexpr uint64_t kUploadIdleTimeoutMs = 20'000;

}  // namespace

void Server::OnBlobQuery(const std::string& peer, uint64_t request_id, const protocol::BlobQuery& query) {
  protocol::BlobMissing missing;
  for (const std::string& digest : query.digests) {
    if (!blobs_->Has(digest)) missing.digests.push_back(digest);
  }
  SendNow(socket_, peer, request_id, missing);
}

void Server::OnBlobPutBegin(const std::string& peer, uint64_t request_id, const protocol::BlobPutBegin& begin,
                            uint64_t now_ms) {
  if (begin.attempt_id && !core_->FindAttempt(*begin.attempt_id)) {
    spdlog::info("refused an upload of blob {} for attempt {}: not current", begin.digest, *begin.attempt_id);
    SendError(socket_, peer, request_id, ErrorCode::kConflict,
              "attempt " + *begin.attempt_id + " is no longer current (its step ran elsewhere or ended); "
              "its outputs are refused");
    return;
  }
  if (blobs_->Has(begin.digest, begin.size_bytes)) {
    SendNow(socket_, peer, request_id, protocol::BlobPutDone{begin.digest, begin.size_bytes});
    return;
  }
  auto key = std::make_pair(peer, begin.digest);
  uploads_.erase(key);  // a restarted upload replaces the old one
  Result<std::unique_ptr<BlobWriter>> writer = blobs_->BeginWrite(begin.digest, begin.size_bytes);
  if (!writer.ok()) {
    SendError(socket_, peer, request_id, ErrorCode::kInternal, writer.error());
    return;
  }
  UploadSession& session = uploads_[key];
  session.writer = std::move(*writer);
  session.request_id = request_id;
  session.size_bytes = begin.size_bytes;
  session.last_activity_ms = now_ms;
  SendNow(socket_, peer, request_id, protocol::BlobPutCredit{begin.digest, 0, kUploadWindowBytes});
}

void Server::OnBlobPutChunk(const std::string& peer, uint64_t request_id, const protocol::BlobPutChunk& chunk,
                            std::string_view bytes, uint64_t now_ms) {
  auto it = uploads_.find(std::make_pair(peer, chunk.digest));
  if (it == uploads_.end()) {
    SendError(socket_, peer, request_id, ErrorCode::kNotFound,
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
    SendError(socket_, peer, request_id, ErrorCode::kBadMessage, "upload of " + chunk.digest + ": " + status.message());
    uploads_.erase(it);
    return;
  }
  session.last_activity_ms = now_ms;
  SendNow(socket_, peer, request_id,
        protocol::BlobPutCredit{chunk.digest, session.writer->bytes_written(), kUploadWindowBytes});
}

void Server::OnBlobPutEnd(const std::string& peer, uint64_t request_id, const protocol::BlobPutEnd& end,
                          uint64_t now_ms) {
  auto it = uploads_.find(std::make_pair(peer, end.digest));
  if (it == uploads_.end()) {
    if (blobs_->Has(end.digest, end.size_bytes)) {
      SendNow(socket_, peer, request_id, protocol::BlobPutDone{end.digest, end.size_bytes});
    } else {
      SendError(socket_, peer, request_id, ErrorCode::kNotFound, "no upload of " + end.digest + " in progress");
    }
    return;
  }
  Status finished = it->second.writer->Finish();
  uploads_.erase(it);
  if (!finished.ok()) {
    spdlog::warn("upload of blob {} from peer rejected: {}", end.digest, finished.message());
    SendError(socket_, peer, request_id, ErrorCode::kConflict, finished.message());
    return;
  }
  own_changes_.blobs.push_back(BlobRecord{end.digest, end.size_bytes, now_ms});
  // A small blob is durable only with this turn's commit: answered after it.
  if (TieredBlobStore::IsSmall(end.size_bytes)) {
    Reply(peer, request_id, protocol::BlobPutDone{end.digest, end.size_bytes});
  } else {
    SendNow(socket_, peer, request_id, protocol::BlobPutDone{end.digest, end.size_bytes});
  }
}

void Server::AttachInlineInputs(protocol::Dispatch& dispatch, uint64_t now_ms) {
  std::vector<protocol::InlineBlob> blobs;
  std::set<std::string_view> attached;  // into dispatch.inputs, unchanged here
  uint64_t total = 0;
  for (const protocol::InputFile& input : dispatch.inputs) {
    if (input.kind == protocol::kInputKindUpstream) continue;  // the worker has them
    if (total + input.size_bytes > protocol::kMaxInlineBlobBytes) continue;
    if (attached.count(input.digest)) continue;
    Result<std::string> bytes = blobs_->ReadChunk(input.digest, 0, input.size_bytes);
    // Why not an error: the worker fetches what is not inline, and its
    // fetch reports a missing blob as clearly as anything here could.
    if (!bytes.ok() || bytes->size() != input.size_bytes) continue;
    // Checked here, where the bytes are at hand (a few microseconds for a
    // small input): a corrupt blob is dropped and its producer runs again,
    // instead of every reader failing. Larger blobs are checked by their
    // readers, which report damage (OnBlobDamaged).
    if (std::string actual = HashBytes(*bytes).ToHex(); actual != input.digest) {
      DropCorruptBlob(input.digest, "blob " + input.digest + " hashes to " + actual, now_ms);
      continue;
    }
    total += bytes->size();
    attached.insert(input.digest);
    blobs.push_back({input.digest, std::move(*bytes)});
  }
  if (!blobs.empty()) dispatch.inline_blobs = std::move(blobs);
}

Status Server::StoreBlobBytes(const std::vector<protocol::InlineBlob>& blobs, uint64_t now_ms,
                              std::string* failed_digest) {
  for (const protocol::InlineBlob& blob : blobs) {
    // Why no lookup for a small blob: storing it again puts the same bytes
    // under the same key, and the lookup (a RocksDB miss, then a stat for a
    // file an older version may have kept) cost more than the write it
    // saves, for every step's output, when the blob is new, as it nearly
    // always is (SubmitRun sends only what a BlobQuery found missing).
    if (!TieredBlobStore::IsSmall(blob.data.size()) && blobs_->Has(blob.digest, blob.data.size())) {
      continue;
    }
    Result<std::unique_ptr<BlobWriter>> writer = blobs_->BeginWrite(blob.digest, blob.data.size());
    Status stored = writer.ok() ? (*writer)->Write(0, blob.data) : writer.status();
    if (stored.ok()) stored = (*writer)->Finish();
    if (!stored.ok()) {
      *failed_digest = blob.digest;
      return stored;
    }
    own_changes_.blobs.push_back(BlobRecord{blob.digest, blob.data.size(), now_ms});
  }
  return Status::Ok();
}

void Server::StoreInlineBlobs(protocol::AttemptFinished& finished, uint64_t now_ms) {
  std::string digest;
  if (Status stored = StoreBlobBytes(*finished.inline_blobs, now_ms, &digest); !stored.ok()) {
    // Why a system failure: the step did its part; the scheduler could
    // not keep the result (full disk, or bytes that do not hash to their
    // digest on the way), so it runs again, elsewhere if it can.
    spdlog::warn("attempt {}: cannot store its output {} in the CAS: {}", finished.attempt_id,
                 digest, stored.message());
    finished.error =
        "the scheduler could not store output sha256 " + digest + ": " + stored.message();
    finished.system_failure = true;
  }
}

void Server::OnBlobGet(const std::string& peer, uint64_t request_id, const protocol::BlobGet& get) {
  Result<uint64_t> size = blobs_->Size(get.digest);
  if (!size.ok()) {
    SendError(socket_, peer, request_id, ErrorCode::kNotFound, "blob " + get.digest + " is not in the scheduler's CAS");
    return;
  }
  uint64_t offset = std::min(get.offset, *size);
  uint64_t length = std::min<uint64_t>({get.length, *size - offset, protocol::kMaxBlobChunkBytes});
  Result<std::string> bytes = blobs_->ReadChunk(get.digest, offset, length);
  if (!bytes.ok()) {
    SendError(socket_, peer, request_id, ErrorCode::kInternal, bytes.error());
    return;
  }
  // Why a local: argument evaluation order is unspecified, and the move
  // below must not run before the size is read.
  uint64_t chunk_bytes = bytes->size();
  SendNow(socket_, peer, request_id, protocol::BlobGetChunk{get.digest, offset, chunk_bytes, *size}, std::move(*bytes));
}

void Server::OnBlobDamaged(const std::string& peer, uint64_t request_id,
                           const protocol::BlobDamaged& report, uint64_t now_ms) {
  spdlog::warn("peer {} downloaded blob {} and its bytes hashed to {}; checking the CAS copy",
               PeerLabel(peer), report.digest, report.actual_digest);
  if (!blobs_->Has(report.digest)) {
    SendNow(socket_, peer, request_id, protocol::BlobDamagedReply{report.digest, /*dropped=*/true});
    return;
  }
  // Why here, on the loop: a report comes only after a reader found
  // damage, which is rare; a whole-blob hash each time is what serving
  // every download used to cost. VerifyBlob removes a damaged copy itself.
  Status verified = blobs_->VerifyBlob(report.digest);
  if (verified.ok()) {
    spdlog::warn("blob {} checks out in the CAS: peer {} got it damaged on the way", report.digest,
                 PeerLabel(peer));
    SendNow(socket_, peer, request_id,
            protocol::BlobDamagedReply{report.digest, /*dropped=*/false});
    return;
  }
  if (blobs_->Has(report.digest)) {  // not damage: the copy could not be read
    SendError(socket_, peer, request_id, ErrorCode::kInternal,
              "cannot check blob " + report.digest + ": " + verified.message());
    return;
  }
  DropCorruptBlob(report.digest, verified.message(), now_ms);
  SendNow(socket_, peer, request_id, protocol::BlobDamagedReply{report.digest, /*dropped=*/true});
}

void Server::DropCorruptBlob(const std::string& digest, const std::string& found, uint64_t now_ms) {
  spdlog::error("dropping a corrupt blob from the CAS, and the steps that made it run again: {}",
                found);
  if (Status s = blobs_->Remove(digest); !s.ok()) spdlog::error("{}", s.message());
  own_changes_.blob_deletes.push_back(digest);
  core_->OnBlobCorrupt(digest, now_ms);
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
