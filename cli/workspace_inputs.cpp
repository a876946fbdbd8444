#include "cli/workspace_inputs.h"


#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "common/hash/sha256.h"
#include "common/hash/tree_hash.h"

namespace receta::cli {
namespace {

// Why a bound: a link to an ancestor directory would otherwise expand forever.
constexpr int kMaxLinkDepth = 8;

class Hasher {
 public:
  explicit Hasher(StatCache* cache) : cache_(cache) {}

  // Adds the files under disk path `disk` as workspace path `path`.
  Status Add(const std::string& disk, const std::string& path, int depth) {
    TreeHashReport report;
    Result<Digest> digest = HashPath(disk, cache_, &report);
    if (!digest.ok()) return digest.status().WithContext("workspace input '" + path + "'");
    inputs_.files_read += report.files_read;
    inputs_.bytes_read += report.bytes_read;
    inputs_.cache_hits += report.cache_hits;
    for (const TreeEntry& entry : report.entries) {
      std::string rel = entry.relative_path.empty() ? path : path + "/" + entry.relative_path;
      std::string full = entry.relative_path.empty() ? disk : disk + "/" + entry.relative_path;
      if (entry.kind == EntryKind::kFile) {
        files_.emplace(
            rel,
            WorkspaceFile{{rel, entry.digest.ToHex(), entry.size_bytes, entry.executable}, full});
      } else if (entry.kind == EntryKind::kSymlink) {
        if (Status s = Follow(full, rel, depth); !s.ok()) return s;
      }
    }
    return Status::Ok();
  }

  WorkspaceInputs Finish() {
    for (auto& [path, file] : files_) inputs_.files.push_back(std::move(file));
    return std::move(inputs_);
  }

 private:
  Status Follow(const std::string& link, const std::string& rel, int depth) {
    if (depth >= kMaxLinkDepth) {
      return Status::Error("workspace input '" + rel + "' is reached through more than " +
                           std::to_string(kMaxLinkDepth) +
                           " symlinks (a link to a directory above it?); replace the loop with "
                           "real files");
    }
    char resolved[PATH_MAX];
    if (::realpath(link.c_str(), resolved) == nullptr) {
      std::string target = std::filesystem::read_symlink(link, ignored_).string();
      return Status::Error("workspace input '" + rel + "' is a symlink to '" + target +
                           "', which cannot be read (" + std::strerror(errno) +
                           "); fix or remove the link");
    }
    return Add(resolved, rel, depth + 1);
  }

  StatCache* cache_;
  std::error_code ignored_;
  std::map<std::string, WorkspaceFile> files_;  // first one wins: same path, same bytes
  WorkspaceInputs inputs_;
};

}  // namespace

std::vector<std::string> WorkspaceInputPaths(const Dag& dag, const DagGraph& graph) {
  std::set<std::string> paths;
  for (size_t i = 0; i < dag.steps.size(); ++i) {
    const std::vector<std::string>& inputs = dag.steps[i].inputs;
    for (size_t j = 0; j < inputs.size(); ++j) {
      bool produced = i < graph.input_producers.size() && j < graph.input_producers[i].size() &&
                      !graph.input_producers[i][j].empty();
      if (!produced) paths.insert(inputs[j]);
    }
  }
  return {paths.begin(), paths.end()};
}

Result<WorkspaceInputs> HashWorkspaceInputs(const std::string& workspace_root,
                                            const std::vector<std::string>& paths,
                                            StatCache* cache) {
  // Why absolute: the stat cache is keyed by path, and the same file must
  // have one spelling whichever directory submit runs from.
  std::error_code error;
  std::string root = std::filesystem::absolute(workspace_root.empty() ? "." : workspace_root, error)
                         .lexically_normal()
                         .string();
  if (error)
    return Status::Error("cannot resolve workspace " + workspace_root + ": " + error.message());
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  Hasher hasher(cache);
  for (const std::string& path : paths) {
    if (Status s = hasher.Add(root + "/" + path, path, 0); !s.ok()) return s;
  }
  return hasher.Finish();
}

std::string CliCacheDirectory() {
  const char* xdg = ::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/receta";
  const char* home = ::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.cache/receta";
  return "";
}

std::string CliCacheFile(std::string_view kind, std::string_view id) {
  std::string directory = CliCacheDirectory();
  if (directory.empty()) return "";
  return directory + "/" + std::string(kind) + "-" + std::string(id);
}

std::string CliCacheFileFor(std::string_view kind, const std::string& path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  std::string normal = ec ? path : absolute.lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return CliCacheFile(kind, HashBytes(normal).ToHex().substr(0, 16));
}

std::string DefaultStatCachePath() {
  std::string directory = CliCacheDirectory();
  return directory.empty() ? "" : directory + "/stat-cache";
}

std::string StatCachePathFor(const std::string& workspace_root) {
  return CliCacheFileFor(kStatCacheKind, workspace_root);
}

}  // namespace receta::cli
