#pragma once
// Persisted records (the scheduler's RocksDB values) in the same msgpack
// field codec as the wire messages (field_codec.h). One record is:
//
//   [record_format_version: uint, body: map]
//
// body maps field names to values as listed by the struct's Fields().
// Elements after the second are ignored (room for later additions). Rules
// as for messages: adding an std::optional field needs no version bump (old
// records read it as absent); removing, renaming or retyping a field bumps
// kRecordFormatVersion, and a reader refuses records newer than itself.
// Decoding runs under the same limits as message decoding (codec.h).

#include <exception>
#include <msgpack.hpp>
#include <string>
#include <string_view>

#include "common/protocol/field_codec.h"
#include "common/status.h"

namespace receta::protocol {

/// The record layout version written by EncodeRecord.
inline constexpr uint32_t kRecordFormatVersion = 1;

/// Encodes `record` (a struct with Fields()). Fails only when the encoding
/// would exceed kMaxMessageBytes, the most DecodeRecord reads back; the
/// error gives the size.
template <class T>
Result<std::string> EncodeRecord(const T& record) {
  msgpack::sbuffer buffer;
  try {
    detail::Packer p(buffer);
    p.pack_array(2);
    p.pack(kRecordFormatVersion);
    detail::PackValue(p, record);
  } catch (const std::exception& e) {
    return Status::Error(std::string("record cannot be encoded: ") + e.what());
  }
  if (buffer.size() > kMaxMessageBytes) {
    return Status::Error("record encodes to " + std::to_string(buffer.size()) +
                         " bytes, over the limit of " + std::to_string(kMaxMessageBytes) +
                         " (kMaxMessageBytes)");
  }
  return std::string(buffer.data(), buffer.size());
}

/// Decodes a record written by EncodeRecord. Every error starts with `what`
/// (e.g. "run 'r-12' in column family 'runs'") and says what is wrong:
/// framing, limits, a newer format version, or "field '<path>' ..." for a
/// field that is missing or has the wrong type. Unknown fields are ignored.
template <class T>
Result<T> DecodeRecord(std::string_view bytes, std::string_view what) {
  const std::string context(what);
  Result<msgpack::object_handle> handle = detail::UnpackChecked(bytes, "the record");
  if (!handle.ok()) return handle.status().WithContext(context);
  const msgpack::object& root = handle->get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 2) {
    return Status::Error(context +
                         ": not a receta record: expected an array [format_version, body], got " +
                         (root.type == msgpack::type::ARRAY
                              ? "an array of " + std::to_string(root.via.array.size) + " elements"
                              : std::string(detail::KindOf(root))));
  }
  const msgpack::object* e = root.via.array.ptr;
  uint32_t version = 0;
  if (Status s = detail::ReadInteger(e[0], "format_version", version); !s.ok()) {
    return s.WithContext(context);
  }
  if (version != kRecordFormatVersion) {
    return Status::Error(
        context + ": record format version " + std::to_string(version) +
        " is not supported (this build reads " + std::to_string(kRecordFormatVersion) + ")" +
        (version > kRecordFormatVersion ? "; it was written by a newer receta: upgrade this one"
                                        : ""));
  }
  if (e[1].type != msgpack::type::MAP) {
    return Status::Error(context + ": record body must be a map of field names, got " +
                         detail::KindOf(e[1]));
  }
  T record{};
  if (Status s = detail::ReadValue(e[1], "", record); !s.ok()) return s.WithContext(context);
  return record;
}

}  // namespace receta::protocol
