#pragma once
// Sending and receiving the multipart frames of common/protocol/README.md.
// Shared by the scheduler's ROUTER loop, worker and CLI DEALERs.

#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/status.h"

namespace receta::net {

/// Receives every frame of one multipart message (non-blocking when
/// `dontwait`); nullopt when nothing is waiting. Frames beyond `max_frames`
/// are read and discarded and the result is marked `too_many`.
struct Frames {
  std::vector<zmq::message_t> parts;
  bool too_many = false;
};
std::optional<Frames> ReceiveFrames(zmq::socket_t& socket, bool dontwait, size_t max_frames = 8);

/// Sends `parts` as one multipart message. Returns false when the socket
/// would block or the peer is gone (ROUTER with mandatory routing).
bool SendFrames(zmq::socket_t& socket, std::vector<zmq::message_t>& parts, bool dontwait);

/// A frame that takes over `bytes` instead of copying them; ZeroMQ frees
/// them (from its I/O thread) once sent. Why: a blob chunk is up to a MiB,
/// and a copy of every chunk on each side showed in transfer profiles.
zmq::message_t FrameOwning(std::string bytes);

/// Sets the socket options every receta socket uses: ZMQ_MAXMSGSIZE from the
/// protocol limits, linger 0, and high-water marks.
void ConfigureSocket(zmq::socket_t& socket);

}  // namespace receta::net
