#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/client_app.h"
#include "cli/commands.h"
#include "cli/parse_args.h"
#include "receta/version.h"

namespace receta::cli {
namespace {

void AddDagFileArgs(CLI::App* command, DagFileArgs& args) {
  command->add_option("FILE", args.file, "The DAG's YAML file")->required();
  command
      ->add_option("-p,--param", args.params,
                   "Override a param: -p NAME=VALUE (typed like its default); repeatable")
      ->allow_extra_args(false);
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"receta: run ML pipelines on your machines, cached and recorded"};
  app.set_version_flag("--version", std::string("receta ") + receta::kVersion);
  app.require_subcommand(1);

  CLI::App* dag = app.add_subcommand("dag", "Validate, show and draw DAG files");
  dag->require_subcommand(1);

  DagFileArgs validate_args;
  CLI::App* validate = dag->add_subcommand("validate", "Check a DAG file; list every error");
  AddDagFileArgs(validate, validate_args);

  DagFileArgs show_args;
  bool show_json = false;
  CLI::App* show = dag->add_subcommand(
      "show", "The normalised DAG: steps in order, edges, commands, cache-key inputs");
  AddDagFileArgs(show, show_args);
  show->add_flag("--json", show_json, "Print JSON");

  DagFileArgs graph_args;
  std::string graph_format = "text";
  CLI::App* graph = dag->add_subcommand("graph", "Draw the DAG: text, Graphviz dot or Mermaid");
  AddDagFileArgs(graph, graph_args);
  graph->add_option("--format", graph_format, "text, dot or mermaid")->capture_default_str();

  CLI::App* schema = dag->add_subcommand("schema", "Print the JSON Schema of DAG files");

  std::vector<std::string> hash_paths;
  bool hash_json = false;
  CLI::App* hash = app.add_subcommand("hash",
                                      "SHA-256 digests of files and directories, as "
                                      "receta computes them");
  hash->add_option("PATH", hash_paths, "Files or directories")->required();
  hash->add_flag("--json", hash_json, "Print JSON");

  ClientVerbs client_verbs;
  AddClientVerbs(app, client_verbs);
  std::string scheduler_before_verb;
  app.add_option("--scheduler", scheduler_before_verb,
                 "Scheduler endpoint for the verbs that talk to it (also accepted after the verb)");

  if (std::optional<int> exit_code = ParseArgs(app, argc, argv)) return *exit_code;
  // Why the environment: it is where ResolveSchedulerEndpoint looks after a
  // verb's own --scheduler, so `receta --scheduler EP runs` ranks the same
  // as a flag (above RECETA_SCHEDULER, below `runs --scheduler EP`).
  if (!scheduler_before_verb.empty()) ::setenv("RECETA_SCHEDULER", scheduler_before_verb.c_str(), 1);
  if (std::optional<int> exit_code = RunClientVerb(client_verbs)) return *exit_code;
  if (validate->parsed()) return DagValidate(validate_args, std::cout, std::cerr);
  if (show->parsed()) return DagShow(show_args, show_json, std::cout, std::cerr);
  if (graph->parsed()) return DagGraph(graph_args, graph_format, std::cout, std::cerr);
  if (schema->parsed()) return DagSchema(std::cout);
  if (hash->parsed()) return Hash(hash_paths, hash_json, std::cout, std::cerr);
  return 2;
}

}  // namespace receta::cli
