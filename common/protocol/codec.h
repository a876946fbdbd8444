#pragma once
// The msgpack codec for the messages of common/protocol/messages.h.
//
// One ZeroMQ header frame holds one msgpack array:
//
//   [version: uint, type: uint, request_id: uint, body: map]
//
// body maps field names to values as listed by each message's Fields().
// Elements after the fourth are ignored (room for a later envelope field).
// Decoding never trusts the bytes: the frame size is checked first, then a
// structural pass (no allocation per claimed element) enforces the limits
// below, and only then is the frame unpacked, again under msgpack limits.
// After Decode, the receiver calls Validate (validate.h) before acting.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/protocol/messages.h"
#include "common/status.h"

namespace receta::protocol {

/// Largest header frame accepted or produced. Blob chunks do not count: they
/// travel in their own raw frame (see kMaxBlobChunkBytes).
inline constexpr std::size_t kMaxMessageBytes = 64u << 20;
/// Largest raw blob frame a BlobPutChunk / BlobGetChunk may carry.
inline constexpr std::size_t kMaxBlobChunkBytes = 4u << 20;

/// Limits of the structural pass and of msgpack::unpack on decode.
inline constexpr std::size_t kMaxContainerElements = 1u << 20;  // per array or map
inline constexpr std::size_t kMaxStringBytes = 64u << 20;       // per str, bin or ext
inline constexpr std::size_t kMaxDepth = 32;                    // nesting of arrays/maps
// Why: msgpack::unpack allocates a claimed array up front; the structural
// pass proves every claim is backed by bytes, and this cap bounds the total
// objects (24 bytes each in msgpack's zone) of even a legitimate 64 MiB frame.
inline constexpr std::size_t kMaxObjects = 4u << 20;

/// The part of a frame read before the body.
struct Header {
  uint32_t version = 0;
  uint16_t type = 0;        // a MessageType value when known
  uint64_t request_id = 0;  // set by the requester, echoed by the reply; 0 if unsolicited
  bool operator==(const Header&) const = default;
};

/// A decoded frame: the message and the request it belongs to.
struct Envelope {
  uint64_t request_id = 0;
  Message message;
  bool operator==(const Envelope&) const = default;
};

/// Encodes `message` as one header frame. Fails only when the encoding would
/// exceed kMaxMessageBytes (the error names the message and its size).
Result<std::string> Encode(const Message& message, uint64_t request_id = 0);

/// Decodes one header frame. Every error says what was wrong: size, framing,
/// limits, version, unknown type, or "<Name>: field '<path>' ..." for a body
/// field that is missing or has the wrong type. Unknown body fields are
/// ignored. Does not run Validate.
Result<Envelope> Decode(std::string_view bytes);

/// Decodes only the envelope header, under the same limits as Decode. Lets a
/// receiver echo the request_id in the Error reply to a frame whose body or
/// version it rejects; also accepts unsupported versions and unknown types.
Result<Header> DecodeHeader(std::string_view bytes);

/// The struct name for a wire type ("Dispatch"), or "" if unknown.
std::string_view MessageTypeName(uint16_t type);

}  // namespace receta::protocol
