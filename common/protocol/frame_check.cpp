#include "common/protocol/frame_check.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include <msgpack.hpp>

#include "common/protocol/codec.h"

namespace receta::protocol {
namespace {

// A msgpack SAX visitor that allocates nothing per element: it counts
// objects and depth and stops the parse at the first limit it meets.
class LimitVisitor {
 public:
  const std::string& limit_error() const { return limit_error_; }
  bool truncated() const { return truncated_; }
  bool malformed() const { return malformed_; }

  bool visit_nil() { return CountObject(); }
  bool visit_boolean(bool) { return CountObject(); }
  bool visit_positive_integer(uint64_t) { return CountObject(); }
  bool visit_negative_integer(int64_t) { return CountObject(); }
  bool visit_float32(float) { return CountObject(); }
  bool visit_float64(double) { return CountObject(); }
  bool visit_str(const char*, uint32_t size) { return CountBytes("string", size); }
  bool visit_bin(const char*, uint32_t size) { return CountBytes("binary", size); }
  bool visit_ext(const char*, uint32_t size) { return CountBytes("ext", size); }
  bool start_array(uint32_t n) { return OpenContainer("array", "elements", n); }
  bool start_array_item() { return true; }
  bool end_array_item() { return true; }
  bool end_array() { return CloseContainer(); }
  bool start_map(uint32_t n) { return OpenContainer("map", "entries", n); }
  bool start_map_key() { return true; }
  bool end_map_key() { return true; }
  bool start_map_value() { return true; }
  bool end_map_value() { return true; }
  bool end_map() { return CloseContainer(); }
  void parse_error(std::size_t, std::size_t) { malformed_ = true; }
  void insufficient_bytes(std::size_t, std::size_t) { truncated_ = true; }
  bool referenced() const { return false; }
  void set_referenced(bool) {}

 private:
  bool Fail(std::string message) {
    limit_error_ = std::move(message);
    return false;
  }
  bool CountObject() {
    if (++objects_ > kMaxObjects) {
      return Fail("message holds more than " + std::to_string(kMaxObjects) +
                  " msgpack values (limit kMaxObjects)");
    }
    return true;
  }
  bool CountBytes(const char* kind, uint32_t size) {
    if (size > kMaxStringBytes) {
      return Fail(std::string(kind) + " of " + std::to_string(size) + " bytes is over the limit of " +
                  std::to_string(kMaxStringBytes));
    }
    return CountObject();
  }
  bool OpenContainer(const char* kind, const char* unit, uint32_t n) {
    if (n > kMaxContainerElements) {
      return Fail(std::string(kind) + " header claims " + std::to_string(n) + " " + unit +
                  ", over the limit of " + std::to_string(kMaxContainerElements));
    }
    if (++depth_ > kMaxDepth) {
      return Fail("arrays and maps nest deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    return CountObject();
  }
  bool CloseContainer() {
    --depth_;
    return true;
  }

  std::size_t objects_ = 0;
  std::size_t depth_ = 0;
  std::string limit_error_;
  bool truncated_ = false;
  bool malformed_ = false;
};

}  // namespace

Status CheckFrame(std::string_view bytes) {
  if (bytes.empty()) return Status::Error("empty message: a receta frame holds one msgpack array");
  if (bytes.size() > kMaxMessageBytes) {
    return Status::Error("message of " + std::to_string(bytes.size()) +
                         " bytes is over the limit of " + std::to_string(kMaxMessageBytes) +
                         " (kMaxMessageBytes)");
  }
  LimitVisitor visitor;
  std::size_t offset = 0;
  bool parsed = false;
  try {
    parsed = msgpack::parse(bytes.data(), bytes.size(), offset, visitor);
  } catch (const std::exception& e) {
    return Status::Error(std::string("malformed msgpack: ") + e.what());
  }
  if (!visitor.limit_error().empty()) return Status::Error(visitor.limit_error());
  if (!parsed) {
    if (visitor.malformed()) {
      // Why no offset: msgpack-cxx 4.1 reports it inconsistently.
      return Status::Error("malformed msgpack: an invalid type byte (such as 0xc1, which msgpack never uses)");
    }
    return Status::Error("truncated message: its msgpack needs more than the " +
                         std::to_string(bytes.size()) +
                         " bytes received (frame cut short, or not a receta message)");
  }
  if (offset != bytes.size()) {
    return Status::Error("trailing bytes: the msgpack value ends at byte " + std::to_string(offset) +
                         " but the frame has " + std::to_string(bytes.size()));
  }
  return Status::Ok();
}

}  // namespace receta::protocol
