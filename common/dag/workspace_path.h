#pragma once
// Paths in a DAG are relative to the workspace: the directory holding the
// DAG file. They are normalised once, at parse time, so that "./data/x.csv"
// and "data//x.csv" name the same artifact everywhere after.

#include <string>
#include <string_view>

#include "common/lang/text_error.h"

namespace receta {

/// "./a//b/" -> "a/b"; "a/../b" -> "b". Errors (offset into `path`): empty,
/// absolute, home-relative (~), escaping the workspace through "..", or
/// naming the whole workspace (".").
TextResult<std::string> NormalizeWorkspacePath(std::string_view path);

/// True when `inner` is `outer` or lies inside the directory `outer`
/// (both normalised): PathIsWithin("model/a.pkl", "model") is true,
/// PathIsWithin("models", "model") is false.
bool PathIsWithin(std::string_view inner, std::string_view outer);

}  // namespace receta
