#include "cli/watch_view.h"

#include <map>

#include "cli/run_views.h"
#include "cli/table.h"

namespace receta::cli {
namespace {

// The step state each step event moves a step to, when the event carries no
// "state" of its own.
const std::map<std::string, std::string>& StateOfEvent() {
  static const std::map<std::string, std::string> kStates = {
      {"step_ready", "ready"},        {"step_dispatched", "dispatched"},
      {"step_started", "running"},    {"step_succeeded", "succeeded"},
      {"step_cached", "cached"},      {"step_failed", "failed"},
      {"step_skipped", "skipped"},    {"step_cancelled", "cancelled"},
      {"gate_failed", "gate_failed"}, {"step_waiting", "waiting"},
  };
  return kStates;
}

std::string RunStateOfEvent(const std::string& kind) {
  if (kind == "run_succeeded") return "succeeded";
  if (kind == "run_failed") return "failed";
  if (kind == "run_cancelled") return "cancelled";
  return "";
}

}  // namespace

WatchView WatchView::FromRun(const JsonValue& run) {
  WatchView view;
  view.run_id_ = run["id"].AsString();
  view.dag_ = run["dag"].AsString();
  view.run_state_ = run["state"].AsString();
  view.submitted_ms_ = run["submitted_ms"].AsInt();
  view.finished_ms_ = run["finished_ms"].AsInt();
  for (const JsonValue& step : run["steps"].Items()) {
    StepRow row;
    row.name = step["name"].AsString();
    row.state = step["state"].AsString();
    row.worker = step["worker"].AsString();
    row.duration_ms = step["duration_ms"].AsInt();
    // A step already running: its start, so the finish line shows the whole
    // duration, not just what passed since the snapshot.
    // (started_ms in a brief status; the latest attempt's in a full one)
    const JsonValue& attempts = step["attempt_history"];
    if (row.state == "running") {
      row.started_ms = step.Has("started_ms") ? step["started_ms"].AsInt()
                       : attempts.size() > 0  ? attempts[attempts.size() - 1]["started_ms"].AsInt()
                                              : 0;
    }
    row.message = step["error"].AsString();
    if (row.message.empty()) row.message = step["reason"].AsString();
    view.row_of_.emplace(row.name, view.steps_.size());
    view.steps_.push_back(std::move(row));
  }
  return view;
}

WatchView::StepRow& WatchView::Row(const std::string& name) {
  auto [it, added] = row_of_.emplace(name, steps_.size());
  if (added) steps_.push_back(StepRow{name, "pending", "", 0, 0, ""});
  return steps_[it->second];
}

std::optional<std::string> WatchView::Apply(const JsonValue& event) {
  const std::string kind = event["kind"].AsString();
  const std::string run_id = event["run_id"].AsString();
  if (!run_id_.empty() && !run_id.empty() && run_id != run_id_) return std::nullopt;
  const int64_t time_ms = event["time_ms"].AsInt();
  const std::string message = event["message"].AsString();
  const std::string clock = FormatClock(time_ms);

  if (std::string run_state = RunStateOfEvent(kind); !run_state.empty()) {
    run_state_ = run_state;
    finished_ms_ = time_ms;
    std::string line = clock + " run " + run_state + " (" + std::to_string(steps_done()) + "/" +
                       std::to_string(steps_.size()) + " steps finished)";
    if (!message.empty()) line += ": " + message;
    return line;
  }
  const std::string step = event["step"].AsString();
  auto known = StateOfEvent().find(kind);
  if (step.empty() || (known == StateOfEvent().end() && event["state"].AsString().empty())) {
    return std::nullopt;
  }
  StepRow& row = Row(step);
  row.state = event["state"].AsString().empty() ? known->second : event["state"].AsString();
  // The worker's name when the scheduler sends it (it reads better than the id).
  std::string worker = event["worker"].AsString();
  if (worker.empty()) worker = event["worker_id"].AsString();
  if (!worker.empty()) row.worker = worker;
  if (row.state == "running") {
    row.started_ms = time_ms;
    row.duration_ms = 0;
  } else if (IsFinishedStepState(row.state) && row.started_ms > 0) {
    row.duration_ms = time_ms - row.started_ms;
    row.started_ms = 0;
  }
  if (!message.empty()) row.message = message;

  std::string line = clock + " " + step + " " + row.state;
  if (row.state == "running" && !row.worker.empty()) line += " on " + row.worker;
  if (IsFinishedStepState(row.state) && row.duration_ms > 0) {
    line += " (" + FormatDuration(row.duration_ms) + ")";
  }
  if (!message.empty() && row.state != "running") line += ": " + message;
  return line;
}

bool WatchView::finished() const { return IsFinishedRunState(run_state_); }

size_t WatchView::steps_done() const {
  size_t done = 0;
  for (const StepRow& row : steps_) done += IsFinishedStepState(row.state);
  return done;
}

std::string WatchView::ProgressBar(size_t width) const {
  size_t total = steps_.size();
  size_t done = steps_done();
  size_t filled = total == 0 ? width : done * width / total;
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " +
         std::to_string(done) + "/" + std::to_string(total);
}

std::vector<std::string> WatchView::Screen(int64_t now_ms, size_t max_step_lines) const {
  std::vector<std::string> lines;
  int64_t end_ms = finished_ms_ > 0 ? finished_ms_ : now_ms;
  lines.push_back("run " + run_id_ + " (" + dag_ + ") " + run_state_ + "  " + ProgressBar() + "  " +
                  FormatDuration(submitted_ms_ > 0 ? end_ms - submitted_ms_ : 0));
  size_t name_width = 4;
  for (const StepRow& row : steps_) name_width = std::max(name_width, row.name.size());
  // Why: a 1,000-step DAG cannot fit a terminal; show what moves (running,
  // failed, waiting) first, then the rest in order, and count what is left.
  std::vector<const StepRow*> shown;
  auto interesting = [](const StepRow& row) {
    return row.state == "running" || row.state == "failed" || row.state == "gate_failed" ||
           row.state == "waiting" || row.state == "dispatched";
  };
  if (steps_.size() > max_step_lines) {
    for (const StepRow& row : steps_) {
      if (interesting(row) && shown.size() < max_step_lines) shown.push_back(&row);
    }
  } else {
    for (const StepRow& row : steps_) shown.push_back(&row);
  }
  for (const StepRow* row : shown) {
    std::string line =
        "  " + row->name + std::string(name_width - row->name.size() + 2, ' ') + row->state;
    int64_t duration = row->started_ms > 0 ? now_ms - row->started_ms : row->duration_ms;
    if (row->state == "running" || duration > 0) {
      line += std::string(row->state.size() < 12 ? 12 - row->state.size() : 1, ' ') +
              FormatDuration(duration);
    }
    if (!row->worker.empty() && (row->state == "running" || row->state == "dispatched")) {
      line += "  on " + row->worker;
    }
    if (!row->message.empty() &&
        (row->state == "failed" || row->state == "gate_failed" || row->state == "waiting")) {
      line += "  " + row->message;
    }
    lines.push_back(line);
  }
  if (shown.size() < steps_.size()) {
    std::map<std::string, size_t> others;
    for (const StepRow& row : steps_) {
      bool listed = false;
      for (const StepRow* s : shown) listed = listed || s == &row;
      if (!listed) ++others[row.state];
    }
    std::string line = "  ... " + std::to_string(steps_.size() - shown.size()) + " more:";
    for (const auto& [state, count] : others) line += " " + std::to_string(count) + " " + state;
    lines.push_back(line);
  }
  return lines;
}

std::string RedrawText(const std::vector<std::string>& lines, size_t previous_lines) {
  std::string text;
  if (previous_lines > 0) text += "\x1b[" + std::to_string(previous_lines) + "A";
  for (const std::string& line : lines) text += "\x1b[2K" + line + "\n";
  // Clear whatever the previous screen had below the new one.
  text += "\x1b[J";
  return text;
}

}  // namespace receta::cli
