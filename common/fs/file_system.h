#pragma once
// FileSystem: the file queries the pure core needs (does a workspace path
// exist, and what is beside it), behind an interface so tests can use an
// in-memory tree instead of the disk (as ninja's DiskInterface).

#include <map>
#include <string>
#include <vector>

namespace receta {

enum class PathKind { kMissing, kFile, kDirectory, kSymlink, kOther };

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  /// Kind of `path` (relative to the workspace root), without following a
  /// final symlink.
  virtual PathKind Kind(const std::string& path) const = 0;
  /// Names in directory `path` ("" is the workspace root), sorted; empty
  /// if it is not a directory.
  virtual std::vector<std::string> List(const std::string& path) const = 0;
};

/// The real disk, rooted at a workspace directory.
class DiskFileSystem : public FileSystem {
 public:
  explicit DiskFileSystem(std::string root) : root_(std::move(root)) {}
  PathKind Kind(const std::string& path) const override;
  std::vector<std::string> List(const std::string& path) const override;

 private:
  std::string Full(const std::string& path) const;
  std::string root_;
};

/// An in-memory tree for tests: AddFile("a/b.txt") creates "a" as well.
class MemoryFileSystem : public FileSystem {
 public:
  void AddFile(const std::string& path);
  void AddDirectory(const std::string& path);
  PathKind Kind(const std::string& path) const override;
  std::vector<std::string> List(const std::string& path) const override;

 private:
  std::map<std::string, PathKind> entries_;
};

}  // namespace receta
