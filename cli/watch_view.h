#pragma once
// WatchView: the step table `receta watch` keeps, built from a run_json
// snapshot and moved forward by events_json events, and its two renderings:
// one appended line per step event (pipes, logs) and a redrawable screen
// with a progress bar (terminals). Pure: time comes from the events or is
// passed in.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/json/json_value.h"

namespace receta::cli {

class WatchView {
 public:
  struct StepRow {
    std::string name;
    std::string state;
    std::string worker;
    int64_t duration_ms = 0;  // from the snapshot, or measured between events
    int64_t started_ms = 0;   // when it started running, for a live duration
    std::string message;      // error or reason
  };

  /// From a run_json document (RunStatusReply).
  static WatchView FromRun(const JsonValue& run);

  /// Applies one event of events_json. Returns the line to append in plain
  /// mode ("12:00:01 train running on w-ab12"), or nothing for events that do
  /// not concern a step of this run.
  std::optional<std::string> Apply(const JsonValue& event);

  /// The whole view for a terminal: a header with the progress bar, then one
  /// line per step (at most `max_step_lines`; the rest are summarised).
  std::vector<std::string> Screen(int64_t now_ms, size_t max_step_lines) const;

  /// "[######....] 3/5": finished steps of all.
  std::string ProgressBar(size_t width = 20) const;

  const std::string& run_id() const { return run_id_; }
  const std::string& run_state() const { return run_state_; }
  /// True once the run reached a final state (snapshot or run_* event).
  bool finished() const;
  size_t steps_done() const;
  const std::vector<StepRow>& steps() const { return steps_; }

 private:
  StepRow& Row(const std::string& name);

  std::string run_id_;
  std::string dag_;
  std::string run_state_;
  int64_t submitted_ms_ = 0;
  int64_t finished_ms_ = 0;
  std::vector<StepRow> steps_;
  // Index into steps_ by name. Why: a 100,000-step run sends 300,000 step
  // events, and finding each row by a scan cost minutes of CPU.
  std::unordered_map<std::string, size_t> row_of_;
};

/// "Ctrl-line" helpers for redrawing in place: the escape codes that move
/// the cursor up over `previous_lines` and clear them, then `lines`.
std::string RedrawText(const std::vector<std::string>& lines, size_t previous_lines);

}  // namespace receta::cli
