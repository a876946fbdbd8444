#include "net/frames.h"

#include <cerrno>

#include "common/protocol/codec.h"

namespace receta::net {
namespace {

// Why: both frame kinds (msgpack header up to kMaxMessageBytes, raw blob
// chunk up to kMaxBlobChunkBytes) must pass; ZMQ_MAXMSGSIZE applies to each
// frame on its own, so the larger of the two is the cap. A bigger frame makes
// ZeroMQ drop the connection of the peer that sent it, before any allocation.
constexpr int64_t kMaxFrameBytes = static_cast<int64_t>(
    protocol::kMaxMessageBytes > protocol::kMaxBlobChunkBytes ? protocol::kMaxMessageBytes
                                                              : protocol::kMaxBlobChunkBytes);
// Why: the default of 1000 messages can fill with LogChunks of many attempts
// during a burst; messages are small except blob chunks, which credit bounds.
constexpr int kHighWaterMark = 10000;

}  // namespace

std::optional<Frames> ReceiveFrames(zmq::socket_t& socket, bool dontwait, size_t max_frames) {
  Frames frames;
  try {
    zmq::message_t first;
    auto got = socket.recv(first, dontwait ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
    if (!got) return std::nullopt;
    bool more = first.more();
    frames.parts.push_back(std::move(first));
    // Why blocking: ZeroMQ delivers multipart messages atomically, so once the
    // first part is here the rest are too.
    while (more) {
      zmq::message_t part;
      if (!socket.recv(part, zmq::recv_flags::none)) break;
      more = part.more();
      if (frames.parts.size() < max_frames) {
        frames.parts.push_back(std::move(part));
      } else {
        frames.too_many = true;
      }
    }
  } catch (const zmq::error_t&) {
    // ETERM (context closing) or EINTR: nothing usable was received.
    return std::nullopt;
  }
  return frames;
}

bool SendFrames(zmq::socket_t& socket, std::vector<zmq::message_t>& parts, bool dontwait) {
  if (parts.empty()) return true;
  try {
    for (size_t i = 0; i < parts.size(); ++i) {
      zmq::send_flags flags = dontwait ? zmq::send_flags::dontwait : zmq::send_flags::none;
      if (i + 1 < parts.size()) flags = flags | zmq::send_flags::sndmore;
      if (!socket.send(parts[i], flags)) return false;
    }
  } catch (const zmq::error_t&) {
    // EHOSTUNREACH from a ROUTER with ZMQ_ROUTER_MANDATORY: the peer is gone.
    return false;
  }
  return true;
}

zmq::message_t FrameOwning(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  return zmq::message_t(
      owned->data(), owned->size(),
      [](void* /*data*/, void* hint) { delete static_cast<std::string*>(hint); }, owned);
}

void ConfigureSocket(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, kHighWaterMark);
  socket.set(zmq::sockopt::rcvhwm, kHighWaterMark);
}

}  // namespace receta::net
