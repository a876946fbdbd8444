#pragma once
// StoreOracle: the ArtifactOracle the running scheduler uses, answering from
// RocksDB's cache index and the blob store.

#include "scheduler/artifact_oracle.h"
#include "scheduler/blob_store.h"
#include "scheduler/store.h"

namespace receta::scheduler {

class StoreOracle : public ArtifactOracle {
 public:
  StoreOracle(Store& store, BlobStore& blobs) : store_(store), blobs_(blobs) {}
  std::optional<CacheEntry> FindCacheEntry(const std::string& key) override;
  std::optional<std::vector<std::string>> CacheFamilyMembers(const std::string& family) override;
  bool HasBlob(const std::string& digest, uint64_t size_bytes) override;
  Result<std::string> ReadBlob(const std::string& digest, uint64_t max_bytes) override;

 private:
  Store& store_;
  BlobStore& blobs_;
};

}  // namespace receta::scheduler
