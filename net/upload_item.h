#pragma once
// UploadItem: one file for net::UploadBlobs (net/blob_transfer.h), in its own
// header so callers that only hand files over (the worker's attempt core)
// need not see ZeroMQ.

#include <cstdint>
#include <string>

namespace receta::net {

/// A file to upload: it must hash to `digest` and be `size_bytes` long.
struct UploadItem {
  std::string path;
  std::string digest;
  uint64_t size_bytes = 0;
};

}  // namespace receta::net
