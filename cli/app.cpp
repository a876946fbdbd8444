#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <string>

#include "receta/version.h"

namespace receta::cli {

int RunCli(int argc, char** argv) {
  CLI::App app{"receta: run ML pipelines on your machines, cached and recorded"};
  app.set_version_flag("--version", std::string("receta ") + receta::kVersion);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}

}  // namespace receta::cli
