#include "net/connection.h"

#include <cerrno>
#include <vector>

#include "common/protocol/validate.h"
#include "net/endpoint.h"
#include "net/frames.h"

namespace receta::net {
namespace {

using Clock = std::chrono::steady_clock;

// Why: a DEALER queues messages for a scheduler that is not there yet; a send
// blocks only when the queue is full, which means the scheduler stopped
// reading. Better an error than a CLI that hangs.
constexpr int kSendTimeoutMs = 5000;

std::string Seconds(std::chrono::milliseconds timeout) {
  long long ms = timeout.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100) + "s";
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::Connect(zmq::context_t& context,
                                                        const std::string& endpoint) {
  if (Status valid = CheckEndpoint(endpoint); !valid.ok()) return valid;
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    ConfigureSocket(socket);
    socket.set(zmq::sockopt::sndtimeo, kSendTimeoutMs);
    socket.connect(endpoint);
    return std::unique_ptr<Connection>(new Connection(std::move(socket), endpoint));
  } catch (const zmq::error_t& e) {
    return Status::Error("cannot connect to the scheduler at " + endpoint + ": " + e.what());
  }
}

Connection::Connection(zmq::socket_t socket, std::string endpoint)
    : socket_(std::move(socket)), endpoint_(std::move(endpoint)) {}

Connection::~Connection() = default;

Status Connection::Send(const protocol::Message& message, uint64_t request_id,
                        std::optional<std::string> blob) {
  Result<std::string> header = protocol::Encode(message, request_id);
  if (!header.ok()) return header.status();
  std::vector<zmq::message_t> parts;
  parts.emplace_back();
  parts.emplace_back(header->data(), header->size());
  if (blob) parts.push_back(FrameOwning(std::move(*blob)));
  if (!SendFrames(socket_, parts, /*dontwait=*/false)) {
    return Status::Error("could not send " + std::string(protocol::NameOf(message)) +
                         " to the scheduler at " + endpoint_ + " within " +
                         Seconds(std::chrono::milliseconds(kSendTimeoutMs)) +
                         " (its queue is full: is receta-scheduler running and reachable?)");
  }
  return Status::Ok();
}

Result<std::optional<Received>> Connection::Receive(std::chrono::milliseconds timeout) {
  Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, left);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Status::Error("polling the connection to " + endpoint_ + " failed: " + e.what());
    }
    if (item.revents & ZMQ_POLLIN) {
      std::optional<Frames> frames = ReceiveFrames(socket_, /*dontwait=*/true, 3);
      if (frames) {
        std::vector<zmq::message_t>& parts = frames->parts;
        if (frames->too_many || parts.size() < 2 || parts[0].size() != 0) {
          return Status::Error("malformed message from " + endpoint_ + " (" +
                               std::to_string(parts.size()) +
                               " frames; expected an empty delimiter, a header and an optional "
                               "blob): is that a receta-scheduler?");
        }
        Result<protocol::Envelope> envelope = protocol::Decode(parts[1].to_string_view());
        if (!envelope.ok()) {
          return envelope.status().WithContext("undecodable message from " + endpoint_);
        }
        if (Status valid = protocol::ValidateMessage(envelope->message); !valid.ok()) {
          return valid.WithContext("invalid message from " + endpoint_);
        }
        Received received{std::move(*envelope), {}};
        // Kept as the frame: a blob chunk is up to a MiB, not worth a copy.
        if (parts.size() == 3) received.blob_frame = std::move(parts[2]);
        return std::optional<Received>(std::move(received));
      }
    }
    if (Clock::now() >= deadline) return std::optional<Received>();
  }
}

Result<protocol::Message> Connection::Request(const protocol::Message& request,
                                              std::chrono::milliseconds timeout) {
  uint64_t request_id = NextRequestId();
  last_request_timed_out_ = false;
  if (Status sent = Send(request, request_id); !sent.ok()) return sent;
  Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    Result<std::optional<Received>> received = Receive(left);
    if (!received.ok()) return received.status();
    if (!received->has_value()) break;
    protocol::Envelope& envelope = (*received)->envelope;
    // Why: replies to requests that timed out earlier may still arrive.
    if (envelope.request_id != request_id) continue;
    if (auto* error = std::get_if<protocol::Error>(&envelope.message)) {
      return Status::Error(error->message);
    }
    return std::move(envelope.message);
  }
  last_request_timed_out_ = true;
  return Status::Error("no reply from the scheduler at " + endpoint_ + " after " +
                       Seconds(timeout) +
                       "; is receta-scheduler running? (set --scheduler or RECETA_SCHEDULER)");
}

}  // namespace receta::net
