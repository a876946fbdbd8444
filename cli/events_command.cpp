// receta events: the scheduler's event log, by sequence number, optionally
// for one run, optionally following new events as they are committed.
#include <ostream>

#include "cli/client_commands.h"
#include "cli/table.h"

namespace receta::cli {
namespace {

constexpr uint32_t kBatch = 10000;  // events per request

// One event as a line: "SEQ HH:MM:SS KIND run=.. step=.. attempt=.. worker=..: message".
std::string EventLine(const JsonValue& event) {
  std::string line = std::to_string(event["seq"].AsInt()) + " " + FormatClock(event["time_ms"].AsInt()) + " " +
                     event["kind"].AsString();
  auto add = [&line](const char* name, const std::string& value) {
    if (!value.empty()) line += std::string(" ") + name + "=" + value;
  };
  add("run", event["run_id"].AsString());
  add("step", event["step"].AsString());
  add("attempt", event["attempt_id"].AsString());
  std::string worker = event["worker"].AsString();
  add("worker", worker.empty() ? event["worker_id"].AsString() : worker);
  if (!event["message"].AsString().empty()) line += ": " + event["message"].AsString();
  return line;
}

}  // namespace

int EventsCommand(const EventsArgs& args, std::ostream& out, std::ostream& err) {
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.client.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  protocol::Events request;
  if (!args.run_id.empty()) request.run_id = args.run_id;
  request.after_seq = args.since;
  request.limit = kBatch;
  for (;;) {
    request.wait_ms = args.follow ? kLongPollWaitMs : 0;
    Result<protocol::EventsReply> reply =
        (*client)->Call<protocol::EventsReply>(request, args.follow ? kLongPollTimeout : kReadTimeout);
    if (!reply.ok()) return Fail(err, reply.status());
    Result<JsonValue> events = ParseDocument(reply->events_json, "events");
    if (!events.ok()) return Fail(err, events.status());
    if (args.client.json) {
      // The scheduler's array as sent: one array per batch that has events
      // (a single one without -f, unless the log holds more than kBatch).
      if (events->size() > 0) out << reply->events_json << "\n";
    } else {
      for (const JsonValue& event : events->Items()) out << EventLine(event) << "\n";
    }
    out << std::flush;
    bool more = reply->last_seq > request.after_seq;
    request.after_seq = reply->last_seq;
    if (!args.follow && !more) return 0;
  }
}

}  // namespace receta::cli
