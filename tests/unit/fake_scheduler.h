#pragma once
// FakeScheduler: a ROUTER on tcp://127.0.0.1:* served by a test thread. It
// keeps an in-memory CAS and speaks the blob protocols (BlobQuery, BlobPut*,
// BlobGet) like the real scheduler, with switches to misbehave; any other
// request goes to a handler the test sets. Header-only, for tests/unit.

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/hash/sha256.h"
#include "common/protocol/codec.h"
#include "common/protocol/messages.h"
#include "net/frames.h"

namespace receta::testing {

class FakeScheduler {
 public:
  struct Options {
    uint64_t credit_bytes = 8u << 20;
    bool silent = false;             // read requests, never answer
    bool corrupt_downloads = false;  // flip the first byte of every BlobGetChunk
    int conflicts_to_send = 0;       // answer this many BlobPutEnds with kConflict
    bool garbage_replies = false;    // answer every request with undecodable bytes
    bool answers_blob_damaged = true;  // else BlobDamaged goes to the handler
  };
  /// Answers a request that is not about blobs; nullopt sends nothing.
  using Handler = std::function<std::optional<protocol::Message>(const protocol::Message&)>;

  FakeScheduler() : FakeScheduler(Options()) {}
  explicit FakeScheduler(Options options)
      : options_(options), socket_(context_, zmq::socket_type::router) {
    net::ConfigureSocket(socket_);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeScheduler() {
    stop_ = true;
    thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }
  void SetHandler(Handler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(handler);
  }
  /// Keeps `bytes` under `digest` whatever they hash to: a damaged copy.
  void PutBlobAs(const std::string& digest, const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[digest] = bytes;
  }
  void PutBlob(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[HashBytes(bytes).ToHex()] = bytes;
  }
  std::optional<std::string> Blob(const std::string& digest) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blobs_.find(digest);
    if (it == blobs_.end()) return std::nullopt;
    return it->second;
  }
  /// True if an uploader ever sent bytes past its credit.
  bool credit_violated() const { return credit_violated_; }
  /// The requests received, by message name, in order.
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  /// The last request of any kind, decoded.
  std::optional<protocol::Message> last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

 private:
  struct Upload {
    uint64_t request_id = 0;
    uint64_t granted = 0;
    std::string data;
  };

  void Reply(const zmq::message_t& identity, const protocol::Message& message, uint64_t request_id,
             const std::string* blob = nullptr) {
    std::vector<zmq::message_t> parts;
    parts.emplace_back(identity.data(), identity.size());
    parts.emplace_back();
    if (options_.garbage_replies) {
      parts.emplace_back("\xc1\xc1garbage", 9);
    } else {
      std::string header = protocol::Encode(message, request_id).value();
      parts.emplace_back(header.data(), header.size());
      if (blob) parts.emplace_back(blob->data(), blob->size());
    }
    net::SendFrames(socket_, parts, false);
  }

  void Loop() {
    while (!stop_) {
      zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::optional<net::Frames> frames = net::ReceiveFrames(socket_, true);
      if (!frames || frames->parts.size() < 3) continue;
      auto& parts = frames->parts;
      Result<protocol::Envelope> envelope = protocol::Decode(parts[2].to_string_view());
      if (!envelope.ok()) continue;
      std::string blob = parts.size() > 3 ? parts[3].to_string() : "";
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.emplace_back(protocol::NameOf(envelope->message));
        last_request_ = envelope->message;
      }
      if (options_.silent) continue;
      Handle(parts[0], *envelope, blob);
    }
  }

  void Handle(const zmq::message_t& peer, const protocol::Envelope& envelope,
              const std::string& blob) {
    using namespace protocol;
    const uint64_t id = envelope.request_id;
    std::string key = peer.to_string();
    if (auto* query = std::get_if<BlobQuery>(&envelope.message)) {
      BlobMissing missing;
      for (const std::string& digest : query->digests) {
        if (!Blob(digest)) missing.digests.push_back(digest);
      }
      Reply(peer, missing, id);
    } else if (auto* begin = std::get_if<BlobPutBegin>(&envelope.message)) {
      if (Blob(begin->digest))
        return Reply(peer, BlobPutDone{begin->digest, begin->size_bytes}, id);
      Upload& upload = uploads_[key + begin->digest];
      upload = Upload{id, options_.credit_bytes, ""};
      Reply(peer, BlobPutCredit{begin->digest, 0, options_.credit_bytes}, id);
    } else if (auto* chunk = std::get_if<BlobPutChunk>(&envelope.message)) {
      Upload& upload = uploads_[key + chunk->digest];
      if (chunk->offset != upload.data.size() || chunk->offset + blob.size() > upload.granted) {
        credit_violated_ = true;
      }
      upload.data += blob;
      upload.granted = upload.data.size() + options_.credit_bytes;
      Reply(peer, BlobPutCredit{chunk->digest, upload.data.size(), options_.credit_bytes}, id);
    } else if (auto* end = std::get_if<BlobPutEnd>(&envelope.message)) {
      Upload upload = uploads_[key + end->digest];
      uploads_.erase(key + end->digest);
      if (conflicts_sent_ < options_.conflicts_to_send ||
          HashBytes(upload.data).ToHex() != end->digest) {
        ++conflicts_sent_;
        return Reply(peer, Error{ErrorCode::kConflict, "bytes do not hash to " + end->digest}, id);
      }
      PutBlob(upload.data);
      Reply(peer, BlobPutDone{end->digest, upload.data.size()}, id);
    } else if (auto* get = std::get_if<BlobGet>(&envelope.message)) {
      std::optional<std::string> data = Blob(get->digest);
      if (!data) return Reply(peer, Error{ErrorCode::kNotFound, "no blob " + get->digest}, id);
      std::string part = data->substr(get->offset, get->length);
      if (options_.corrupt_downloads && !part.empty()) part[0] ^= 1;
      Reply(peer, BlobGetChunk{get->digest, get->offset, part.size(), data->size()}, id, &part);
    } else if (auto* damaged = std::get_if<BlobDamaged>(&envelope.message);
               damaged != nullptr && options_.answers_blob_damaged) {
      // As the scheduler: a copy that does not hash to its digest is dropped.
      std::optional<std::string> data = Blob(damaged->digest);
      bool dropped = !data || HashBytes(*data).ToHex() != damaged->digest;
      if (dropped) {
        std::lock_guard<std::mutex> lock(mu_);
        blobs_.erase(damaged->digest);
      }
      Reply(peer, BlobDamagedReply{damaged->digest, dropped}, id);
    } else {
      Handler handler;
      {
        std::lock_guard<std::mutex> lock(mu_);
        handler = handler_;
      }
      if (!handler) return;
      std::optional<Message> reply = handler(envelope.message);
      if (reply) Reply(peer, *reply, id);
    }
  }

  Options options_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> credit_violated_{false};
  int conflicts_sent_ = 0;                 // loop thread only
  std::map<std::string, Upload> uploads_;  // loop thread only
  std::mutex mu_;
  std::map<std::string, std::string> blobs_;       // Guarded by mu_
  Handler handler_;                                // Guarded by mu_
  std::vector<std::string> requests_;              // Guarded by mu_
  std::optional<protocol::Message> last_request_;  // Guarded by mu_
};

}  // namespace receta::testing
