#pragma once
// The CLI's verbs, one function each. They write results to `out` and
// problems to `err`, and return the process exit code: 0 success, 1 the
// input was wrong or a check failed (errors printed), 2 usage error.

#include <iosfwd>
#include <string>
#include <vector>

namespace receta::cli {

struct DagFileArgs {
  std::string file;
  std::vector<std::string> params;  // "-p key=value" texts
};

int DagValidate(const DagFileArgs& args, std::ostream& out, std::ostream& err);
int DagShow(const DagFileArgs& args, bool json, std::ostream& out, std::ostream& err);
/// `format`: text, dot or mermaid.
int DagGraph(const DagFileArgs& args, const std::string& format, std::ostream& out,
             std::ostream& err);
int DagSchema(std::ostream& out);
int Hash(const std::vector<std::string>& paths, bool json, std::ostream& out, std::ostream& err);

}  // namespace receta::cli
