#include "scheduler/log_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "common/fs/fd_io.h"

namespace receta::scheduler {
namespace {

constexpr size_t kMaxIdBytes = 255;
constexpr size_t kCountWidth = 20;  // digits of M plus padding: fits any uint64
constexpr std::string_view kMarkerStart = "[receta: log cut at ";

Status ValidateId(std::string_view id, std::string_view what) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  bool ok = !id.empty() && id.size() <= kMaxIdBytes && id != "." &&
            id.find("..") == std::string_view::npos && std::all_of(id.begin(), id.end(), allowed);
  if (ok) return Status::Ok();
  return Status::Error(std::string(what) + " '" + std::string(id.substr(0, 80)) +
                       "' cannot name a log file: it must be 1.." + std::to_string(kMaxIdBytes) +
                       " characters of [A-Za-z0-9._-], not '.' and without '..'");
}

Status ValidateIds(std::string_view run_id, std::string_view attempt_id) {
  if (Status s = ValidateId(run_id, "run id"); !s.ok()) return s;
  return ValidateId(attempt_id, "attempt id");
}

std::string Marker(uint64_t cap_bytes, uint64_t dropped_bytes) {
  std::string count = std::to_string(dropped_bytes);
  return std::string(kMarkerStart) + std::to_string(cap_bytes) + " bytes; " + count +
         " more bytes dropped]" + std::string(kCountWidth - count.size(), ' ') + "\n";
}

// The dropped count in a marker line, or nullopt when `line` is not one for
// this cap.
std::optional<uint64_t> ParseMarker(std::string_view line, uint64_t cap_bytes) {
  const std::string head = std::string(kMarkerStart) + std::to_string(cap_bytes) + " bytes; ";
  if (line.size() != Marker(cap_bytes, 0).size() || line.substr(0, head.size()) != head ||
      line.back() != '\n') {
    return std::nullopt;
  }
  std::string rest(line.substr(head.size()));
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(rest.c_str(), &end, 10);
  if (errno != 0 || end == rest.c_str() ||
      std::string_view(end).rfind(" more bytes dropped]", 0) != 0) {
    return std::nullopt;
  }
  return value;
}

class FileLogStore final : public LogStore {
 public:
  FileLogStore(std::string dir, uint64_t cap_bytes) : dir_(std::move(dir)), cap_bytes_(cap_bytes) {}

  Status Append(const std::string& run_id, const std::string& attempt_id, uint64_t offset,
                std::string_view bytes) override;

  uint64_t Received(const std::string& run_id, const std::string& attempt_id) override {
    if (!ValidateIds(run_id, attempt_id).ok()) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    Result<Attempt*> loaded = Load(run_id, attempt_id);
    return loaded.ok() ? (*loaded)->received_bytes : 0;
  }

  uint64_t Size(const std::string& run_id, const std::string& attempt_id) const override {
    if (!ValidateIds(run_id, attempt_id).ok()) return 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = attempts_.find(attempt_id);
      if (it != attempts_.end()) return it->second.size_bytes;
    }
    struct stat st;
    if (::stat(PathOf(run_id, attempt_id).c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::string> Read(const std::string& run_id, const std::string& attempt_id,
                           uint64_t offset, uint64_t max_bytes) const override {
    if (Status s = ValidateIds(run_id, attempt_id); !s.ok()) return s;
    const std::string path = PathOf(run_id, attempt_id);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd.valid()) {
      if (errno == ENOENT) return std::string();
      return Status::Error("cannot open the log " + path + ": " + ErrnoText());
    }
    return PreadUpTo(fd.get(), offset, std::min(max_bytes, kMaxReadBytes), path);
  }

  void Close(const std::string& attempt_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempts_.find(attempt_id);
    if (it == attempts_.end()) return;
    if (it->second.fd.valid()) open_.erase(it->second.lru);
    attempts_.erase(it);
  }

 private:
  struct Attempt {
    std::string path;
    UniqueFd fd;                           // open for writing, or -1 (evicted)
    std::list<std::string>::iterator lru;  // into open_, while fd is valid
    uint64_t size_bytes = 0;               // the file's size
    bool cut = false;
    uint64_t marker_offset = 0;  // where the marker line starts, once cut
    uint64_t dropped_bytes = 0;
    uint64_t received_bytes = 0;  // see Received()
  };

  std::string PathOf(const std::string& run_id, const std::string& attempt_id) const {
    return dir_ + "/" + run_id + "/" + attempt_id + ".log";
  }

  Result<Attempt*> Load(const std::string& run_id, const std::string& attempt_id);
  Status EnsureOpen(const std::string& attempt_id, Attempt& attempt);
  Status Cut(Attempt& attempt, uint64_t dropped_bytes);
  /// Stores bytes that follow what is stored: kept up to the cap, then cut.
  Status Store(Attempt& attempt, std::string_view bytes);

  const std::string dir_;
  const uint64_t cap_bytes_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Attempt> attempts_;  // by attempt id; guarded by mu_
  std::list<std::string> open_;  // attempt ids with an open fd, most recent first; guarded by mu_
};

// The attempt's state: from memory, or rebuilt from its file (a restart, or
// after Close).
Result<FileLogStore::Attempt*> FileLogStore::Load(const std::string& run_id,
                                                  const std::string& attempt_id) {
  auto it = attempts_.find(attempt_id);
  if (it != attempts_.end()) return &it->second;
  Attempt attempt;
  attempt.path = PathOf(run_id, attempt_id);
  struct stat st;
  if (::stat(attempt.path.c_str(), &st) == 0) {
    attempt.size_bytes = static_cast<uint64_t>(st.st_size);
    const uint64_t marker_bytes = Marker(cap_bytes_, 0).size();
    if (attempt.size_bytes > cap_bytes_ && attempt.size_bytes >= marker_bytes) {
      UniqueFd fd(::open(attempt.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
      if (!fd.valid())
        return Status::Error("cannot open the log " + attempt.path + ": " + ErrnoText());
      Result<std::string> tail =
          PreadUpTo(fd.get(), attempt.size_bytes - marker_bytes, marker_bytes, attempt.path);
      if (!tail.ok()) return tail.status();
      if (std::optional<uint64_t> dropped = ParseMarker(*tail, cap_bytes_)) {
        attempt.cut = true;
        attempt.dropped_bytes = *dropped;
        attempt.marker_offset = attempt.size_bytes - marker_bytes;
      }
    }
    attempt.received_bytes = attempt.cut ? cap_bytes_ + attempt.dropped_bytes : attempt.size_bytes;
  } else if (errno != ENOENT) {
    return Status::Error("cannot stat the log " + attempt.path + ": " + ErrnoText());
  }
  return &attempts_.emplace(attempt_id, std::move(attempt)).first->second;
}

Status FileLogStore::EnsureOpen(const std::string& attempt_id, Attempt& attempt) {
  if (attempt.fd.valid()) {
    open_.splice(open_.begin(), open_, attempt.lru);
    return Status::Ok();
  }
  if (open_.size() >= kMaxOpenFiles) {
    attempts_.at(open_.back()).fd.Reset();
    open_.pop_back();
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(attempt.path).parent_path(), ec);
  if (ec)
    return Status::Error("cannot create the log directory of " + attempt.path + ": " +
                         ec.message());
  // Why not O_APPEND: the marker is rewritten in place with pwrite, which
  // Linux would turn into an append.
  attempt.fd =
      UniqueFd(::open(attempt.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644));
  if (!attempt.fd.valid())
    return Status::Error("cannot open the log " + attempt.path + ": " + ErrnoText());
  open_.push_front(attempt_id);
  attempt.lru = open_.begin();
  return Status::Ok();
}

// Writes the marker after the kept bytes (on a line of its own).
Status FileLogStore::Cut(Attempt& attempt, uint64_t dropped_bytes) {
  bool needs_newline = false;
  if (attempt.size_bytes > 0) {
    UniqueFd reader(::open(attempt.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!reader.valid())
      return Status::Error("cannot open the log " + attempt.path + ": " + ErrnoText());
    Result<std::string> last = PreadUpTo(reader.get(), attempt.size_bytes - 1, 1, attempt.path);
    if (!last.ok()) return last.status();
    needs_newline = *last != "\n";
  }
  std::string text = (needs_newline ? "\n" : "") + Marker(cap_bytes_, dropped_bytes);
  if (Status s = PwriteAll(attempt.fd.get(), attempt.size_bytes, text, attempt.path); !s.ok())
    return s;
  attempt.cut = true;
  attempt.dropped_bytes = dropped_bytes;
  attempt.marker_offset = attempt.size_bytes + (needs_newline ? 1 : 0);
  attempt.size_bytes += text.size();
  return Status::Ok();
}

Status FileLogStore::Append(const std::string& run_id, const std::string& attempt_id,
                            uint64_t offset, std::string_view bytes) {
  if (Status s = ValidateIds(run_id, attempt_id); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  Result<Attempt*> loaded = Load(run_id, attempt_id);
  if (!loaded.ok()) return loaded.status();
  Attempt& attempt = **loaded;
  // Why skip rather than refuse: a resent chunk overlaps what the scheduler
  // stored before it crashed; its new tail is still wanted.
  if (offset < attempt.received_bytes) {
    uint64_t seen = attempt.received_bytes - offset;
    if (seen >= bytes.size()) return Status::Ok();
    bytes.remove_prefix(static_cast<size_t>(seen));
    offset = attempt.received_bytes;
  }
  if (bytes.empty()) return Status::Ok();
  if (Status s = EnsureOpen(attempt_id, attempt); !s.ok()) return s;
  if (offset > attempt.received_bytes) {
    uint64_t lost = offset - attempt.received_bytes;
    if (attempt.cut) {
      attempt.dropped_bytes += lost;  // counted by the marker's next rewrite
    } else {
      std::string note = std::string(attempt.size_bytes > 0 ? "\n" : "") + "[receta: " +
                         std::to_string(lost) +
                         " bytes of this log were lost here (not resent after a scheduler restart)]\n";
      if (Status s = Store(attempt, note); !s.ok()) return s;
    }
    attempt.received_bytes = offset;
  }
  if (Status s = Store(attempt, bytes); !s.ok()) return s;
  attempt.received_bytes += bytes.size();
  return Status::Ok();
}

Status FileLogStore::Store(Attempt& attempt, std::string_view bytes) {
  if (attempt.cut) {
    attempt.dropped_bytes += bytes.size();
    return PwriteAll(attempt.fd.get(), attempt.marker_offset,
                     Marker(cap_bytes_, attempt.dropped_bytes), attempt.path);
  }
  const uint64_t room = attempt.size_bytes < cap_bytes_ ? cap_bytes_ - attempt.size_bytes : 0;
  const size_t keep = static_cast<size_t>(std::min<uint64_t>(room, bytes.size()));
  if (keep > 0) {
    if (Status s =
            PwriteAll(attempt.fd.get(), attempt.size_bytes, bytes.substr(0, keep), attempt.path);
        !s.ok()) {
      return s;
    }
    attempt.size_bytes += keep;
  }
  if (keep < bytes.size()) return Cut(attempt, bytes.size() - keep);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<LogStore>> LogStore::Open(const std::string& logs_dir, uint64_t cap_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(logs_dir, ec);
  if (ec) return Status::Error("cannot create the log directory " + logs_dir + ": " + ec.message());
  return std::unique_ptr<LogStore>(std::make_unique<FileLogStore>(logs_dir, cap_bytes));
}

std::vector<std::string> LastLogLines(const LogStore& logs, const std::string& run_id,
                                      const std::string& attempt_id, size_t max_lines, uint64_t max_bytes) {
  uint64_t size = logs.Size(run_id, attempt_id);
  uint64_t offset = size > max_bytes ? size - max_bytes : 0;
  Result<std::string> text = logs.Read(run_id, attempt_id, offset, max_bytes);
  if (!text.ok()) return {};
  std::vector<std::string> lines;
  size_t start = 0;
  if (offset > 0) {
    size_t newline = text->find('\n');
    start = newline == std::string::npos ? text->size() : newline + 1;
  }
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    lines.push_back(text->substr(start, end - start));
    start = end + 1;
  }
  if (lines.size() > max_lines) lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(max_lines));
  return lines;
}

}  // namespace receta::scheduler
