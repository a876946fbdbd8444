#include "common/dag/dag_load.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/dag/dag_lint.h"
#include "common/dag/dag_validate.h"

namespace receta {

LoadedDag LoadDagText(const std::string& text, const std::string& file_label,
                      const ParseOptions& options, const FileSystem& workspace) {
  LoadedDag loaded(file_label);
  loaded.dag = ParseDag(text, options, loaded.diagnostics);
  if (!loaded.dag) return loaded;
  ValidateOutputs(*loaded.dag, loaded.diagnostics);
  loaded.graph = BuildDagGraph(*loaded.dag, loaded.diagnostics);
  ValidateInputs(*loaded.dag, loaded.graph, workspace, loaded.diagnostics);
  if (loaded.diagnostics.empty()) LintDag(*loaded.dag, loaded.graph, loaded.warnings);
  loaded.dag->file = file_label;
  return loaded;
}

namespace {

LoadedDag FailedLoad(const std::string& path, const std::string& message) {
  LoadedDag failed(path);
  failed.diagnostics.Add({}, message);
  return failed;
}

}  // namespace

std::string DagNameFromPath(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

std::string DagDirectory(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<std::string> ReadDagFile(const std::string& path, const YamlLimits& limits) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return Status::Error(std::string("cannot open the DAG file: ") + std::strerror(errno) +
                         "; check the path");
  }
  if (S_ISDIR(info.st_mode)) {
    return Status::Error("this is a directory; give the DAG's YAML file, e.g. " + path +
                         "/pipeline.yaml");
  }
  // Why check before reading: a huge file must not be loaded into memory.
  if (static_cast<size_t>(info.st_size) > limits.max_bytes) {
    return Status::Error(DescribeTooLarge(info.st_size, limits));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return Status::Error(std::string("cannot read the DAG file: ") + std::strerror(errno));
  }
  return buffer.str();
}

LoadedDag LoadDagFileText(const std::string& path, const std::string& text, ParseOptions options) {
  const std::string directory = DagDirectory(path);
  options.default_name = DagNameFromPath(path);
  DiskFileSystem workspace(directory);
  LoadedDag loaded = LoadDagText(text, path, options, workspace);
  loaded.workspace_root = directory;
  return loaded;
}

LoadedDag LoadDagFile(const std::string& path, ParseOptions options) {
  Result<std::string> text = ReadDagFile(path, options.limits);
  if (!text.ok()) return FailedLoad(path, text.error());
  return LoadDagFileText(path, *text, std::move(options));
}

}  // namespace receta
