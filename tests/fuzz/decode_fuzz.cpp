// libFuzzer target for the protocol decoder: arbitrary bytes must never
// crash Decode, DecodeHeader or the validators, and whatever decodes and
// validates must survive Encode -> Decode unchanged.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/protocol/codec.h"
#include "common/protocol/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace receta::protocol;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)DecodeHeader(bytes);
  receta::Result<Envelope> decoded = Decode(bytes);
  if (!decoded.ok()) return 0;
  receta::Status valid = ValidateMessage(decoded->message);
  receta::Result<std::string> encoded = Encode(decoded->message, decoded->request_id);
  if (!encoded.ok()) __builtin_trap();  // it decoded, so it fits in a frame
  // Why only valid messages: an invalid one may hold a NaN, which never compares equal.
  if (valid.ok()) {
    receta::Result<Envelope> again = Decode(*encoded);
    if (!again.ok() || !(*again == *decoded)) __builtin_trap();
  }
  return 0;
}
