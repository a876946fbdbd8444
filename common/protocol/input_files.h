#pragma once
// Building a Dispatch's input list, shared by the scheduler (from a run's
// manifests) and the worker (filling in a speculative dispatch's upstream
// inputs). Pure.

#include <vector>

#include "common/protocol/messages.h"

namespace receta::protocol {

/// The input placing `file` at its path.
InputFile InputFileOf(const FileEntry& file);

/// Sorts by path and keeps the first entry of each path (stable: an entry
/// listed earlier wins).
void SortUniqueByPath(std::vector<InputFile>& inputs);

}  // namespace receta::protocol
