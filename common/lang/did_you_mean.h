#pragma once
// Spelling suggestions for error messages ("did you mean 'seed'?"), used for
// unknown DAG keys, undefined template params, unknown metric names.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace receta {

/// The edit distance between `a` and `b` in bytes: the fewest insertions,
/// deletions, substitutions and swaps of two adjacent bytes that turn one
/// into the other (optimal string alignment distance, so "sede" is 1 from
/// "seed"). Case-sensitive.
size_t EditDistance(std::string_view a, std::string_view b);

/// The candidate closest to `word` if it is close enough to be a likely typo:
/// EditDistance <= max(1, word.size() / 3), and less than the longer of the
/// two lengths (so "a" suggests "ab" but never "c"). Among equally close
/// candidates the first in `candidates` wins. Returns nullopt when none is
/// close.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

/// " (did you mean 'X'?)" for the ClosestMatch of `word`, or "" when there is
/// none; meant to be appended to an error message.
std::string DidYouMeanSuffix(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace receta
