#pragma once
// BlobRemote over net::Connections to the scheduler, never the agent's main
// socket. The connections live in a NetBlobPool: an attempt borrows one the
// first time it transfers and gives it back when it ends, so consecutive
// steps reuse a connected, handshaken socket instead of opening one each.
// Attempts running at the same time each hold their own connection.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "net/connection.h"
#include "worker/attempt.h"

namespace receta::worker {

/// Idle transfer connections to one scheduler endpoint. Thread-safe.
class NetBlobPool {
 public:
  /// `context` must outlive the pool; the pool must outlive every remote
  /// its factory makes.
  NetBlobPool(zmq::context_t& context, std::string endpoint);

  /// A factory for attempt `attempt_id`: each remote holds a pooled
  /// connection (or a new one when none is idle) until it is destroyed, and
  /// names the attempt in its uploads, so the scheduler refuses the outputs
  /// of an attempt that is no longer current.
  BlobRemoteFactory Factory(const std::string& attempt_id);

  /// Connections waiting to be borrowed (for tests).
  size_t idle() const;

  // Used by the remotes.
  Result<std::unique_ptr<net::Connection>> Take();
  /// Keeps `connection` for the next attempt; `healthy` false (a transfer
  /// failed on it, replies may still be in flight) closes it instead.
  void Give(std::unique_ptr<net::Connection> connection, bool healthy);

 private:
  // Why a cap: more idle sockets than attempts ever run at once is waste.
  static constexpr size_t kMaxIdle = 8;

  zmq::context_t& context_;
  std::string endpoint_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<net::Connection>> idle_;  // Guarded by mu_
};

}  // namespace receta::worker
