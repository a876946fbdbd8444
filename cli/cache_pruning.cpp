#include "cli/cache_pruning.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

namespace receta::cli {

void PruneLeastRecentlyUsed(const std::string& directory, std::string_view kind, size_t keep) {
  namespace fs = std::filesystem;
  const std::string prefix = std::string(kind) + "-";
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  std::error_code ec;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.find(".tmp.") != std::string::npos) continue;
    std::error_code time_ec;
    fs::file_time_type used = it->last_write_time(time_ec);
    if (!time_ec) files.emplace_back(used, it->path());
  }
  if (files.size() <= keep) return;
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i + keep < files.size(); ++i) fs::remove(files[i].second, ec);
}

void MarkUsed(const std::string& path) { utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

}  // namespace receta::cli
