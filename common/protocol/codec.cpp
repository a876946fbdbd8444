#include "common/protocol/codec.h"

#include <array>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <msgpack.hpp>

#include "common/protocol/frame_check.h"

namespace receta::protocol {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

constexpr std::size_t kEnvelopeElements = 4;  // [version, type, request_id, body]
constexpr uint16_t kKnownTypes = static_cast<uint16_t>(std::variant_size_v<Message>);

template <std::size_t... I>
constexpr bool TypesInVariantOrder(std::index_sequence<I...>) {
  return ((static_cast<std::size_t>(std::variant_alternative_t<I, Message>::kType) == I + 1) && ...);
}
// Why: kTypeNames is indexed by wire type, and the "knows 1..N" error text
// assumes the numbers are contiguous.
static_assert(TypesInVariantOrder(std::make_index_sequence<std::variant_size_v<Message>>()),
              "Message alternatives must be listed in MessageType order, numbered 1..N");

// kTypeNames[type - 1] is the struct name of wire type `type`.
constexpr auto kTypeNames = []<std::size_t... I>(std::index_sequence<I...>) {
  return std::array<std::string_view, sizeof...(I)>{std::variant_alternative_t<I, Message>::kName...};
}(std::make_index_sequence<std::variant_size_v<Message>>());

template <typename T> struct IsVector : std::false_type {};
template <typename T> struct IsVector<std::vector<T>> : std::true_type {};
template <typename T> struct IsOptional : std::false_type {};
template <typename T> struct IsOptional<std::optional<T>> : std::true_type {};
using StringMap = std::map<std::string, std::string>;

// ---- Encoding --------------------------------------------------------------

// Thrown inside Encode only, when a value cannot be represented in a frame.
struct TooLarge : std::length_error {
  using std::length_error::length_error;
};

uint32_t CheckedSize(std::size_t size, const char* what) {
  if (size > kMaxMessageBytes) {
    throw TooLarge(std::string(what) + " of " + std::to_string(size) + " is over the frame limit");
  }
  return static_cast<uint32_t>(size);
}

void PackString(Packer& p, std::string_view s) {
  p.pack_str(CheckedSize(s.size(), "string"));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

template <typename T> void PackValue(Packer& p, const T& value);

class FieldWriter {
 public:
  explicit FieldWriter(Packer& p) : p_(p) {}
  template <typename T> void operator()(std::string_view name, const T& value) {
    if constexpr (IsOptional<T>::value) {
      if (!value) return;
    }
    PackString(p_, name);
    PackValue(p_, value);
  }
  void operator()(std::string_view name, const std::string& bytes, AsBytes) {
    PackString(p_, name);
    p_.pack_bin(CheckedSize(bytes.size(), "bytes"));
    p_.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
  }

 private:
  Packer& p_;
};

// Counts the fields FieldWriter will emit, for the map header.
struct FieldCounter {
  uint32_t count = 0;
  template <typename T> void operator()(std::string_view, const T& value) {
    if constexpr (IsOptional<T>::value) {
      if (!value) return;
    }
    ++count;
  }
  void operator()(std::string_view, const std::string&, AsBytes) { ++count; }
};

template <typename T> void PackValue(Packer& p, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    value ? p.pack_true() : p.pack_false();
  } else if constexpr (std::is_enum_v<T>) {
    p.pack(static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_integral_v<T> || std::is_floating_point_v<T>) {
    p.pack(value);
  } else if constexpr (std::is_same_v<T, std::string>) {
    PackString(p, value);
  } else if constexpr (IsOptional<T>::value) {
    PackValue(p, *value);
  } else if constexpr (IsVector<T>::value) {
    p.pack_array(CheckedSize(value.size(), "array"));
    for (const auto& element : value) PackValue(p, element);
  } else if constexpr (std::is_same_v<T, StringMap>) {
    p.pack_map(CheckedSize(value.size(), "map"));
    for (const auto& [key, item] : value) {
      PackString(p, key);
      PackString(p, item);
    }
  } else {
    FieldCounter counter;
    T::Fields(value, counter);
    p.pack_map(counter.count);
    FieldWriter writer(p);
    T::Fields(value, writer);
  }
}

// ---- Decoding --------------------------------------------------------------

const char* KindOf(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: return "integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "float";
    case msgpack::type::STR: return "string";
    case msgpack::type::BIN: return "binary";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    case msgpack::type::EXT: return "ext";
  }
  return "unknown";
}

Status WrongType(const std::string& path, const char* expected, const msgpack::object& o) {
  return Status::Error("field '" + path + "' has the wrong type: expected " + expected + ", got " +
                       KindOf(o));
}

bool IsString(const msgpack::object& o) {
  return o.type == msgpack::type::STR || o.type == msgpack::type::BIN;
}

std::string_view StringOf(const msgpack::object& o) {
  if (o.type == msgpack::type::STR) return {o.via.str.ptr, o.via.str.size};
  return {o.via.bin.ptr, o.via.bin.size};
}

template <typename T> Status ReadInteger(const msgpack::object& o, const std::string& path, T& out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER && std::in_range<T>(o.via.u64)) {
    out = static_cast<T>(o.via.u64);
    return Status::Ok();
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER && std::in_range<T>(o.via.i64)) {
    out = static_cast<T>(o.via.i64);
    return Status::Ok();
  }
  if (o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER) {
    std::string value = o.type == msgpack::type::POSITIVE_INTEGER ? std::to_string(o.via.u64)
                                                                  : std::to_string(o.via.i64);
    return Status::Error("field '" + path + "' is out of range: " + value + " does not fit in " +
                         std::to_string(sizeof(T) * 8) + (std::is_signed_v<T> ? "-bit signed" : "-bit unsigned") +
                         " integer");
  }
  return WrongType(path, "integer", o);
}

template <typename T> Status ReadValue(const msgpack::object& o, const std::string& path, T& out);

// Reads the fields a struct's Fields() names from one msgpack map. Stops at
// the first error; unknown keys (newer senders) are never looked at.
class FieldReader {
 public:
  FieldReader(const msgpack::object_map& map, std::string prefix)
      : map_(map), prefix_(std::move(prefix)) {}
  const Status& status() const { return status_; }

  template <typename T> void operator()(std::string_view name, T& out) {
    if (!status_.ok()) return;
    std::string path = prefix_ + std::string(name);
    const msgpack::object* value = nullptr;
    for (uint32_t i = 0; i < map_.size; ++i) {
      const msgpack::object& key = map_.ptr[i].key;
      if (key.type != msgpack::type::STR || StringOf(key) != name) continue;
      if (value != nullptr) {
        status_ = Status::Error("field '" + path + "' appears twice");
        return;
      }
      value = &map_.ptr[i].val;
    }
    if (value == nullptr) {
      if constexpr (IsOptional<T>::value) {
        out.reset();
      } else {
        status_ = Status::Error("missing required field '" + path + "'");
      }
      return;
    }
    status_ = ReadValue(*value, path, out);
  }
  void operator()(std::string_view name, std::string& out, AsBytes) { (*this)(name, out); }

 private:
  const msgpack::object_map& map_;
  std::string prefix_;
  Status status_;
};

template <typename T> Status ReadValue(const msgpack::object& o, const std::string& path, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (o.type != msgpack::type::BOOLEAN) return WrongType(path, "boolean", o);
    out = o.via.boolean;
  } else if constexpr (std::is_enum_v<T>) {
    std::underlying_type_t<T> raw{};
    if (Status s = ReadInteger(o, path, raw); !s.ok()) return s;
    out = static_cast<T>(raw);  // unknown values are kept: receivers must tolerate them
  } else if constexpr (std::is_integral_v<T>) {
    return ReadInteger(o, path, out);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) {
      out = static_cast<T>(o.via.f64);
    } else if (o.type == msgpack::type::POSITIVE_INTEGER) {
      out = static_cast<T>(o.via.u64);
    } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
      out = static_cast<T>(o.via.i64);
    } else {
      return WrongType(path, "number", o);
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!IsString(o)) return WrongType(path, "string", o);
    out.assign(StringOf(o));
  } else if constexpr (IsOptional<T>::value) {
    if (o.type == msgpack::type::NIL) {
      out.reset();
      return Status::Ok();
    }
    out.emplace();
    return ReadValue(o, path, *out);
  } else if constexpr (IsVector<T>::value) {
    if (o.type != msgpack::type::ARRAY) return WrongType(path, "array", o);
    // Why grow as elements decode rather than resize up front: a claimed
    // array of a million nils must not buy a million default structs.
    out.clear();
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      typename T::value_type element{};
      Status s = ReadValue(o.via.array.ptr[i], path + "[" + std::to_string(i) + "]", element);
      if (!s.ok()) return s;
      out.push_back(std::move(element));
    }
  } else if constexpr (std::is_same_v<T, StringMap>) {
    if (o.type != msgpack::type::MAP) return WrongType(path, "map of strings", o);
    out.clear();
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      const msgpack::object_kv& kv = o.via.map.ptr[i];
      if (!IsString(kv.key)) return WrongType(path + " key", "string", kv.key);
      std::string key(StringOf(kv.key));
      if (!IsString(kv.val)) return WrongType(path + "." + key, "string", kv.val);
      if (!out.emplace(key, std::string(StringOf(kv.val))).second) {
        return Status::Error("field '" + path + "' has key '" + key + "' twice");
      }
    }
  } else {
    if (o.type != msgpack::type::MAP) return WrongType(path, "map", o);
    FieldReader reader(o.via.map, path.empty() ? "" : path + ".");
    T::Fields(out, reader);
    return reader.status();
  }
  return Status::Ok();
}

template <std::size_t I = 0>
Result<Message> DecodeBody(uint16_t type, const msgpack::object& body) {
  if constexpr (I == std::variant_size_v<Message>) {
    return Result<Message>::Error("message type " + std::to_string(type) + " is unknown (protocol v" +
                                  std::to_string(kProtocolVersion) + " knows 1.." +
                                  std::to_string(kKnownTypes) +
                                  "); if the sender runs a newer receta, upgrade this side");
  } else {
    using T = std::variant_alternative_t<I, Message>;
    if (static_cast<uint16_t>(T::kType) != type) return DecodeBody<I + 1>(type, body);
    T message;
    if (body.type != msgpack::type::MAP) {
      return Status::Error(std::string(T::kName) + ": body must be a map of field names, got " +
                           KindOf(body));
    }
    if (Status s = ReadValue(body, "", message); !s.ok()) {
      return s.WithContext(std::string(T::kName));
    }
    return Message(std::in_place_index<I>, std::move(message));
  }
}

// Unpacks a frame that CheckFrame accepted. Strings are referenced, not
// copied: the object must not outlive `bytes`.
Result<msgpack::object_handle> Unpack(std::string_view bytes) {
  if (Status s = CheckFrame(bytes); !s.ok()) return s;
  const msgpack::unpack_limit limits(kMaxContainerElements, kMaxContainerElements, kMaxStringBytes,
                                     kMaxStringBytes, kMaxStringBytes, kMaxDepth);
  auto reference_all = [](msgpack::type::object_type, std::size_t, void*) { return true; };
  try {
    std::size_t offset = 0;
    return msgpack::unpack(bytes.data(), bytes.size(), offset, reference_all, nullptr, limits);
  } catch (const std::exception& e) {
    return Status::Error(std::string("msgpack could not unpack the message: ") + e.what());
  }
}

Result<Header> ReadHeader(const msgpack::object& root) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size < kEnvelopeElements) {
    return Status::Error(std::string("not a receta message: expected an array [version, type, "
                                     "request_id, body], got ") +
                         (root.type == msgpack::type::ARRAY
                              ? "an array of " + std::to_string(root.via.array.size) + " elements"
                              : std::string(KindOf(root))));
  }
  const msgpack::object* e = root.via.array.ptr;
  Header header;
  for (Status s : {ReadInteger(e[0], "version", header.version), ReadInteger(e[1], "type", header.type),
                   ReadInteger(e[2], "request_id", header.request_id)}) {
    if (!s.ok()) return s.WithContext("envelope");
  }
  return header;
}

Status CheckVersion(uint32_t version) {
  if (version == kProtocolVersion) return Status::Ok();
  std::string text = "protocol version " + std::to_string(version) +
                     " is not supported (this build speaks " + std::to_string(kProtocolVersion) + "); ";
  text += version > kProtocolVersion ? "upgrade receta on this side to match the sender"
                                     : "upgrade receta on the sending side";
  return Status::Error(text);
}

}  // namespace

Result<std::string> Encode(const Message& message, uint64_t request_id) {
  msgpack::sbuffer buffer;
  try {
    Packer p(buffer);
    p.pack_array(kEnvelopeElements);
    p.pack(kProtocolVersion);
    p.pack(static_cast<uint16_t>(TypeOf(message)));
    p.pack(request_id);
    std::visit([&p](const auto& body) { PackValue(p, body); }, message);
  } catch (const std::exception& e) {
    return Status::Error(std::string(NameOf(message)) + " cannot be encoded: " + e.what());
  }
  if (buffer.size() > kMaxMessageBytes) {
    return Status::Error(std::string(NameOf(message)) + " encodes to " + std::to_string(buffer.size()) +
                         " bytes, over the limit of " + std::to_string(kMaxMessageBytes) +
                         " (kMaxMessageBytes); send less per message");
  }
  return std::string(buffer.data(), buffer.size());
}

Result<Header> DecodeHeader(std::string_view bytes) {
  Result<msgpack::object_handle> handle = Unpack(bytes);
  if (!handle.ok()) return handle.status();
  return ReadHeader(handle->get());
}

Result<Envelope> Decode(std::string_view bytes) {
  Result<msgpack::object_handle> handle = Unpack(bytes);
  if (!handle.ok()) return handle.status();
  const msgpack::object& root = handle->get();
  Result<Header> header = ReadHeader(root);
  if (!header.ok()) return header.status();
  if (Status s = CheckVersion(header->version); !s.ok()) return s;
  Result<Message> message = DecodeBody(header->type, root.via.array.ptr[3]);
  if (!message.ok()) return message.status();
  return Envelope{header->request_id, std::move(message).value()};
}

std::string_view MessageTypeName(uint16_t type) {
  if (type == 0 || type > kTypeNames.size()) return {};
  return kTypeNames[type - 1];
}

}  // namespace receta::protocol
