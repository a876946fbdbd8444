#pragma once
// BlobRemote over a net::Connection of its own (one DEALER per attempt, so
// transfers never share the agent's main socket or another attempt's).

#include <memory>
#include <string>

#include <zmq.hpp>

#include "worker/attempt.h"

namespace receta::worker {

/// A factory for Attempt: each call connects a new Connection to `endpoint`.
/// `context` must outlive every remote it makes.
BlobRemoteFactory NetBlobRemoteFactory(zmq::context_t& context, std::string endpoint);

}  // namespace receta::worker
