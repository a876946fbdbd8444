#include "cli/table.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>

namespace receta::cli {
namespace {

// Why: columns hold ASCII ids and names; counting UTF-8 code points keeps
// the odd non-ASCII label aligned too.
size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

struct tm LocalTm(int64_t epoch_ms) {
  time_t seconds = static_cast<time_t>(epoch_ms / 1000);
  struct tm local {};
  localtime_r(&seconds, &local);
  return local;
}

std::string Strftime(const char* format, const struct tm& when) {
  char buffer[64];
  size_t n = strftime(buffer, sizeof buffer, format, &when);
  return std::string(buffer, n);
}

}  // namespace

void Table::AddNote(std::string text) { notes_.emplace_back(rows_.size(), std::move(text)); }

void Table::Render(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = DisplayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < headers_.size() && c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < headers_.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      line += cell;
      if (c + 1 < headers_.size()) line += std::string(widths[c] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  print_row(headers_);
  size_t note = 0;
  for (size_t r = 0; r < rows_.size(); ++r) {
    print_row(rows_[r]);
    for (; note < notes_.size() && notes_[note].first == r + 1; ++note) {
      out << notes_[note].second << "\n";
    }
  }
}

std::string FormatDuration(int64_t duration_ms) {
  if (duration_ms <= 0) return "-";
  char buffer[32];
  if (duration_ms < 10'000) {
    snprintf(buffer, sizeof buffer, "%.1fs", static_cast<double>(duration_ms) / 1000.0);
  } else if (duration_ms < 60'000) {
    snprintf(buffer, sizeof buffer, "%llds", static_cast<long long>(duration_ms / 1000));
  } else if (duration_ms < 3'600'000) {
    long long seconds = duration_ms / 1000;
    snprintf(buffer, sizeof buffer, "%lldm%02llds", seconds / 60, seconds % 60);
  } else {
    long long minutes = duration_ms / 60'000;
    snprintf(buffer, sizeof buffer, "%lldh%02lldm", minutes / 60, minutes % 60);
  }
  return buffer;
}

std::string FormatLocalTime(int64_t epoch_ms, int64_t now_ms) {
  if (epoch_ms <= 0) return "-";
  struct tm when = LocalTm(epoch_ms);
  struct tm now = LocalTm(now_ms);
  if (when.tm_year == now.tm_year && when.tm_yday == now.tm_yday) return Strftime("%H:%M:%S", when);
  return Strftime("%Y-%m-%d %H:%M", when);
}

std::string FormatClock(int64_t epoch_ms) { return Strftime("%H:%M:%S", LocalTm(epoch_ms)); }

std::string FormatAgo(int64_t epoch_ms, int64_t now_ms) {
  if (epoch_ms <= 0) return "never";
  int64_t seconds = std::max<int64_t>(0, (now_ms - epoch_ms) / 1000);
  if (seconds < 1) return "now";
  if (seconds < 120) return std::to_string(seconds) + "s ago";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m ago";
  if (seconds < 172800) return std::to_string(seconds / 3600) + "h ago";
  return std::to_string(seconds / 86400) + "d ago";
}

std::string FormatBytes(uint64_t size_bytes) {
  if (size_bytes < 1024) return std::to_string(size_bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(size_bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 3) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  snprintf(buffer, sizeof buffer, "%.1f %s", value, units[unit]);
  return buffer;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace receta::cli
