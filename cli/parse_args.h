#pragma once
// Command-line parsing shared by the three executables, so they agree on
// exit codes: --help and --version exit 0, a usage error exits 2.

#include <CLI/CLI.hpp>
#include <optional>

namespace receta::cli {

/// Parses argv into `app`. Returns nothing when the program should go on,
/// or the exit code to return now (help, version, usage error: printed).
inline std::optional<int> ParseArgs(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace receta::cli
