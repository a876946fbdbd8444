#pragma once
// The CLI's side of a conversation with the scheduler: one ZeroMQ context and
// one Connection, the timeouts the verbs use, and the helpers every verb
// shares (parse a JSON document from a reply, report an error).

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "common/json/json_value.h"
#include "common/status.h"
#include "net/connection.h"

namespace receta::cli {

/// How long a read verb waits for its reply: short, so an absent scheduler
/// is reported within seconds.
inline constexpr std::chrono::milliseconds kReadTimeout{5000};
/// How long a long poll (Events, Logs) asks the scheduler to wait.
inline constexpr uint32_t kLongPollWaitMs = 1000;
/// A long poll's reply timeout: its wait plus kReadTimeout.
inline constexpr std::chrono::milliseconds kLongPollTimeout{kLongPollWaitMs + 5000};
/// Requests whose work grows with the DAG (SubmitRun) or the CAS (CacheGc).
inline constexpr std::chrono::milliseconds kSlowTimeout{120000};

/// Options every client verb takes.
struct ClientArgs {
  std::string scheduler;  // --scheduler; empty: ResolveSchedulerEndpoint decides
  bool json = false;      // --json: print the scheduler's document as is
};

class SchedulerClient {
 public:
  /// Resolves the endpoint (flag, RECETA_SCHEDULER, ./.receta/scheduler.endpoint,
  /// default) and connects. Fails only on a malformed endpoint.
  static Result<std::unique_ptr<SchedulerClient>> Connect(const std::string& scheduler_flag);

  net::Connection& connection() { return *connection_; }
  const std::string& endpoint() const { return connection_->endpoint(); }

  template <typename T>
  Result<T> Call(const protocol::Message& request,
                 std::chrono::milliseconds timeout = kReadTimeout) {
    return connection_->Call<T>(request, timeout);
  }

 private:
  SchedulerClient() = default;
  zmq::context_t context_{1};  // declared first: outlives the socket
  std::unique_ptr<net::Connection> connection_;
};

/// Connects to the scheduler (as SchedulerClient::Connect) and makes one
/// request: for the verbs that need a single reply. The connection is closed
/// before returning.
template <typename T>
Result<T> CallOnce(const std::string& scheduler_flag, const protocol::Message& request,
                   std::chrono::milliseconds timeout = kReadTimeout) {
  Result<std::unique_ptr<SchedulerClient>> client = SchedulerClient::Connect(scheduler_flag);
  if (!client.ok()) return client.status();
  return (*client)->Call<T>(request, timeout);
}

/// Parses a JSON document the scheduler sent; the error says which one.
Result<JsonValue> ParseDocument(const std::string& text, std::string_view what);

/// How a read verb prints a document the scheduler sent: with `json`, the
/// text as is and a newline; else `render` of the parsed document. `what`
/// names the document in a parse error. Returns the exit code: 0, or 1
/// after printing the error on `err`.
int PrintDocument(const std::string& text, std::string_view what, bool json,
                  const std::function<std::string(const JsonValue&)>& render, std::ostream& out,
                  std::ostream& err);

/// Prints "receta: MESSAGE" on `err` and returns 1 (a failure, not misuse).
int Fail(std::ostream& err, const Status& status);
int Fail(std::ostream& err, const std::string& message);

}  // namespace receta::cli
