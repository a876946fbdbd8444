#include "common/fs/file_system.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

namespace receta {

std::string DiskFileSystem::Full(const std::string& path) const {
  if (path.empty()) return root_;
  return root_ + "/" + path;
}

PathKind DiskFileSystem::Kind(const std::string& path) const {
  struct stat info;
  if (lstat(Full(path).c_str(), &info) != 0) return PathKind::kMissing;
  if (S_ISREG(info.st_mode)) return PathKind::kFile;
  if (S_ISDIR(info.st_mode)) return PathKind::kDirectory;
  if (S_ISLNK(info.st_mode)) return PathKind::kSymlink;
  return PathKind::kOther;
}

std::vector<std::string> DiskFileSystem::List(const std::string& path) const {
  std::vector<std::string> names;
  DIR* dir = opendir(Full(path).c_str());
  if (dir == nullptr) return names;
  while (struct dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

void MemoryFileSystem::AddDirectory(const std::string& path) {
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    entries_[path.substr(0, slash)] = PathKind::kDirectory;
  }
  entries_[path] = PathKind::kDirectory;
}

void MemoryFileSystem::AddFile(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) AddDirectory(path.substr(0, slash));
  entries_[path] = PathKind::kFile;
}

PathKind MemoryFileSystem::Kind(const std::string& path) const {
  auto it = entries_.find(path);
  return it == entries_.end() ? PathKind::kMissing : it->second;
}

std::vector<std::string> MemoryFileSystem::List(const std::string& path) const {
  std::vector<std::string> names;
  std::string prefix = path.empty() ? "" : path + "/";
  for (const auto& [entry, kind] : entries_) {
    if (entry.compare(0, prefix.size(), prefix) != 0 || entry.size() == prefix.size()) continue;
    std::string rest = entry.substr(prefix.size());
    if (rest.find('/') == std::string::npos) names.push_back(rest);
  }
  return names;
}

}  // namespace receta
