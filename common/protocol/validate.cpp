#include "common/protocol/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/protocol/codec.h"

namespace receta::protocol {
namespace {

constexpr std::size_t kMaxIdBytes = 256;
constexpr std::size_t kMaxPathBytes = 4096;

// Collects the first failed check of one message; later checks are skipped.
class Checker {
 public:
  explicit Checker(std::string_view message_name) : name_(message_name) {}

  Checker& That(bool ok, const std::string& error) {
    if (status_.ok() && !ok) status_ = Status::Error(error);
    return *this;
  }
  Checker& Check(const Status& s, const std::string& field) {
    if (status_.ok() && !s.ok()) status_ = s.WithContext(field);
    return *this;
  }
  Checker& Id(const std::string& field, const std::string& value) {
    That(!value.empty(), field + " is empty");
    return That(value.size() <= kMaxIdBytes, field + " is " + std::to_string(value.size()) +
                                                 " bytes, over the limit of " + std::to_string(kMaxIdBytes));
  }
  Checker& Ids(const std::string& field, const std::vector<std::string>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) Id(field + "[" + std::to_string(i) + "]", values[i]);
    return *this;
  }
  Checker& Digest(const std::string& field, const std::string& value) {
    return Check(ValidateDigest(value), field);
  }
  Checker& Digests(const std::string& field, const std::vector<std::string>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) Digest(field + "[" + std::to_string(i) + "]", values[i]);
    return *this;
  }
  // Each path valid and none listed twice.
  template <typename T, typename PathOf>
  Checker& Paths(const std::string& field, const std::vector<T>& items, PathOf path_of) {
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < items.size() && status_.ok(); ++i) {
      const std::string& path = path_of(items[i]);
      std::string where = field + "[" + std::to_string(i) + "]";
      Check(ValidateRelativePath(path), where);
      That(seen.insert(path).second, where + ": path '" + path + "' is listed twice");
    }
    return *this;
  }
  Checker& Files(const std::string& field, const std::vector<FileEntry>& files) {
    Paths(field, files, [](const FileEntry& f) -> const std::string& { return f.path; });
    for (std::size_t i = 0; i < files.size(); ++i) {
      Digest(field + "[" + std::to_string(i) + "].digest", files[i].digest);
    }
    return *this;
  }
  // Each inline blob is one of `files` (same digest and size), none twice,
  // kMaxInlineBlobBytes in all.
  template <typename File>
  Checker& InlineBlobs(const std::optional<std::vector<InlineBlob>>& blobs, const std::vector<File>& files,
                       const std::string& what) {
    if (!blobs) return *this;
    uint64_t total = 0;
    std::set<std::string_view> seen;
    // Why a set: a join's dispatch lists a thousand inputs and inlines
    // hundreds of them; a scan of the inputs per blob was 3 ms of the
    // worker's main thread on the path to the join's start.
    std::set<std::pair<std::string_view, uint64_t>> listed_files;
    for (const File& f : files) listed_files.emplace(f.digest, f.size_bytes);
    for (std::size_t i = 0; i < blobs->size() && status_.ok(); ++i) {
      const InlineBlob& blob = (*blobs)[i];
      std::string where = "inline_blobs[" + std::to_string(i) + "]";
      Digest(where + ".digest", blob.digest);
      That(seen.insert(blob.digest).second, where + ": digest " + blob.digest + " is listed twice");
      bool listed = listed_files.count({blob.digest, blob.data.size()}) > 0;
      That(listed, where + ": no " + what + " has digest " + blob.digest + " and size " +
                       std::to_string(blob.data.size()));
      total += blob.data.size();
    }
    return That(total <= kMaxInlineBlobBytes, "inline_blobs hold " + std::to_string(total) +
                                                  " bytes, over the limit of " +
                                                  std::to_string(kMaxInlineBlobBytes));
  }
  Checker& ChunkLength(uint64_t offset, uint64_t length) {
    That(length > 0, "length is 0; send chunks of 1 to " + std::to_string(kMaxBlobChunkBytes) + " bytes");
    That(length <= kMaxBlobChunkBytes, "length " + std::to_string(length) + " is over the chunk limit of " +
                                           std::to_string(kMaxBlobChunkBytes) + " bytes");
    return That(offset <= UINT64_MAX - length, "offset + length overflows");
  }
  Status status() const { return status_.WithContext(std::string(name_)); }

 private:
  std::string_view name_;
  Status status_;
};

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

Status ValidateDigest(std::string_view digest) {
  bool hex = digest.size() == 64;
  for (char c : digest) hex = hex && IsLowerHex(c);
  if (hex) return Status::Ok();
  std::string shown(digest.substr(0, 80));
  return Status::Error("digest '" + shown + "' is not a SHA-256 in 64 lowercase hex characters");
}

Status ValidateRelativePath(std::string_view path) {
  std::string shown(path.substr(0, 200));
  if (path.empty()) return Status::Error("path is empty");
  if (path.size() > kMaxPathBytes) {
    return Status::Error("path '" + shown + "...' is over " + std::to_string(kMaxPathBytes) + " bytes");
  }
  if (path.find('\0') != std::string_view::npos) return Status::Error("path contains a NUL byte");
  if (path.front() == '/') {
    return Status::Error("path '" + shown + "' is absolute; paths are relative to the workspace");
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      return Status::Error("path '" + shown + "' contains '..'; it must stay inside the workspace");
    }
    if (part.empty() || part == ".") {
      return Status::Error("path '" + shown + "' has an empty or '.' component; write it normalized");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Status ValidateChunkFrame(uint64_t declared_length, std::size_t frame_bytes) {
  if (declared_length == frame_bytes) return Status::Ok();
  return Status::Error("chunk header declares " + std::to_string(declared_length) +
                       " bytes but its blob frame has " + std::to_string(frame_bytes));
}

Status Validate(const Register& m) {
  return Checker(m.kName)
      .Id("worker_id", m.worker_id)
      .That(m.slots > 0, "slots is 0; a worker must offer at least one slot")
      .Ids("labels", m.labels)
      .Ids("running_attempt_ids", m.running_attempt_ids)
      .status();
}

Status Validate(const RegisterAck& m) {
  return Checker(m.kName)
      .Id("worker_id", m.worker_id)
      .That(m.heartbeat_interval_ms > 0, "heartbeat_interval_ms is 0")
      .That(m.heartbeat_liveness > 0, "heartbeat_liveness is 0")
      .Ids("stale_attempt_ids", m.stale_attempt_ids)
      .status();
}

Status Validate(const Heartbeat& m) {
  return Checker(m.kName).Ids("running_attempt_ids", m.running_attempt_ids).status();
}

Status Validate(const Dispatch& m) {
  Checker c(m.kName);
  c.Id("run_id", m.run_id).Id("step", m.step).Id("attempt_id", m.attempt_id);
  c.That(!m.command.empty(), "command is empty");
  for (const auto& [key, value] : m.env) {
    c.That(!key.empty() && key.find('=') == std::string::npos && key.find('\0') == std::string::npos,
           "env key '" + key + "' is not a valid variable name (empty, or holds '=' or NUL)");
    c.That(value.find('\0') == std::string::npos, "env value of '" + key + "' holds a NUL byte");
  }
  c.Paths("inputs", m.inputs, [](const InputFile& f) -> const std::string& { return f.path; });
  for (std::size_t i = 0; i < m.inputs.size(); ++i) {
    std::string where = "inputs[" + std::to_string(i) + "]";
    if (m.inputs[i].kind == kInputKindUpstream) {
      c.That(m.after_attempt.has_value(),
             where + ".kind is 'upstream' in a Dispatch without after_attempt");
      c.That(m.inputs[i].digest.empty(), where + ".digest must be empty for kind 'upstream'");
      continue;
    }
    c.Digest(where + ".digest", m.inputs[i].digest);
    c.That(m.inputs[i].kind == kInputKindFile || m.inputs[i].kind == kInputKindDir,
           where + ".kind is '" + m.inputs[i].kind + "'; expected 'file', 'dir' or 'upstream'");
  }
  if (m.after_attempt) {
    c.Id("after_attempt", *m.after_attempt);
    c.That(*m.after_attempt != m.attempt_id, "after_attempt names the attempt itself");
  }
  if (m.unless_upstream_made) {
    c.That(m.after_attempt.has_value(), "unless_upstream_made is set without after_attempt");
    c.Digests("unless_upstream_made", *m.unless_upstream_made);
  }
  c.Paths("outputs", m.outputs, [](const std::string& p) -> const std::string& { return p; });
  c.That(std::isfinite(m.resources.cpus) && m.resources.cpus >= 0,
         "resources.cpus must be a finite number >= 0");
  c.InlineBlobs(m.inline_blobs, m.inputs, "input");
  return c.status();
}

Status Validate(const AttemptStarted& m) { return Checker(m.kName).Id("attempt_id", m.attempt_id).status(); }

Status Validate(const LogChunk& m) {
  return Checker(m.kName)
      .Id("attempt_id", m.attempt_id)
      .That(m.stream == kStdout || m.stream == kStderr,
            "stream is '" + m.stream.substr(0, 40) + "'; expected 'stdout' or 'stderr'")
      .status();
}

Status Validate(const AttemptFinished& m) {
  return Checker(m.kName)
      .Id("attempt_id", m.attempt_id)
      .Files("outputs", m.outputs)
      .InlineBlobs(m.inline_blobs, m.outputs, "output")
      .status();
}

Status Validate(const AttemptFinishedAck& m) {
  return Checker(m.kName).Id("attempt_id", m.attempt_id).status();
}

Status Validate(const KillAttempt& m) { return Checker(m.kName).Id("attempt_id", m.attempt_id).status(); }

Status Validate(const BlobQuery& m) { return Checker(m.kName).Digests("digests", m.digests).status(); }

Status Validate(const BlobMissing& m) { return Checker(m.kName).Digests("digests", m.digests).status(); }

Status Validate(const BlobPutBegin& m) {
  Checker checker(m.kName);
  checker.Digest("digest", m.digest);
  if (m.attempt_id) checker.Id("attempt_id", *m.attempt_id);
  return checker.status();
}

Status Validate(const BlobPutCredit& m) { return Checker(m.kName).Digest("digest", m.digest).status(); }

Status Validate(const BlobPutChunk& m) {
  return Checker(m.kName).Digest("digest", m.digest).ChunkLength(m.offset, m.length).status();
}

Status Validate(const BlobPutEnd& m) { return Checker(m.kName).Digest("digest", m.digest).status(); }

Status Validate(const BlobPutDone& m) { return Checker(m.kName).Digest("digest", m.digest).status(); }

Status Validate(const BlobGet& m) {
  return Checker(m.kName).Digest("digest", m.digest).ChunkLength(m.offset, m.length).status();
}

Status Validate(const BlobGetChunk& m) {
  Checker c(m.kName);
  c.Digest("digest", m.digest);
  c.That(m.length <= kMaxBlobChunkBytes, "length " + std::to_string(m.length) + " is over the chunk limit");
  c.That(m.offset <= m.total_size_bytes && m.length <= m.total_size_bytes - m.offset,
         "chunk [" + std::to_string(m.offset) + ", +" + std::to_string(m.length) +
             ") runs past the blob's " + std::to_string(m.total_size_bytes) + " bytes");
  return c.status();
}

Status Validate(const BlobDamaged& m) {
  return Checker(m.kName)
      .Digest("digest", m.digest)
      .Digest("actual_digest", m.actual_digest)
      .status();
}

Status Validate(const BlobDamagedReply& m) {
  return Checker(m.kName).Digest("digest", m.digest).status();
}

Status Validate(const SubmitRun& m) {
  Checker c(m.kName);
  c.That(!m.dag_yaml.empty(), "dag_yaml is empty");
  for (const auto& [key, value] : m.params) c.That(!key.empty(), "params has an empty key");
  return c.Files("workspace", m.workspace)
      .InlineBlobs(m.inline_blobs, m.workspace, "workspace file")
      .status();
}

Status Validate(const RunStatus& m) { return Checker(m.kName).Id("run_id", m.run_id).status(); }

Status Validate(const Logs& m) {
  Checker c(m.kName);
  c.Id("run_id", m.run_id).Id("step", m.step);
  if (m.attempt_id) c.Id("attempt_id", *m.attempt_id);
  return c.status();
}

Status Validate(const Cancel& m) { return Checker(m.kName).Id("run_id", m.run_id).status(); }

Status Validate(const ListArtifacts& m) {
  Checker c(m.kName);
  c.Id("run_id", m.run_id);
  if (m.step) c.Id("step", *m.step);
  return c.status();
}

Status Validate(const CacheRemove& m) {
  Checker c(m.kName);
  if (m.key) c.Digest("key", *m.key);
  c.That(m.key.has_value() != (m.dag_name.has_value() || m.step.has_value()),
         "give either a cache key or a DAG and step, not both or neither");
  c.That(m.dag_name.has_value() == m.step.has_value(), "a DAG name needs a step name and vice versa");
  return c.status();
}

Status ValidateMessage(const Message& message) {
  return std::visit(
      [](const auto& m) -> Status {
        if constexpr (requires { Validate(m); }) {
          return Validate(m);
        } else {
          return Status::Ok();
        }
      },
      message);
}

}  // namespace receta::protocol
