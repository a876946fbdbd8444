#pragma once
// Connection: one ZeroMQ DEALER socket from a client (the CLI, a worker's
// transfer thread) to the scheduler's ROUTER, with request/reply matching by
// request_id. Not thread-safe: one thread per Connection.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "common/protocol/codec.h"
#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta::net {

/// The scheduler endpoint a client uses when none is given.
inline constexpr const char* kDefaultSchedulerEndpoint = "tcp://127.0.0.1:7700";

/// One received message and the raw blob frame that followed it, if any.
struct Received {
  protocol::Envelope envelope;
  zmq::message_t blob_frame;  // empty when none came
  std::string_view blob() const { return blob_frame.to_string_view(); }
};

class Connection {
 public:
  /// Connects (ZeroMQ connects lazily: an absent scheduler shows up as a
  /// timeout on the first Request). `endpoint` must look like tcp://HOST:PORT
  /// or ipc://PATH; a malformed one is an error that says so.
  static Result<std::unique_ptr<Connection>> Connect(zmq::context_t& context,
                                                     const std::string& endpoint);
  ~Connection();

  /// Sends `request` and waits up to `timeout` for the reply carrying its
  /// request_id (other messages are dropped). An Error reply becomes an error
  /// Status with the scheduler's message; silence becomes "no reply from the
  /// scheduler at ENDPOINT after Ns; is receta-scheduler running? (set
  /// --scheduler or RECETA_SCHEDULER)".
  Result<protocol::Message> Request(const protocol::Message& request,
                                    std::chrono::milliseconds timeout);
  /// Request, then checks the reply is a T.
  template <typename T>
  Result<T> Call(const protocol::Message& request, std::chrono::milliseconds timeout) {
    Result<protocol::Message> reply = Request(request, timeout);
    if (!reply.ok()) return reply.status();
    if (T* typed = std::get_if<T>(&*reply)) return std::move(*typed);
    return Status::Error("unexpected reply " + std::string(protocol::NameOf(*reply)) + " to " +
                         std::string(protocol::NameOf(request)) + " (wanted " +
                         std::string(T::kName) + ")");
  }

  /// Low level, for streaming exchanges (blob transfer): sends one message
  /// with an optional raw frame after it.
  /// The blob is handed to ZeroMQ as is (no copy).
  Status Send(const protocol::Message& message, uint64_t request_id,
              std::optional<std::string> blob = std::nullopt);
  /// Waits up to `timeout`; nullopt on timeout. Undecodable frames are errors.
  Result<std::optional<Received>> Receive(std::chrono::milliseconds timeout);

  /// True when the last Request failed because no reply came in time (as
  /// opposed to an Error reply or a bad frame): worth retrying.
  bool last_request_timed_out() const { return last_request_timed_out_; }

  uint64_t NextRequestId() { return ++last_request_id_; }
  const std::string& endpoint() const { return endpoint_; }
  zmq::socket_t& socket() { return socket_; }

 private:
  Connection(zmq::socket_t socket, std::string endpoint);
  zmq::socket_t socket_;
  std::string endpoint_;
  uint64_t last_request_id_ = 0;
  bool last_request_timed_out_ = false;
};

}  // namespace receta::net
