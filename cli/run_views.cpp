#include "cli/run_views.h"

#include <algorithm>
#include <sstream>

#include "cli/table.h"

namespace receta::cli {
namespace {

std::string Text(const JsonValue& value, const std::string& empty = "-") {
  std::string text = value.AsString();
  return text.empty() ? empty : text;
}

std::string Int(const JsonValue& value) { return std::to_string(value.AsInt()); }

std::string StepsCell(const JsonValue& run) {
  std::string cell = Int(run["steps_done"]) + "/" + Int(run["steps_total"]);
  int64_t failed = run["steps_failed"].AsInt();
  if (failed > 0) cell += " (" + std::to_string(failed) + " failed)";
  return cell;
}

}  // namespace

bool IsFinishedStepState(const std::string& state) {
  return state == "succeeded" || state == "cached" || state == "failed" || state == "skipped" ||
         state == "cancelled" || state == "gate_failed";
}

bool IsFinishedRunState(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

std::string RenderRuns(const JsonValue& runs, int64_t now_ms) {
  if (runs.size() == 0) return "no runs yet; start one with `receta submit FILE`\n";
  Table table({"ID", "DAG", "STATE", "STARTED", "DURATION", "STEPS"});
  for (const JsonValue& run : runs.Items()) {
    table.AddRow({Text(run["id"]), Text(run["dag"]), Text(run["state"]),
                  FormatLocalTime(run["submitted_ms"].AsInt(), now_ms),
                  FormatDuration(run["duration_ms"].AsInt()), StepsCell(run)});
  }
  std::ostringstream out;
  table.Render(out);
  return out.str();
}

std::string RenderStatus(const JsonValue& run, int64_t now_ms) {
  std::ostringstream out;
  size_t done = 0;
  for (const JsonValue& step : run["steps"].Items()) {
    done += IsFinishedStepState(step["state"].AsString());
  }
  out << "run " << Text(run["id"]) << "  DAG " << Text(run["dag"]);
  if (!run["dag_file"].AsString().empty()) out << " (" << run["dag_file"].AsString() << ")";
  out << "  " << Text(run["state"]) << "  started "
      << FormatLocalTime(run["submitted_ms"].AsInt(), now_ms) << "  "
      << FormatDuration(run["duration_ms"].AsInt()) << "  " << done << "/" << run["steps"].size()
      << " steps finished\n";
  if (run["params"].size() > 0) {
    out << "params:";
    for (const JsonMember& param : run["params"].Members()) {
      std::string value = param.value.is_string() ? param.value.AsString() : "";
      if (!param.value.is_string()) {
        value = param.value.is_bool()      ? (param.value.AsBool() ? "true" : "false")
                : param.value.is_integer() ? std::to_string(param.value.AsInt())
                                           : std::to_string(param.value.AsNumber());
      }
      out << " " << param.key << "=" << value;
    }
    out << "\n";
  }
  if (!run["error"].AsString().empty()) out << "error: " << run["error"].AsString() << "\n";
  out << "\n";
  Table table({"STEP", "STATE", "ATTEMPTS", "FAILURES", "WORKER", "DURATION", "CACHED"});
  // A brief document (a run too big for its full status) lacks the counts.
  const bool brief = run["brief"].AsBool();
  for (const JsonValue& step : run["steps"].Items()) {
    std::string state = Text(step["state"]);
    std::string cached = brief ? "?" : "no";
    if (step["cached"].AsBool()) {
      cached = "yes";
      std::string from = step["cached_from_run"].AsString();
      if (!from.empty()) cached += " (from " + from + ")";
    }
    // Failures of the step's own making (they use up its retries) and the
    // system's (worker lost, transfer failed), counted apart.
    int64_t own = step["user_failures"].AsInt(), system = step["system_failures"].AsInt();
    std::string failures = brief                     ? "?"
                           : own == 0 && system == 0 ? "-"
                                                     : std::to_string(own) + " own, " + std::to_string(system) + " system";
    table.AddRow({Text(step["name"]), state, brief ? "?" : Int(step["attempts"]), failures, Text(step["worker"]),
                  FormatDuration(step["duration_ms"].AsInt()), cached});
    std::string reason = step["reason"].AsString();
    std::string error = step["error"].AsString();
    if (state == "waiting" || !error.empty()) {
      std::string why = !error.empty() ? error : reason;
      if (!reason.empty() && !error.empty() && reason != error) why = reason + ": " + error;
      std::string label = state == "waiting" ? "waiting: " : "error: ";
      if (state == "retrying") {
        int64_t in_ms = std::max<int64_t>(0, step["retry_at_ms"].AsInt() - now_ms);
        label = "retrying in " + FormatDuration(in_ms) + " after: ";
      } else if (state == "ready" || state == "dispatched" || state == "running") {
        label = "last attempt: ";
      }
      if (!why.empty()) table.AddNote("    " + label + why);
    }
  }
  table.Render(out);
  return out.str();
}

std::string RenderWorkers(const JsonValue& workers, int64_t now_ms) {
  if (workers.size() == 0) {
    return "no workers have registered; start one with `receta-worker --scheduler ENDPOINT`\n";
  }
  Table table({"ID", "NAME", "HOST", "LABELS", "SLOTS", "STATE", "HEARTBEAT"});
  for (const JsonValue& worker : workers.Items()) {
    std::string labels;
    for (const JsonValue& label : worker["labels"].Items()) {
      labels += (labels.empty() ? "" : ",") + label.AsString();
    }
    table.AddRow({Text(worker["id"]), Text(worker["name"]), Text(worker["host"]),
                  labels.empty() ? "-" : labels,
                  Int(worker["slots_used"]) + "/" + Int(worker["slots"]),
                  worker["connected"].AsBool() ? "up" : "lost",
                  FormatAgo(worker["last_heartbeat_ms"].AsInt(), now_ms)});
  }
  std::ostringstream out;
  table.Render(out);
  return out.str();
}

std::string RenderArtifacts(const JsonValue& artifacts) {
  if (artifacts.size() == 0) return "no artifacts\n";
  Table table({"STEP", "PATH", "SIZE", "DIGEST"});
  for (const JsonValue& artifact : artifacts.Items()) {
    std::string path = Text(artifact["path"]);
    if (artifact["executable"].AsBool()) path += "*";
    table.AddRow({Text(artifact["step"]), path,
                  FormatBytes(static_cast<uint64_t>(artifact["size_bytes"].AsInt())),
                  artifact["digest"].AsString().substr(0, 12)});
  }
  std::ostringstream out;
  table.Render(out);
  return out.str();
}

std::string RenderCacheEntries(const JsonValue& entries, int64_t now_ms) {
  if (entries.size() == 0) return "the cache is empty\n";
  Table table({"KEY", "DAG", "STEP", "RUN", "CREATED", "FILES", "SIZE"});
  for (const JsonValue& entry : entries.Items()) {
    table.AddRow({entry["key"].AsString().substr(0, 16), Text(entry["dag"]), Text(entry["step"]),
                  Text(entry["run_id"]), FormatLocalTime(entry["created_ms"].AsInt(), now_ms),
                  Int(entry["files"]),
                  FormatBytes(static_cast<uint64_t>(entry["size_bytes"].AsInt()))});
  }
  std::ostringstream out;
  table.Render(out);
  return out.str();
}

}  // namespace receta::cli
