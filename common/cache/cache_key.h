#pragma once
// The cache key of a step: what must be equal for a past result to stand in
// for running the step again. Pure: the caller supplies input digests.
//
// Canonical encoding, version 1 (kCacheKeyVersion). The key is the SHA-256
// of these bytes; every string is written as an 8-byte little-endian length
// followed by its bytes, every count as an 8-byte little-endian integer:
//
//   "receta-cache-key" '\0' version (u64 = 1)
//   'C' command           the rendered command: params and {{step.name}}
//                         substituted, {{run.id}} left as written (a run id
//                         must never change a key)
//   'E' count, then (name, value) pairs sorted by name: the step's env,
//                         rendered like the command
//   'P' count, then (name, type, value) sorted by name: the DAG params the
//                         step can see (type: string|integer|number|boolean)
//   'I' count, then (path, digest hex) sorted by path: every input, whether
//                         a workspace file or an upstream output
//   'V' cache_version     as written, "" when absent
//   'S' platform          the platform selector, "" when the DAG has none
//
// Never included: run ids, times, worker names, the step's name (two steps
// doing the same work share a result), retries, timeouts, resources.
// Changing this layout means bumping kCacheKeyVersion, which invalidates
// every cache entry made before.

#include <cstdint>
#include <map>
#include <string>

#include "common/dag/dag.h"
#include "common/hash/sha256.h"

namespace receta {

inline constexpr uint64_t kCacheKeyVersion = 1;

struct CacheKeyInputs {
  std::string command;
  std::map<std::string, std::string> env;
  std::map<std::string, ParamValue> params;
  std::map<std::string, std::string> input_digests;  // path -> hex digest
  std::string cache_version;
  std::string platform;
};

/// The canonical bytes described above.
std::string EncodeCacheKey(const CacheKeyInputs& inputs);

/// SHA-256 of EncodeCacheKey(inputs).
Digest ComputeCacheKey(const CacheKeyInputs& inputs);

}  // namespace receta
