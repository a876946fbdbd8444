#include "common/lang/did_you_mean.h"

#include <algorithm>

namespace receta {

size_t EditDistance(std::string_view a, std::string_view b) {
  // Three rolling rows of the classic dynamic program: row i-2 is needed for
  // the adjacent-swap case.
  std::vector<size_t> before_previous(b.size() + 1);
  std::vector<size_t> previous(b.size() + 1);
  std::vector<size_t> current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution_cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t best = std::min({previous[j] + 1,                        // delete a[i-1]
                              current[j - 1] + 1,                     // insert b[j-1]
                              previous[j - 1] + substitution_cost});  // substitute
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        best = std::min(best, before_previous[j - 2] + 1);  // swap neighbours
      }
      current[j] = best;
    }
    std::swap(before_previous, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  const size_t max_distance = std::max<size_t>(1, word.size() / 3);
  std::optional<std::string> best;
  size_t best_distance = max_distance + 1;
  for (const std::string& candidate : candidates) {
    const size_t length_gap = candidate.size() > word.size() ? candidate.size() - word.size()
                                                             : word.size() - candidate.size();
    if (length_gap >= best_distance) continue;  // Why: the distance is at least the length gap.
    const size_t distance = EditDistance(word, candidate);
    // Why: with nothing in common ("a" vs "c") a suggestion is noise, however short the word.
    if (distance >= std::max(word.size(), candidate.size())) continue;
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string DidYouMeanSuffix(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> match = ClosestMatch(word, candidates);
  if (!match) return "";
  return " (did you mean '" + *match + "'?)";
}

}  // namespace receta
