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

LoadedDag LoadDagFile(const std::string& path, ParseOptions options) {
  std::string directory = ".";
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) directory = slash == 0 ? "/" : path.substr(0, slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  options.default_name = dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);

  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    LoadedDag failed(path);
    failed.diagnostics.Add(
        {}, std::string("cannot open the DAG file: ") + std::strerror(errno) + "; check the path");
    return failed;
  }
  if (S_ISDIR(info.st_mode)) {
    LoadedDag failed(path);
    failed.diagnostics.Add(
        {}, "this is a directory; give the DAG's YAML file, e.g. " + path + "/" + "pipeline.yaml");
    return failed;
  }
  if (static_cast<size_t>(info.st_size) > options.limits.max_bytes) {
    LoadedDag failed(path);
    failed.diagnostics.Add({}, "the file is " + std::to_string(info.st_size) +
                                   " bytes, more than the " +
                                   std::to_string(options.limits.max_bytes) +
                                   " a DAG may have; is this the right file?");
    return failed;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in.good() && !in.eof()) {
    LoadedDag failed(path);
    failed.diagnostics.Add({}, std::string("cannot read the DAG file: ") + std::strerror(errno));
    return failed;
  }
  DiskFileSystem workspace(directory);
  LoadedDag loaded = LoadDagText(buffer.str(), path, options, workspace);
  loaded.workspace_root = directory;
  return loaded;
}

}  // namespace receta
