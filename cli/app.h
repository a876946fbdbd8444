#pragma once

namespace receta::cli {

/// Parses argv and runs the chosen verb. Returns the process exit code:
/// 0 success, 1 the input was wrong (errors printed), 2 usage error.
int RunCli(int argc, char** argv);

}  // namespace receta::cli
