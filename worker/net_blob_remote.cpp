#include "worker/net_blob_remote.h"

#include "net/blob_transfer.h"
#include "net/connection.h"

namespace receta::worker {
namespace {

class NetBlobRemote : public BlobRemote {
 public:
  explicit NetBlobRemote(std::unique_ptr<net::Connection> connection)
      : connection_(std::move(connection)) {}

  // Why the try blocks: cppzmq throws zmq::error_t; nothing escapes here.
  Status Download(const std::string& digest, uint64_t size_bytes,
                  const std::string& dest_path) override {
    try {
      return net::DownloadBlob(*connection_, digest, size_bytes, dest_path);
    } catch (const std::exception& e) {
      return Status::Error(std::string("download failed: ") + e.what());
    }
  }
  Result<std::vector<std::string>> Missing(const std::vector<std::string>& digests) override {
    try {
      return net::QueryMissingBlobs(*connection_, digests);
    } catch (const std::exception& e) {
      return Result<std::vector<std::string>>::Error(std::string("blob query failed: ") +
                                                     e.what());
    }
  }
  Status Upload(const std::string& path, const std::string& digest,
                uint64_t size_bytes) override {
    try {
      return net::UploadBlob(*connection_, path, digest, size_bytes);
    } catch (const std::exception& e) {
      return Status::Error(std::string("upload failed: ") + e.what());
    }
  }

 private:
  std::unique_ptr<net::Connection> connection_;
};

}  // namespace

BlobRemoteFactory NetBlobRemoteFactory(zmq::context_t& context, std::string endpoint) {
  return [&context, endpoint]() -> Result<std::unique_ptr<BlobRemote>> {
    try {
      Result<std::unique_ptr<net::Connection>> connection =
          net::Connection::Connect(context, endpoint);
      if (!connection.ok()) return Result<std::unique_ptr<BlobRemote>>::Error(connection.error());
      return std::unique_ptr<BlobRemote>(new NetBlobRemote(std::move(*connection)));
    } catch (const std::exception& e) {
      return Result<std::unique_ptr<BlobRemote>>::Error(
          std::string("cannot connect to the scheduler at ") + endpoint + ": " + e.what());
    }
  };
}

}  // namespace receta::worker
