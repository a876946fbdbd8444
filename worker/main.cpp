// receta-worker: the agent that runs steps on a training machine. This build
// only parses its command line; execution arrives with the core issue (#3).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/parse_args.h"
#include "receta/version.h"

int main(int argc, char** argv) {
  CLI::App app{"receta-worker: runs pipeline steps handed out by receta-scheduler"};
  app.set_version_flag("--version", std::string("receta-worker ") + receta::kVersion);
  std::string scheduler = "tcp://127.0.0.1:7700";
  std::string work_dir = "./.receta-worker";
  int slots = 1;
  std::string labels;
  std::string name;
  app.add_option("--scheduler", scheduler, "Scheduler endpoint to connect to")
      ->capture_default_str();
  app.add_option("--work-dir", work_dir, "Directory for sandboxes and the local artifact cache")
      ->capture_default_str();
  app.add_option("--slots", slots, "Steps run at once")->check(CLI::Range(1, 4096));
  app.add_option("--labels", labels, "Comma-separated labels steps can ask for");
  app.add_option("--name", name, "Name shown in `receta workers` (default: hostname)");
  if (std::optional<int> exit_code = receta::cli::ParseArgs(app, argc, argv)) return *exit_code;
  std::fprintf(stderr, "receta-worker %s: the agent loop is not built yet (issue #3).\n",
               receta::kVersion);
  return 2;
}
