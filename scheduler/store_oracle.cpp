#include "scheduler/store_oracle.h"

#include <spdlog/spdlog.h>

namespace receta::scheduler {

std::optional<CacheEntry> StoreOracle::FindCacheEntry(const std::string& key) {
  Result<std::optional<CacheEntry>> entry = store_.GetCacheEntry(key);
  if (!entry.ok()) {
    // Why not fatal: an unreadable entry only costs a re-run of the step.
    spdlog::warn("cache entry {} unreadable, ignoring it: {}", key, entry.error());
    return std::nullopt;
  }
  return *entry;
}

std::optional<std::vector<std::string>> StoreOracle::CacheFamilyMembers(const std::string& family) {
  Result<std::optional<std::vector<std::string>>> members = store_.CacheFamilyMembers(family);
  if (!members.ok()) {
    // Why not fatal: unsure only means the step is not sent ahead.
    spdlog::warn("cache family {} unreadable: {}", family, members.error());
    return std::nullopt;
  }
  return *members;
}

bool StoreOracle::HasBlob(const std::string& digest, uint64_t size_bytes) {
  return blobs_.Has(digest, size_bytes);
}

Result<std::string> StoreOracle::ReadBlob(const std::string& digest, uint64_t max_bytes) {
  Result<uint64_t> size = blobs_.Size(digest);
  if (!size.ok()) return size.status();
  if (*size > max_bytes) {
    return Result<std::string>::Error("blob " + digest + " is " + std::to_string(*size) +
                                      " bytes, over the limit of " + std::to_string(max_bytes));
  }
  if (Status verified = blobs_.VerifyBlob(digest); !verified.ok()) return verified;
  return blobs_.ReadChunk(digest, 0, *size);
}

}  // namespace receta::scheduler
