#include "common/hash/stat_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace receta {
namespace {

// Size of a record after its path: five 64-bit stat/time fields, the digest
// and the checksum.
constexpr size_t kRecordFixedBytes = 5 * 8 + Digest::kSizeBytes + 8;
constexpr size_t kHeaderBytes = StatCache::kSignature.size() + 4;

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

void PutU32(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}

void PutU64(std::string* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}

// Reads little-endian integers from a byte range; the caller checks sizes.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  size_t remaining() const { return bytes_.size() - offset_; }
  size_t offset() const { return offset_; }
  uint64_t U(int size_bytes) {
    uint64_t value = 0;
    for (int i = 0; i < size_bytes; ++i) {
      value |= uint64_t{static_cast<unsigned char>(bytes_[offset_ + i])} << (8 * i);
    }
    offset_ += size_bytes;
    return value;
  }
  std::string_view Take(size_t size_bytes) {
    std::string_view taken = bytes_.substr(offset_, size_bytes);
    offset_ += size_bytes;
    return taken;
  }

 private:
  std::string_view bytes_;
  size_t offset_ = 0;
};

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string ErrnoText() { return std::strerror(errno); }

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t wrote = write(fd, bytes.data(), bytes.size());
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return Status::Error(path + ": write failed: " + ErrnoText());
    }
    bytes.remove_prefix(static_cast<size_t>(wrote));
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(int fd, const std::string& path) {
  std::string contents;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > 0) contents.reserve(static_cast<size_t>(st.st_size));
  char buffer[64 * 1024];
  for (;;) {
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got == 0) return contents;
    if (got < 0) {
      if (errno == EINTR) continue;
      return Result<std::string>::Error(path + ": cannot read stat cache: " + ErrnoText());
    }
    contents.append(buffer, static_cast<size_t>(got));
  }
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

FileStat FileStatFromStat(const struct stat& st) {
  FileStat stat;
  stat.size_bytes = static_cast<uint64_t>(st.st_size);
  stat.mtime_ns = ToNs(st.st_mtim);
  stat.ctime_ns = ToNs(st.st_ctim);
  stat.inode = static_cast<uint64_t>(st.st_ino);
  return stat;
}

bool StatCache::IsRacy(const FileStat& stat, int64_t recorded_at_ns) {
  int64_t last_change_ns = std::max(stat.mtime_ns, stat.ctime_ns);
  return last_change_ns >= recorded_at_ns - kRacyMarginNs;
}

std::optional<Digest> StatCache::Lookup(const std::string& path, const FileStat& fresh) const {
  auto it = entries_.find(path);
  if (it == entries_.end()) return std::nullopt;
  const Entry& entry = it->second;
  if (entry.stat != fresh || IsRacy(entry.stat, entry.recorded_at_ns)) return std::nullopt;
  return entry.digest;
}

void StatCache::Record(const std::string& path, const FileStat& stat, const Digest& digest,
                       int64_t recorded_at_ns) {
  Entry entry{stat, recorded_at_ns, digest};
  auto [it, inserted] = entries_.try_emplace(path, entry);
  if (!inserted) {
    if (it->second == entry) return;
    it->second = entry;
  }
  dirty_ = true;
}

void StatCache::Erase(const std::string& path) {
  if (entries_.erase(path) > 0) dirty_ = true;
}

const StatCache::Entry* StatCache::Find(const std::string& path) const {
  auto it = entries_.find(path);
  return it == entries_.end() ? nullptr : &it->second;
}

std::string StatCache::Encode() const {
  std::string out;
  out.reserve(kHeaderBytes + entries_.size() * (4 + 64 + kRecordFixedBytes));
  out.append(kSignature);
  PutU32(&out, kFormatVersion);
  for (const auto& [path, entry] : entries_) {
    size_t record_start = out.size();
    PutU32(&out, static_cast<uint32_t>(path.size()));
    out.append(path);
    PutU64(&out, entry.stat.size_bytes);
    PutU64(&out, static_cast<uint64_t>(entry.stat.mtime_ns));
    PutU64(&out, static_cast<uint64_t>(entry.stat.ctime_ns));
    PutU64(&out, entry.stat.inode);
    PutU64(&out, static_cast<uint64_t>(entry.recorded_at_ns));
    out.append(reinterpret_cast<const char*>(entry.digest.bytes.data()), Digest::kSizeBytes);
    PutU64(&out, Fnv1a64(std::string_view(out).substr(record_start)));
  }
  return out;
}

StatCache StatCache::Decode(std::string_view bytes, size_t* discarded_bytes_or_null) {
  StatCache cache;
  size_t good_bytes = 0;
  Reader reader(bytes);
  if (bytes.size() >= kHeaderBytes && reader.Take(kSignature.size()) == kSignature &&
      reader.U(4) == kFormatVersion) {
    good_bytes = reader.offset();
    // Why: growing the table while loading rehashes it ~log(n) times; a
    // typical record (path of ~40 bytes) is ~120 bytes long.
    cache.entries_.reserve(bytes.size() / 120);
    while (reader.remaining() >= 4) {
      size_t record_start = reader.offset();
      uint64_t path_bytes = reader.U(4);
      if (path_bytes == 0 || path_bytes > kMaxPathBytes) break;
      if (reader.remaining() < path_bytes + kRecordFixedBytes) break;
      std::string_view path = reader.Take(path_bytes);
      Entry entry;
      entry.stat.size_bytes = reader.U(8);
      entry.stat.mtime_ns = static_cast<int64_t>(reader.U(8));
      entry.stat.ctime_ns = static_cast<int64_t>(reader.U(8));
      entry.stat.inode = reader.U(8);
      entry.recorded_at_ns = static_cast<int64_t>(reader.U(8));
      std::string_view digest = reader.Take(Digest::kSizeBytes);
      std::copy(digest.begin(), digest.end(), entry.digest.bytes.begin());
      size_t checksummed_bytes = reader.offset() - record_start;
      if (reader.U(8) != Fnv1a64(bytes.substr(record_start, checksummed_bytes))) break;
      cache.entries_.insert_or_assign(std::string(path), entry);
      good_bytes = reader.offset();
    }
  }
  if (discarded_bytes_or_null != nullptr) *discarded_bytes_or_null = bytes.size() - good_bytes;
  return cache;
}

Result<StatCache> StatCache::Load(const std::string& cache_path, size_t* discarded_bytes_or_null) {
  if (discarded_bytes_or_null != nullptr) *discarded_bytes_or_null = 0;
  int fd = open(cache_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return StatCache();
    return Result<StatCache>::Error(cache_path + ": cannot open stat cache: " + ErrnoText() +
                                    " (delete the file to start with an empty cache)");
  }
  Result<std::string> contents = ReadWholeFile(fd, cache_path);
  close(fd);
  if (!contents.ok()) return contents.status();
  return Decode(*contents, discarded_bytes_or_null);
}

Status StatCache::Save(const std::string& cache_path) {
  std::string temp_path = cache_path + ".tmp.XXXXXX";
  int fd = mkostemp(temp_path.data(), O_CLOEXEC);
  if (fd < 0) {
    return Status::Error(temp_path + ": cannot create stat cache temp file: " + ErrnoText());
  }
  auto fail = [&](Status status) {
    close(fd);
    unlink(temp_path.c_str());
    return status;
  };
  Status wrote = WriteAll(fd, Encode(), temp_path);
  if (!wrote.ok()) return fail(wrote);
  if (fsync(fd) != 0) return fail(Status::Error(temp_path + ": fsync failed: " + ErrnoText()));
  if (close(fd) != 0) {
    Status status = Status::Error(temp_path + ": close failed: " + ErrnoText());
    unlink(temp_path.c_str());
    return status;
  }
  if (rename(temp_path.c_str(), cache_path.c_str()) != 0) {
    Status status =
        Status::Error("cannot rename " + temp_path + " to " + cache_path + ": " + ErrnoText());
    unlink(temp_path.c_str());
    return status;
  }
  // Why: the rename is durable only once the directory entry is on disk.
  std::string directory = DirectoryOf(cache_path);
  int dir_fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)fsync(dir_fd);
    close(dir_fd);
  }
  dirty_ = false;
  return Status::Ok();
}

}  // namespace receta
