#include "worker/net_blob_remote.h"

#include "net/blob_transfer.h"

namespace receta::worker {
namespace {

class NetBlobRemote : public BlobRemote {
 public:
  NetBlobRemote(NetBlobPool& pool, std::unique_ptr<net::Connection> connection, std::string attempt_id)
      : pool_(pool), connection_(std::move(connection)), attempt_id_(std::move(attempt_id)) {}
  ~NetBlobRemote() override { pool_.Give(std::move(connection_), healthy_); }

  // Why the try blocks: cppzmq throws zmq::error_t; nothing escapes here.
  Status Download(const std::string& digest, uint64_t size_bytes,
                  const std::string& dest_path) override {
    try {
      return Track(net::DownloadBlob(*connection_, digest, size_bytes, dest_path));
    } catch (const std::exception& e) {
      healthy_ = false;
      return Status::Error(std::string("download failed: ") + e.what());
    }
  }
  Status Upload(const std::vector<net::UploadItem>& blobs) override {
    try {
      // Size only: each path is the worker cache's read-only copy, hashed by
      // the attempt just before; the scheduler verifies the digest.
      return Track(net::UploadBlobs(*connection_, blobs, net::kTransferReplyTimeout, attempt_id_,
                                    net::LocalCheck::kSizeOnly));
    } catch (const std::exception& e) {
      healthy_ = false;
      return Status::Error(std::string("upload failed: ") + e.what());
    }
  }

 private:
  Status Track(Status status) {
    if (!status.ok()) healthy_ = false;
    return status;
  }

  NetBlobPool& pool_;
  std::unique_ptr<net::Connection> connection_;
  bool healthy_ = true;
  std::string attempt_id_;
};

}  // namespace

NetBlobPool::NetBlobPool(zmq::context_t& context, std::string endpoint)
    : context_(context), endpoint_(std::move(endpoint)) {}

size_t NetBlobPool::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

Result<std::unique_ptr<net::Connection>> NetBlobPool::Take() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<net::Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  try {
    return net::Connection::Connect(context_, endpoint_);
  } catch (const std::exception& e) {
    return Status::Error("cannot connect to the scheduler at " + endpoint_ + ": " + e.what());
  }
}

void NetBlobPool::Give(std::unique_ptr<net::Connection> connection, bool healthy) {
  if (!connection || !healthy) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(connection));
}

BlobRemoteFactory NetBlobPool::Factory(const std::string& attempt_id) {
  return [this, attempt_id]() -> Result<std::unique_ptr<BlobRemote>> {
    Result<std::unique_ptr<net::Connection>> connection = Take();
    if (!connection.ok()) return connection.status();
    return std::unique_ptr<BlobRemote>(new NetBlobRemote(*this, std::move(*connection), attempt_id));
  };
}

}  // namespace receta::worker
