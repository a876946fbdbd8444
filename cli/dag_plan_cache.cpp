#include "cli/dag_plan_cache.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "cli/cache_pruning.h"
#include "cli/workspace_inputs.h"
#include "common/fs/fd_io.h"
#include "common/hash/sha256.h"
#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "receta/version.h"

namespace receta::cli {
namespace {

constexpr int64_t kFormat = 1;
// A plan lists at most every input of the largest DAG the parser takes.
constexpr size_t kMaxPlanBytes = 64 << 20;

constexpr std::string_view kPlanKind = "dag-plan";  // CliCacheFile

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

std::string DagPlanKey(std::string_view dag_file, std::string_view text,
                       const ParseOptions& options) {
  std::string material = std::string("receta ") + kVersion + "\n";
  struct stat exe {};
  if (stat("/proc/self/exe", &exe) == 0) {
    material += "exe " + std::to_string(exe.st_size) + " " + std::to_string(exe.st_mtim.tv_sec) +
                "." + std::to_string(exe.st_mtim.tv_nsec) + "\n";
  }
  // Lengths first: no choice of names and values can make two inputs
  // collide by where one string ends and the next begins.
  auto add = [&](std::string_view field) {
    material += std::to_string(field.size()) + ":";
    material += field;
    material += "\n";
  };
  add(dag_file);
  add(options.default_name);
  for (const auto& [name, value] : options.param_overrides) {
    add(name);
    add(value);
  }
  add(text);
  return HashBytes(material).ToHex();
}

std::string DagPlanPathFor(const std::string& key) {
  // Half the key's digest names the file: the full key inside decides.
  return CliCacheFile(kPlanKind, key.substr(0, 32));
}

std::optional<DagPlan> LoadDagPlan(const std::string& path, const std::string& key) {
  if (path.empty()) return std::nullopt;
  struct stat info {};
  if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode) ||
      static_cast<uint64_t>(info.st_size) > kMaxPlanBytes) {
    return std::nullopt;
  }
  std::string text;
  if (!ReadFileExact(path, static_cast<uint64_t>(info.st_size), &text).ok()) return std::nullopt;
  JsonLimits limits;
  limits.max_bytes = kMaxPlanBytes;
  Result<JsonValue> doc = ParseJson(text, limits);
  if (!doc.ok() || (*doc)["format"].AsInt() != kFormat || (*doc)["key"].AsString() != key ||
      !(*doc)["inputs"].is_array()) {
    return std::nullopt;
  }
  DagPlan plan;
  plan.warnings = (*doc)["warnings"].AsString();
  for (const JsonValue& input : (*doc)["inputs"].Items()) {
    if (!input.is_string()) return std::nullopt;
    plan.input_paths.push_back(input.AsString());
  }
  MarkUsed(path);
  return plan;
}

Status SaveDagPlan(const std::string& path, const std::string& key, const DagPlan& plan,
                   size_t max_plans) {
  if (path.empty()) return Status::Ok();
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ignored);
  JsonWriter json(0);
  json.BeginObject()
      .Field("format", kFormat)
      .Field("key", key)
      .Field("warnings", plan.warnings)
      .StringArray("inputs", plan.input_paths)
      .EndObject();
  std::string temp = path + ".tmp.XXXXXX";
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return Status::Error(temp + ": cannot create: " + ErrnoText());
  Status wrote = WriteAll(fd, json.str(), temp);
  if (close(fd) != 0 && wrote.ok()) wrote = Status::Error(temp + ": close failed: " + ErrnoText());
  if (wrote.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    wrote = Status::Error("cannot rename " + temp + " to " + path + ": " + ErrnoText());
  }
  if (!wrote.ok()) {
    unlink(temp.c_str());
    return wrote;
  }
  PruneLeastRecentlyUsed(std::filesystem::path(path).parent_path().string(), kPlanKind, max_plans);
  return wrote;
}

}  // namespace receta::cli
