#pragma once
// Telling a full disk apart from a step's own failure (for
// AttemptFinished.system_failure). A full disk is the worker's problem: the
// same step may well succeed on another machine, so it should not use up
// the step's retries.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace receta::worker {

/// Below this many bytes free (to unprivileged users), the file system
/// holding a sandbox counts as full.
constexpr uint64_t kDiskFullBelowBytes = uint64_t{1} << 20;

/// True when `error` carries ENOSPC's text ("No space left on device", as
/// strerror and std::error_code print it), anywhere in it.
bool SaysDiskFull(std::string_view error);

/// When the file system holding `path` has less than kDiskFullBelowBytes
/// free, a sentence saying so (to append to a step's error); else nullopt,
/// also when it cannot be asked.
///
/// Why look at the disk instead of the step's error: a step that hit ENOSPC
/// exits non-zero like any other failure; the worker only sees its exit
/// code and a disk that is (still) full.
std::optional<std::string> DiskFullNote(const std::string& path);

}  // namespace receta::worker
