#pragma once
// The first pass over an untrusted header frame, before anything is
// allocated for it: size cap, msgpack well-formedness, and the container,
// string, depth and object-count limits of codec.h.

#include <string_view>

#include "common/status.h"

namespace receta::protocol {

/// Returns Ok when `bytes` is exactly one well-formed msgpack value within
/// kMaxMessageBytes, kMaxContainerElements, kMaxStringBytes, kMaxDepth and
/// kMaxObjects. Walks the bytes with msgpack's SAX parser, so a frame that
/// claims 2^32 elements costs nothing: it fails as over the limit, or as
/// truncated when its claims outrun its bytes. Never throws.
Status CheckFrame(std::string_view bytes);

}  // namespace receta::protocol
