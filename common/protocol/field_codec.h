#pragma once
// The msgpack field codec shared by the wire messages (codec.cpp) and the
// scheduler's persisted records (record_codec.h). A struct with a static
// Fields(s, v) list encodes as a map from field name to value; supported
// value types are bool, enums (as their underlying integer), integers,
// floating point, std::string (str, or bin with kAsBytes), std::optional<T>
// (omitted when empty), std::vector<T> and std::map<string, string>, and
// nested structs with their own Fields().
//
// Decoding never trusts the bytes: UnpackChecked runs the structural pass of
// frame_check.h first, then msgpack::unpack under the limits of codec.h.
// Every decode error names the field path ("attempts[0].exit_code").
// Internal to receta::protocol: use codec.h or record_codec.h instead.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <msgpack.hpp>

#include "common/protocol/codec.h"
#include "common/protocol/frame_check.h"
#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta::protocol::detail {

using Packer = msgpack::packer<msgpack::sbuffer>;

template <typename T> struct IsVector : std::false_type {};
template <typename T> struct IsVector<std::vector<T>> : std::true_type {};
template <typename T> struct IsOptional : std::false_type {};
template <typename T> struct IsOptional<std::optional<T>> : std::true_type {};
using StringMap = std::map<std::string, std::string>;

// ---- Encoding --------------------------------------------------------------

/// Thrown while encoding only, when a value cannot be represented in a frame.
/// Callers (Encode, EncodeRecord) catch it at their edge.
struct TooLarge : std::length_error {
  using std::length_error::length_error;
};

inline uint32_t CheckedSize(std::size_t size, const char* what) {
  if (size > kMaxMessageBytes) {
    throw TooLarge(std::string(what) + " of " + std::to_string(size) + " is over the frame limit");
  }
  return static_cast<uint32_t>(size);
}

inline void PackString(Packer& p, std::string_view s) {
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

/// Counts the fields FieldWriter will emit, for the map header.
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

inline const char* KindOf(const msgpack::object& o) {
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

inline Status WrongType(const std::string& path, const char* expected, const msgpack::object& o) {
  return Status::Error("field '" + path + "' has the wrong type: expected " + expected + ", got " +
                       KindOf(o));
}

inline bool IsString(const msgpack::object& o) {
  return o.type == msgpack::type::STR || o.type == msgpack::type::BIN;
}

inline std::string_view StringOf(const msgpack::object& o) {
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
                         std::to_string(sizeof(T) * 8) +
                         (std::is_signed_v<T> ? "-bit signed" : "-bit unsigned") + " integer");
  }
  return WrongType(path, "integer", o);
}

template <typename T> Status ReadValue(const msgpack::object& o, const std::string& path, T& out);

/// Reads the fields a struct's Fields() names from one msgpack map. Stops at
/// the first error; unknown keys (newer senders) are never looked at.
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

/// Unpacks bytes that CheckFrame accepts, under the limits of codec.h.
/// Strings are referenced, not copied: the object must not outlive `bytes`.
/// `what` names the bytes in the error ("the message", "the record").
inline Result<msgpack::object_handle> UnpackChecked(std::string_view bytes, std::string_view what) {
  if (Status s = CheckFrame(bytes); !s.ok()) return s;
  const msgpack::unpack_limit limits(kMaxContainerElements, kMaxContainerElements, kMaxStringBytes,
                                     kMaxStringBytes, kMaxStringBytes, kMaxDepth);
  auto reference_all = [](msgpack::type::object_type, std::size_t, void*) { return true; };
  try {
    std::size_t offset = 0;
    return msgpack::unpack(bytes.data(), bytes.size(), offset, reference_all, nullptr, limits);
  } catch (const std::exception& e) {
    return Status::Error("msgpack could not unpack " + std::string(what) + ": " + e.what());
  }
}

}  // namespace receta::protocol::detail
