// receta watch: a snapshot (RunStatus), then every event after its event_seq
// (Events long poll), so nothing that happens in between is missed.
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <ostream>
#include <sstream>

#include "cli/client_commands.h"
#include "cli/run_views.h"
#include "cli/table.h"
#include "cli/watch_view.h"
#include "common/os/thread_policy.h"

namespace receta::cli {
namespace {

// Why: a scheduler restart takes a few seconds; watch rides over it rather
// than failing a `submit --wait` that a CI job is blocked on.
constexpr std::chrono::seconds kGiveUpAfter{30};

struct TerminalSize {
  size_t rows = 40;
  size_t columns = 120;
};

TerminalSize QueryTerminal() {
  TerminalSize size;
  struct winsize ws {};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    size.rows = ws.ws_row;
    size.columns = ws.ws_col;
  }
  return size;
}

// `brief` (protocol::RunStatus::brief) is all the view and the summary read.
Result<JsonValue> Snapshot(SchedulerClient& client, const std::string& run_id, std::string* raw,
                           bool brief) {
  Result<protocol::RunStatusReply> reply =
      client.Call<protocol::RunStatusReply>(protocol::RunStatus{run_id, brief});
  if (!reply.ok()) return reply.status();
  if (raw) *raw = reply->run_json;
  return ParseDocument(reply->run_json, "run");
}

// The last lines: the outcome and why the failed steps failed, written at
// once (see FollowRun).
void PrintSummary(const JsonValue& run, std::ostream& stream) {
  std::ostringstream out;
  size_t cached = 0, ran = 0;
  for (const JsonValue& step : run["steps"].Items()) {
    std::string state = step["state"].AsString();
    cached += state == "cached";
    ran += state == "succeeded";
  }
  int64_t duration_ms = run["duration_ms"].AsInt();
  out << "run " << run["id"].AsString() << " " << run["state"].AsString() << " in "
      << (duration_ms > 0 ? FormatDuration(duration_ms) : "0.0s") << ": " << ran << " ran, "
      << cached << " cached, " << run["steps"].size() << " steps\n";
  for (const JsonValue& step : run["steps"].Items()) {
    std::string state = step["state"].AsString();
    if (state == "failed" || state == "gate_failed") {
      out << "  " << step["name"].AsString() << " " << state << ": " << step["error"].AsString()
          << "\n    see `receta logs " << run["id"].AsString() << " " << step["name"].AsString()
          << "`\n";
    }
  }
  if (!run["error"].AsString().empty()) out << "  " << run["error"].AsString() << "\n";
  stream << out.str() << std::flush;
}

}  // namespace

int FollowRun(SchedulerClient& client, const std::string& run_id, std::ostream& out,
              std::ostream& err, bool tty, bool json) {
  Result<JsonValue> run = Snapshot(client, run_id, nullptr, /*brief=*/true);
  if (!run.ok()) return Fail(err, run.status());
  WatchView view = WatchView::FromRun(*run);
  uint64_t after_seq = static_cast<uint64_t>((*run)["event_seq"].AsInt());
  size_t drawn = 0;
  TerminalSize terminal = tty ? QueryTerminal() : TerminalSize{};
  auto draw = [&] {
    if (!tty || json) return;
    std::vector<std::string> lines =
        view.Screen(NowMs(), terminal.rows > 6 ? terminal.rows - 4 : 2);
    // Why cut: a wrapped line would throw off the cursor-up count.
    for (std::string& line : lines) {
      if (line.size() >= terminal.columns) line.resize(terminal.columns - 1);
    }
    out << RedrawText(lines, drawn) << std::flush;
    drawn = lines.size();
  };
  if (!tty && !json && !view.finished()) {
    out << "watching run " << view.run_id() << ": " << view.steps_done() << "/"
        << view.steps().size() << " steps finished\n"
        << std::flush;
  }
  draw();
  auto failing_since = std::chrono::steady_clock::time_point();
  while (!view.finished()) {
    protocol::Events request;
    request.run_id = run_id;
    request.after_seq = after_seq;
    request.wait_ms = kLongPollWaitMs;
    Result<protocol::EventsReply> reply =
        client.Call<protocol::EventsReply>(request, kLongPollTimeout);
    if (!reply.ok() && !client.connection().last_request_timed_out()) {
      return Fail(err, reply.status());
    }
    if (!reply.ok()) {
      auto now = std::chrono::steady_clock::now();
      if (failing_since == std::chrono::steady_clock::time_point()) {
        failing_since = now;
        err << "receta: " << reply.error() << "; retrying\n";
      }
      if (now - failing_since > kGiveUpAfter) return Fail(err, "gave up watching run " + run_id);
      continue;
    }
    failing_since = std::chrono::steady_clock::time_point();
    Result<JsonValue> events = ParseDocument(reply->events_json, "events");
    if (!events.ok()) return Fail(err, events.status());
    // Why one write per reply: stderr is unbuffered, and a line each (two
    // writes with its newline) was 8,000 system calls for a run of 1,000
    // steps, each waking whatever reads the pipe.
    std::string lines;
    for (const JsonValue& event : events->Items()) {
      std::optional<std::string> line = view.Apply(event);
      if (line && !tty && !json) lines += *line + "\n";
    }
    if (reply->last_seq > after_seq) after_seq = reply->last_seq;
    if (!lines.empty()) out << lines << std::flush;
    draw();
  }
  // The final document: exact durations and errors, as persisted; the first
  // one when the run had already finished (a fully cached rerun), unless
  // --json asks for the whole document.
  std::string raw;
  bool finished_at_start = (*run)["state"].AsString() != "running";
  Result<JsonValue> final_run = finished_at_start && !json ? std::move(run)
                                                           : Snapshot(client, run_id, &raw, /*brief=*/!json);
  if (!final_run.ok()) return Fail(err, final_run.status());
  if (json) {
    out << raw << "\n";
  } else {
    PrintSummary(*final_run, out);
  }
  return (*final_run)["state"].AsString() == "succeeded" ? 0 : 1;
}

int WatchCommand(const ClientArgs& args, const std::string& run_id, std::ostream& out,
                 std::ostream& err, bool tty) {
  (void)RunThisThreadAsBatch();  // as `receta submit --wait` does, for the same reason
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  return FollowRun(**client, run_id, out, err, tty, args.json);
}

}  // namespace receta::cli
