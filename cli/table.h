#pragma once
// Plain-text tables and the small formats the client verbs print: durations,
// local times, "2s ago", byte sizes. Pure (times are passed in).

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace receta::cli {

/// Left-aligned columns separated by two spaces, a header row in capitals.
/// The last column is not padded, so lines carry no trailing blanks.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  /// Adds a row; missing cells print empty, extra cells are dropped.
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  /// Adds a line printed as is under the previous row (not aligned), e.g.
  /// the error of a failed step.
  void AddNote(std::string text);
  size_t rows() const { return rows_.size(); }
  void Render(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::pair<size_t, std::string>> notes_;  // (after row count, text)
};

/// "0.4s", "12.3s", "59s", "3m04s", "2h05m"; "-" for 0.
std::string FormatDuration(int64_t duration_ms);

/// Local time of `epoch_ms`: "14:03:07" when on the same local day as
/// `now_ms`, else "2024-05-01 14:03"; "-" for 0.
std::string FormatLocalTime(int64_t epoch_ms, int64_t now_ms);

/// "14:03:07" (local), for the lines of `watch`.
std::string FormatClock(int64_t epoch_ms);

/// "now", "2s ago", "5m ago", "3h ago", "2d ago"; "never" for 0.
std::string FormatAgo(int64_t epoch_ms, int64_t now_ms);

/// "0 B", "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB".
std::string FormatBytes(uint64_t size_bytes);

/// Wall clock now, ms since the Unix epoch.
int64_t NowMs();

}  // namespace receta::cli
