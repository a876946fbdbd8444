#pragma once
// DAG parameters: typed defaults from the file, and overrides from the
// command line (`-p key=value`) that must have the default's type.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/dag/dag.h"
#include "common/status.h"

namespace receta {

/// A param's default, typed by how it was written: unquoted 42 is an
/// integer, 0.2 a number, true a boolean; anything quoted is a string.
ParamValue ParamFromScalar(const std::string& text, bool plain);

/// Splits "-p" text "key=value" into its halves; error if there is no '='
/// or the key is empty.
Result<std::pair<std::string, std::string>> SplitParamOverride(const std::string& text);

/// `text` as a value of `param`'s type, or an error saying what type the
/// param has and what was given.
Result<ParamValue> ParseParamOverride(const std::string& name, const ParamValue& param,
                                      const std::string& text);

/// Applies every override to `params`; returns one error line per bad
/// override (unknown name with did-you-mean, wrong type), empty when all fit.
std::vector<std::string> ApplyParamOverrides(
    const std::vector<std::pair<std::string, std::string>>& overrides,
    std::map<std::string, ParamValue>& params);

/// True for names usable in {{params.NAME}}: [A-Za-z_][A-Za-z0-9_-]*.
bool IsValidParamName(const std::string& name);

}  // namespace receta
