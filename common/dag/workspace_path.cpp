#include "common/dag/workspace_path.h"

#include <vector>

namespace receta {

TextResult<std::string> NormalizeWorkspacePath(std::string_view path) {
  if (path.empty()) {
    return TextResult<std::string>::Error(0,
                                          "the path is empty; write a path relative to "
                                          "the DAG file's directory");
  }
  if (path.front() == '/') {
    return TextResult<std::string>::Error(
        0, "'" + std::string(path) +
               "' is absolute; paths must be relative to the DAG file's directory (the "
               "workspace), so the pipeline runs the same on every machine");
  }
  if (path.front() == '~') {
    return TextResult<std::string>::Error(
        0, "'" + std::string(path) +
               "' starts with ~, which receta does not expand; use a path relative to the "
               "DAG file's directory");
  }
  if (size_t glob = path.find_first_of("*?"); glob != std::string_view::npos) {
    return TextResult<std::string>::Error(
        glob, "'" + std::string(path) +
                  "' is a glob, and receta does not expand globs in inputs and outputs; list "
                  "each file, or name the directory that holds them");
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (parts.empty()) {
        return TextResult<std::string>::Error(
            start, "'" + std::string(path) +
                       "' leads outside the workspace through '..'; steps may only read and "
                       "write inside the DAG file's directory");
      }
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  if (parts.empty()) {
    return TextResult<std::string>::Error(
        0, "'" + std::string(path) +
               "' names the whole workspace; name the files or directories inside it");
  }
  std::string normalized;
  for (std::string_view part : parts) {
    if (!normalized.empty()) normalized += '/';
    normalized += part;
  }
  return normalized;
}

bool PathIsWithin(std::string_view inner, std::string_view outer) {
  if (inner.size() < outer.size() || inner.substr(0, outer.size()) != outer) return false;
  return inner.size() == outer.size() || inner[outer.size()] == '/';
}

}  // namespace receta
