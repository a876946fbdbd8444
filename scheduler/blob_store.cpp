// BlobStore on the local file system. Layout under cas_dir:
//
//   <aa>/<digest>      a stored blob, mode 0444, named by its SHA-256 (64
//                      lowercase hex); <aa> is the digest's first two digits
//   tmp/<digest>.XXXXXX  a blob being written (mkstemp), removed on Open
//
// Every digest is checked by protocol::ValidateDigest before it is used in
// a path, so a request can never name a file outside the store.

#include "scheduler/blob_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/fs/direct_appender.h"
#include "common/fs/fd_io.h"
#include "common/hash/sha256.h"
#include "common/protocol/validate.h"

namespace receta::scheduler {
namespace {

constexpr size_t kCopyChunkBytes = 1u << 20;
// Blobs this big are written past the page cache (common/fs/direct_appender.h
// says why); smaller ones are likely read again soon, and cost little.
constexpr uint64_t kDirectWriteMinBytes = 8u << 20;
// How far ahead of a big blob's served chunk the kernel is asked to read.
constexpr off_t kServeReadAheadBytes = 8 << 20;
// Why: ReadChunk serves BlobGet (<= 4 MiB); anything far larger is a caller
// bug that would load a whole artifact into memory.
constexpr uint64_t kMaxReadChunkBytes = 64u << 20;

Status CheckDigest(const std::string& digest) {
  return protocol::ValidateDigest(digest).WithContext("blob store");
}

// Makes the temp file read-only, then moves it into place.
// Why no fdatasync: it cost a disk flush per uploaded blob on the path of
// every step. The trade-off: after a machine crash (not a process crash)
// a blob recorded in RocksDB may be missing, short or damaged on disk.
// Nothing trusts it blindly: a cache hit checks every output blob's size
// (a missing or short blob re-runs the step), and every reader (worker
// downloads, `artifacts get`, ReadBlob) verifies the digest, so a damaged
// blob fails loudly by name instead of passing as a wrong artifact.
Status Install(int fd, const std::string& temp_path, const std::string& final_path) {
  if (::fchmod(fd, 0444) != 0) return Status::Error(temp_path + ": chmod failed: " + ErrnoText());
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(final_path).parent_path(), ec);
  if (ec)
    return Status::Error("cannot create the directory of " + final_path + ": " + ec.message());
  // Why rename may replace: two uploads of one digest carry the same bytes,
  // so the second rename swaps identical content atomically.
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    return Status::Error("cannot move " + temp_path + " to " + final_path + ": " + ErrnoText());
  }
  return Status::Ok();
}

class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(UniqueFd fd, std::string temp_path, std::string final_path, std::string digest,
                 uint64_t size_bytes)
      : fd_(std::move(fd)),
        temp_path_(std::move(temp_path)),
        final_path_(std::move(final_path)),
        check_(std::move(digest), size_bytes),
        appender_(fd_.get(), temp_path_, /*try_direct=*/size_bytes >= kDirectWriteMinBytes) {}
  ~FileBlobWriter() override { Abort(); }

  Status Write(uint64_t offset, std::string_view bytes) override {
    if (!fd_.valid()) return Status::Error(check_.Name() + ": the writer is closed (finished or aborted)");
    if (Status s = check_.Accept(offset, bytes); !s.ok()) return s;
    if (Status s = appender_.Append(bytes); !s.ok()) return s.WithContext(check_.Name());
    return Status::Ok();
  }

  uint64_t bytes_written() const override { return check_.written(); }

  Status Finish() override {
    if (!fd_.valid()) return Status::Error(check_.Name() + ": the writer is closed (finished or aborted)");
    if (Status s = check_.Complete(); !s.ok()) {
      Abort();
      return s;
    }
    if (Status s = appender_.Finish(); !s.ok()) {
      Abort();
      return s.WithContext(check_.Name());
    }
    if (Status s = Install(fd_.get(), temp_path_, final_path_); !s.ok()) {
      Abort();
      return s.WithContext(check_.Name());
    }
    fd_.Reset();
    return Status::Ok();
  }

  void Abort() override {
    if (!fd_.valid()) return;
    fd_.Reset();
    ::unlink(temp_path_.c_str());
  }

 private:
  UniqueFd fd_;  // valid until Finish or Abort
  std::string temp_path_;
  std::string final_path_;
  BlobWriteCheck check_;
  DirectAppender appender_;  // writes to fd_; past the page cache for big blobs
};

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(std::string cas_dir) : dir_(std::move(cas_dir)), tmp_dir_(dir_ + "/tmp") {}

  bool Has(const std::string& digest, uint64_t size_bytes) const override {
    if (!protocol::ValidateDigest(digest).ok()) return false;
    struct stat st;
    if (::stat(PathOf(digest).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    return size_bytes == 0 || static_cast<uint64_t>(st.st_size) == size_bytes;
  }

  Result<uint64_t> Size(const std::string& digest) const override {
    if (Status s = CheckDigest(digest); !s.ok()) return s;
    struct stat st;
    if (::stat(PathOf(digest).c_str(), &st) != 0) {
      return Status::Error("blob " + digest + " is not in the store (" + PathOf(digest) + ": " +
                           ErrnoText() + ")");
    }
    return static_cast<uint64_t>(st.st_size);
  }

  std::string PathOf(const std::string& digest) const override {
    if (!protocol::ValidateDigest(digest).ok()) return {};
    return dir_ + "/" + digest.substr(0, 2) + "/" + digest;
  }

  Result<std::unique_ptr<BlobWriter>> BeginWrite(const std::string& digest,
                                                 uint64_t size_bytes) override {
    if (Status s = CheckDigest(digest); !s.ok()) return s;
    Result<std::pair<UniqueFd, std::string>> temp = MakeTemp(digest);
    if (!temp.ok()) return temp.status();
    auto& [fd, temp_path] = *temp;
    return std::unique_ptr<BlobWriter>(std::make_unique<FileBlobWriter>(
        std::move(fd), std::move(temp_path), PathOf(digest), digest, size_bytes));
  }

  Result<std::string> PutFile(const std::string& path) override;
  Result<std::string> ReadChunk(const std::string& digest, uint64_t offset,
                                uint64_t length) const override;
  Status VerifyBlob(const std::string& digest) override;

  Status Remove(const std::string& digest) override {
    if (Status s = CheckDigest(digest); !s.ok()) return s;
    if (::unlink(PathOf(digest).c_str()) != 0 && errno != ENOENT) {
      return Status::Error("cannot remove blob " + PathOf(digest) + ": " + ErrnoText());
    }
    return Status::Ok();
  }

  const std::string& tmp_dir() const { return tmp_dir_; }

 private:
  // A fresh temp file under tmp/, named after `stem` for whoever looks.
  Result<std::pair<UniqueFd, std::string>> MakeTemp(const std::string& stem) const {
    std::string path = tmp_dir_ + "/" + stem + ".XXXXXX";
    UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
    if (!fd.valid())
      return Status::Error("cannot create a temp file in " + tmp_dir_ + ": " + ErrnoText());
    return std::make_pair(std::move(fd), std::move(path));
  }

  std::string dir_;
  std::string tmp_dir_;
};

Result<std::string> FileBlobStore::PutFile(const std::string& path) {
  UniqueFd source(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!source.valid()) return Status::Error("cannot open " + path + " to store it: " + ErrnoText());
  Result<std::pair<UniqueFd, std::string>> temp = MakeTemp("put");
  if (!temp.ok()) return temp.status();
  auto& [fd, temp_path] = *temp;
  auto fail = [&temp_path](Status s) {
    ::unlink(temp_path.c_str());
    return s;
  };
  Sha256 hasher;
  std::string buffer(kCopyChunkBytes, '\0');
  for (;;) {
    ssize_t got = ::read(source.get(), buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail(Status::Error(path + ": read failed: " + ErrnoText()));
    }
    if (got == 0) break;
    std::string_view chunk(buffer.data(), static_cast<size_t>(got));
    hasher.Update(chunk);
    if (Status s = WriteAll(fd.get(), chunk, temp_path); !s.ok()) return fail(s);
  }
  std::string digest = hasher.Finish().ToHex();
  if (Status s = Install(fd.get(), temp_path, PathOf(digest)); !s.ok()) return fail(s);
  return digest;
}

Result<std::string> FileBlobStore::ReadChunk(const std::string& digest, uint64_t offset,
                                             uint64_t length) const {
  if (Status s = CheckDigest(digest); !s.ok()) return s;
  if (length > kMaxReadChunkBytes) {
    return Status::Error("blob " + digest + ": a read of " + std::to_string(length) +
                         " bytes is over the limit of " + std::to_string(kMaxReadChunkBytes) +
                         "; read in chunks");
  }
  const std::string path = PathOf(digest);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid())
    return Status::Error("blob " + digest + " is not in the store (" + path + ": " + ErrnoText() +
                         ")");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::Error(path + ": stat failed: " + ErrnoText());
  const auto size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    return Status::Error("blob " + digest + ": offset " + std::to_string(offset) +
                         " is past its end (" + std::to_string(size) + " bytes)");
  }
  const uint64_t want = std::min(length, size - offset);
  const bool big = size >= kDirectWriteMinBytes;
  // Why: a big blob was written past the page cache and is read once per
  // downloader, front to back, a chunk per open: ask the kernel to read
  // ahead what comes next (a new open starts with no readahead state).
  // Why only when a read enters a window, for the window after it: asking
  // for the next 8 MiB on every 1 MiB chunk walked pages already asked for
  // (0.27 s of the loop per GiB served, 2 calls a chunk with the drop).
  if (big && want > 0) {
    const uint64_t window = static_cast<uint64_t>(kServeReadAheadBytes);
    const uint64_t last_window = (offset + want - 1) / window;
    if (offset == 0) {
      (void)::posix_fadvise(fd.get(), 0, 2 * kServeReadAheadBytes, POSIX_FADV_WILLNEED);
    } else if (offset % window == 0 || offset / window != last_window) {
      (void)::posix_fadvise(fd.get(), static_cast<off_t>((last_window + 1) * window),
                            kServeReadAheadBytes, POSIX_FADV_WILLNEED);
    }
  }
  Result<std::string> bytes = PreadUpTo(fd.get(), offset, want, path);
  if (!bytes.ok()) return bytes;
  // ... and drop what was served, so gigabytes of artifacts do not crowd
  // the steps' pages out of memory (the pages are clean: dropping is free).
  if (big)
    (void)::posix_fadvise(fd.get(), static_cast<off_t>(offset), static_cast<off_t>(want),
                          POSIX_FADV_DONTNEED);
  if (bytes->size() != want) {
    return Status::Error("blob " + digest + ": expected " + std::to_string(want) +
                         " bytes at offset " + std::to_string(offset) + ", read " +
                         std::to_string(bytes->size()) + "; the file changed under the store");
  }
  return bytes;
}

Status FileBlobStore::VerifyBlob(const std::string& digest) {
  if (Status s = CheckDigest(digest); !s.ok()) return s;
  const std::string path = PathOf(digest);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid())
    return Status::Error("blob " + digest + " is not in the store (" + path + ": " + ErrnoText() +
                         ")");
  Result<Digest> actual = HashOpenFile(fd.get(), path);
  if (!actual.ok()) return actual.status();
  if (actual->ToHex() == digest) return Status::Ok();
  fd.Reset();
  ::unlink(path.c_str());
  return Status::Error("blob " + digest + " was corrupted (its bytes hash to " + actual->ToHex() +
                       "); removed it from " + path + ", it must be stored again");
}

}  // namespace

Status BlobWriteCheck::Accept(uint64_t offset, std::string_view bytes) {
  if (offset != written_) {
    return Status::Error(Name() + ": chunk at offset " + std::to_string(offset) + ", but " +
                         std::to_string(written_) +
                         " bytes are written; chunks must arrive in order");
  }
  if (bytes.size() > size_bytes_ - written_) {
    return Status::Error(Name() + ": chunk of " + std::to_string(bytes.size()) +
                         " bytes at offset " + std::to_string(offset) +
                         " runs past the declared size of " + std::to_string(size_bytes_) +
                         " bytes");
  }
  hasher_.UpdateCopy(bytes);  // the caller's bytes are gone when this returns
  written_ += bytes.size();
  return Status::Ok();
}

Status BlobWriteCheck::Complete() {
  if (written_ != size_bytes_) {
    return Status::Error(Name() + ": " + std::to_string(written_) + " bytes arrived, " +
                         std::to_string(size_bytes_) + " were declared; the upload was cut short");
  }
  std::string actual = hasher_.Finish().ToHex();
  if (actual != digest_) {
    return Status::Error(Name() + ": the " + std::to_string(written_) +
                         " bytes that arrived hash to " + actual +
                         ", not to the digest declared; nothing was stored");
  }
  return Status::Ok();
}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& cas_dir) {
  auto store = std::make_unique<FileBlobStore>(cas_dir);
  std::error_code ec;
  std::filesystem::create_directories(store->tmp_dir(), ec);
  if (ec)
    return Status::Error("cannot create the blob store directory " + store->tmp_dir() + ": " +
                         ec.message());
  // Why: a temp file is an upload a crash cut short; nobody will finish it.
  for (std::filesystem::directory_iterator it(store->tmp_dir(), ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
  if (ec) return Status::Error("cannot list " + store->tmp_dir() + " to clean it: " + ec.message());
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace receta::scheduler
