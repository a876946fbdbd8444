#include "cli/scheduler_client.h"

#include <ostream>

#include "net/endpoint.h"

namespace receta::cli {

Result<std::unique_ptr<SchedulerClient>> SchedulerClient::Connect(
    const std::string& scheduler_flag) {
  std::string endpoint = net::ResolveSchedulerEndpoint(scheduler_flag);
  std::unique_ptr<SchedulerClient> client(new SchedulerClient());
  Result<std::unique_ptr<net::Connection>> connection =
      net::Connection::Connect(client->context_, endpoint);
  if (!connection.ok()) return connection.status();
  client->connection_ = std::move(*connection);
  return client;
}

Result<JsonValue> ParseDocument(const std::string& text, std::string_view what) {
  Result<JsonValue> value = ParseJson(text);
  if (!value.ok()) {
    return Status::Error("the scheduler sent a malformed " + std::string(what) + " document (" +
                         value.error() + "); are the CLI and scheduler the same version?");
  }
  return value;
}

int PrintDocument(const std::string& text, std::string_view what, bool json,
                  const std::function<std::string(const JsonValue&)>& render, std::ostream& out,
                  std::ostream& err) {
  if (json) {
    out << text << "\n";
    return 0;
  }
  Result<JsonValue> document = ParseDocument(text, what);
  if (!document.ok()) return Fail(err, document.status());
  out << render(*document);
  return 0;
}

int Fail(std::ostream& err, const Status& status) { return Fail(err, status.message()); }

int Fail(std::ostream& err, const std::string& message) {
  err << "receta: " << message << "\n";
  return 1;
}

}  // namespace receta::cli
