#pragma once
// SHA-256 digests of bytes and files: the content address of everything
// receta hashes (inputs, outputs, CAS blobs, cache keys). OpenSSL's EVP
// interface does the work, so CPUs with SHA extensions use them. The free
// functions are thread-safe.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace receta {

/// A SHA-256 digest: 32 raw bytes. A plain value; ordered bytewise, so a
/// sorted list of digests sorts as their hex forms do.
struct Digest {
  static constexpr size_t kSizeBytes = 32;

  std::array<uint8_t, kSizeBytes> bytes{};

  /// The 64-character lowercase hex form, as `sha256sum` prints it.
  std::string ToHex() const;

  /// Parses 64 hex characters (either case). Anything else is an error that
  /// quotes the input.
  static Result<Digest> FromHex(std::string_view hex);

  friend auto operator<=>(const Digest&, const Digest&) = default;
  friend bool operator==(const Digest&, const Digest&) = default;
};

/// Streaming SHA-256. Feed bytes with Update(), take the digest with Finish().
/// Thread-compatible: one instance must not be used by two threads at once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  void Update(const void* data, size_t size_bytes);

  /// Returns the digest of everything fed since construction or the last
  /// Finish(), and resets to the empty state so the object can be reused.
  Digest Finish();

 private:
  EVP_MD_CTX* ctx_;  // Owned; never null.
};

/// SHA-256 of `bytes`.
Digest HashBytes(std::string_view bytes);

/// SHA-256 of the contents of the file at `path` (symlinks are followed, as
/// by `sha256sum`). Reads sequentially in 64 KiB chunks. The error names the
/// path and the errno text.
Result<Digest> HashFile(const std::string& path);

/// SHA-256 of everything readable from `fd`, from its current offset to end
/// of file. Does not close `fd`. `path_for_errors` is only used in error text.
Result<Digest> HashOpenFile(int fd, const std::string& path_for_errors);

}  // namespace receta
