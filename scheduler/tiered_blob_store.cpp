#include "scheduler/tiered_blob_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "common/protocol/validate.h"

namespace receta::scheduler {

// Buffers a small blob in memory; Finish checks it and makes it pending.
class SmallBlobWriter final : public BlobWriter {
 public:
  SmallBlobWriter(TieredBlobStore& store, std::string digest, uint64_t size_bytes)
      : store_(store), check_(std::move(digest), size_bytes) {
    bytes_.reserve(static_cast<size_t>(size_bytes));
  }

  Status Write(uint64_t offset, std::string_view bytes) override {
    if (done_) return Status::Error(check_.Name() + ": the writer is closed (finished or aborted)");
    if (Status s = check_.Accept(offset, bytes); !s.ok()) return s;
    bytes_.append(bytes);
    return Status::Ok();
  }
  uint64_t bytes_written() const override { return check_.written(); }
  Status Finish() override {
    if (done_) return Status::Error(check_.Name() + ": the writer is closed (finished or aborted)");
    done_ = true;
    if (Status s = check_.Complete(); !s.ok()) return s;
    store_.pending_[check_.digest()] = std::move(bytes_);
    return Status::Ok();
  }
  void Abort() override { done_ = true; }

 private:
  TieredBlobStore& store_;
  BlobWriteCheck check_;
  std::string bytes_;
  bool done_ = false;
};

std::optional<std::string> TieredBlobStore::SmallBytes(const std::string& digest) const {
  if (!protocol::ValidateDigest(digest).ok()) return std::nullopt;
  if (auto it = pending_.find(digest); it != pending_.end()) return it->second;
  Result<std::optional<std::string>> stored = store_.GetBlobBytes(digest);
  if (!stored.ok()) {
    spdlog::error("{}", stored.error());
    return std::nullopt;
  }
  return std::move(*stored);
}

bool TieredBlobStore::Has(const std::string& digest, uint64_t size_bytes) const {
  if (size_bytes == 0 || IsSmall(size_bytes)) {
    if (std::optional<std::string> small = SmallBytes(digest)) {
      return size_bytes == 0 || small->size() == size_bytes;
    }
  }
  return files_->Has(digest, size_bytes);
}

Result<uint64_t> TieredBlobStore::Size(const std::string& digest) const {
  if (std::optional<std::string> small = SmallBytes(digest)) return uint64_t{small->size()};
  return files_->Size(digest);
}

Result<std::unique_ptr<BlobWriter>> TieredBlobStore::BeginWrite(const std::string& digest,
                                                                uint64_t size_bytes) {
  if (!IsSmall(size_bytes)) return files_->BeginWrite(digest, size_bytes);
  if (Status s = protocol::ValidateDigest(digest).WithContext("blob store"); !s.ok()) return s;
  return std::unique_ptr<BlobWriter>(std::make_unique<SmallBlobWriter>(*this, digest, size_bytes));
}

Result<std::string> TieredBlobStore::ReadChunk(const std::string& digest, uint64_t offset,
                                               uint64_t length) const {
  std::optional<std::string> small = SmallBytes(digest);
  if (!small) return files_->ReadChunk(digest, offset, length);
  if (offset > small->size()) {
    return Status::Error("blob " + digest + ": offset " + std::to_string(offset) +
                         " is past its end (" + std::to_string(small->size()) + " bytes)");
  }
  return small->substr(static_cast<size_t>(offset), static_cast<size_t>(length));
}

Status TieredBlobStore::VerifyBlob(const std::string& digest) {
  std::optional<std::string> small = SmallBytes(digest);
  if (!small) return files_->VerifyBlob(digest);
  std::string actual = HashBytes(*small).ToHex();
  if (actual == digest) return Status::Ok();
  if (Status s = Remove(digest); !s.ok()) spdlog::error("{}", s.message());
  return Status::Error("blob " + digest + " was corrupted (its bytes hash to " + actual +
                       "); removed it from the scheduler's database, it must be stored again");
}

Status TieredBlobStore::Remove(const std::string& digest) {
  if (Status s = protocol::ValidateDigest(digest).WithContext("blob store"); !s.ok()) return s;
  pending_.erase(digest);
  Result<std::optional<std::string>> stored = store_.GetBlobBytes(digest);
  // Why look first: garbage collection removes many file blobs, and a
  // synced commit each would cost a flush per blob.
  if (!stored.ok() || stored->has_value()) {
    std::unique_ptr<Store::Batch> batch = store_.NewBatch();
    batch->DeleteBlobBytes(digest);
    if (Status s = store_.Commit(*batch); !s.ok()) return s.WithContext("cannot remove blob " + digest);
  }
  return files_->Remove(digest);
}

}  // namespace receta::scheduler
