// receta-scheduler: the daemon that owns all run state. This build only
// parses its command line; scheduling arrives with the core issue (#3).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/parse_args.h"
#include "receta/version.h"

int main(int argc, char** argv) {
  CLI::App app{"receta-scheduler: assigns pipeline steps to worker agents over ZeroMQ"};
  app.set_version_flag("--version", std::string("receta-scheduler ") + receta::kVersion);
  std::string data_dir = "./.receta";
  std::string listen = "tcp://127.0.0.1:7700";
  app.add_option("--data-dir", data_dir, "Directory for state (RocksDB) and artifacts")
      ->capture_default_str();
  app.add_option("--listen", listen, "ZeroMQ endpoint to bind")->capture_default_str();
  if (std::optional<int> exit_code = receta::cli::ParseArgs(app, argc, argv)) return *exit_code;
  std::fprintf(stderr,
               "receta-scheduler %s: the scheduling loop is not built yet (issue #3); "
               "use `receta dag validate|show|graph` to work with DAGs today.\n",
               receta::kVersion);
  return 2;
}
