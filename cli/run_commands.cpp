// receta runs, status, cancel, logs.
#include <ostream>

#include "cli/client_commands.h"
#include "cli/run_views.h"
#include "cli/table.h"

namespace receta::cli {

int RunsCommand(const RunsArgs& args, std::ostream& out, std::ostream& err) {
  protocol::ListRuns request;
  request.limit = args.limit;
  if (!args.dag.empty()) request.dag_name = args.dag;
  Result<protocol::ListRunsReply> reply =
      CallOnce<protocol::ListRunsReply>(args.client.scheduler, request);
  if (!reply.ok()) return Fail(err, reply.status());
  return PrintDocument(
      reply->runs_json, "runs", args.client.json,
      [](const JsonValue& runs) { return RenderRuns(runs, NowMs()); }, out, err);
}

int StatusCommand(const ClientArgs& args, const std::string& run_id, std::ostream& out,
                  std::ostream& err) {
  Result<protocol::RunStatusReply> reply =
      CallOnce<protocol::RunStatusReply>(args.scheduler, protocol::RunStatus{run_id, std::nullopt});
  if (!reply.ok()) return Fail(err, reply.status());
  Result<JsonValue> run = ParseDocument(reply->run_json, "run");
  if (!run.ok()) return Fail(err, run.status());
  // A run too big for its full status comes brief (RunStatusJsonWithin).
  if (std::string why = (*run)["brief_because"].AsString(); !why.empty()) {
    err << "receta: run " << run_id << ": " << why
        << "; showing each step's state, worker, duration and error only\n";
  }
  if (args.json) {
    out << reply->run_json << "\n";
  } else {
    out << RenderStatus(*run, NowMs());
  }
  return 0;
}

int CancelCommand(const ClientArgs& args, const std::string& run_id, std::ostream& out,
                  std::ostream& err) {
  Result<protocol::CancelReply> reply = CallOnce<protocol::CancelReply>(
      args.scheduler, protocol::Cancel{run_id, "cancelled with `receta cancel`"});
  if (!reply.ok()) return Fail(err, reply.status());
  out << "cancelled run " << reply->run_id << ": " << reply->cancelled_steps << " step"
      << (reply->cancelled_steps == 1 ? "" : "s") << " stopped\n";
  return 0;
}

int RetryCommand(const ClientArgs& args, const std::string& run_id, const std::string& step,
                 std::ostream& out, std::ostream& err) {
  Result<protocol::RetryRunReply> reply =
      CallOnce<protocol::RetryRunReply>(args.scheduler, protocol::RetryRun{run_id, step});
  if (!reply.ok()) return Fail(err, reply.status());
  out << "retrying run " << reply->run_id << ": " << reply->steps_reset << " step"
      << (reply->steps_reset == 1 ? "" : "s") << " to run again; follow with `receta watch " << reply->run_id
      << "`\n";
  return 0;
}

namespace {

// The attempt id of attempt number `number` of `step`, from the run's
// attempt_history; the error lists the numbers there are.
Result<std::string> AttemptId(SchedulerClient& client, const std::string& run_id,
                              const std::string& step, int number) {
  Result<protocol::RunStatusReply> reply =
      client.Call<protocol::RunStatusReply>(protocol::RunStatus{run_id, std::nullopt});
  if (!reply.ok()) return reply.status();
  Result<JsonValue> run = ParseDocument(reply->run_json, "run");
  if (!run.ok()) return run.status();
  for (const JsonValue& row : (*run)["steps"].Items()) {
    if (row["name"].AsString() != step) continue;
    std::string numbers;
    for (const JsonValue& attempt : row["attempt_history"].Items()) {
      if (attempt["number"].AsInt() == number) return attempt["id"].AsString();
      numbers += (numbers.empty() ? "" : ", ") + std::to_string(attempt["number"].AsInt());
    }
    if (numbers.empty())
      return Status::Error("step '" + step + "' of run " + run_id + " has not run yet");
    return Status::Error("step '" + step + "' of run " + run_id + " has no attempt " +
                         std::to_string(number) + "; its attempts are " + numbers);
  }
  return Status::Error("run " + run_id + " has no step '" + step + "'; see `receta status " +
                       run_id + "`");
}

}  // namespace

int LogsCommand(const LogsArgs& args, std::ostream& out, std::ostream& err) {
  if (args.attempt < 0) {
    err << "receta: --attempt must be 1 or more (got " << args.attempt << ")\n";
    return 2;
  }
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(args.client.scheduler);
  if (!client.ok()) return Fail(err, client.status());
  protocol::Logs request;
  request.run_id = args.run_id;
  request.step = args.step;
  if (args.attempt > 0) {
    Result<std::string> id = AttemptId(**client, args.run_id, args.step, args.attempt);
    if (!id.ok()) return Fail(err, id.status());
    request.attempt_id = *id;
  }
  request.wait_ms = args.follow ? kLongPollWaitMs : 0;
  while (true) {
    Result<protocol::LogsReply> reply = (*client)->Call<protocol::LogsReply>(
        request, args.follow ? kLongPollTimeout : kReadTimeout);
    if (!reply.ok()) return Fail(err, reply.status());
    out.write(reply->data.data(), static_cast<std::streamsize>(reply->data.size()));
    out.flush();
    // Why pin the attempt: with -f a retry must not splice a new attempt's
    // log onto the offset of the old one.
    if (!request.attempt_id && !reply->attempt_id.empty()) request.attempt_id = reply->attempt_id;
    request.offset = reply->next_offset;
    if (reply->finished) return 0;
    if (!args.follow && reply->data.empty()) return 0;
  }
}

}  // namespace receta::cli
