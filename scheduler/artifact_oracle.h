#pragma once
// ArtifactOracle: the core's questions about the cache index and the CAS,
// behind an interface so the core stays pure (tests use an in-memory fake;
// the server answers from RocksDB and the blob store).

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "scheduler/records.h"

namespace receta::scheduler {

class ArtifactOracle {
 public:
  virtual ~ArtifactOracle() = default;
  /// The cache entry for `key`, if any (committed or written this turn).
  virtual std::optional<CacheEntry> FindCacheEntry(const std::string& key) = 0;
  /// The upstream manifests cache entries were put with under this family
  /// (Run::CacheFamilyOf, UpstreamManifest); nullopt when unsure.
  virtual std::optional<std::vector<std::string>> CacheFamilyMembers(const std::string& family) = 0;
  /// True when the CAS holds the blob with this size.
  virtual bool HasBlob(const std::string& digest, uint64_t size_bytes) = 0;
  /// The whole blob, for small files the scheduler reads itself (metrics);
  /// an error when it is absent or larger than `max_bytes`.
  virtual Result<std::string> ReadBlob(const std::string& digest, uint64_t max_bytes) = 0;
};

}  // namespace receta::scheduler
