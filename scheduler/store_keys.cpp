#include "scheduler/store_keys.h"

namespace receta::scheduler::store_keys {
namespace {

// The low `width` bytes of `value`, most significant first, so that keys
// sort as their numbers do.
std::string EncodeBigEndian(uint64_t value, size_t width) {
  std::string out(width, '\0');
  for (size_t i = width; i-- > 0;) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

// The number EncodeBigEndian wrote into `bytes` (at most 8 of them).
uint64_t DecodeBigEndian(std::string_view bytes) {
  uint64_t value = 0;
  for (char c : bytes) value = (value << 8) | static_cast<uint8_t>(c);
  return value;
}

}  // namespace

std::string BigEndian32(uint32_t value) { return EncodeBigEndian(value, 4); }

std::string BigEndian64(uint64_t value) { return EncodeBigEndian(value, 8); }

std::optional<uint64_t> ParseBigEndian64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  return DecodeBigEndian(bytes);
}

std::string StepPrefix(std::string_view run_id) {
  std::string prefix(run_id);
  prefix.push_back('\0');
  return prefix;
}

std::string StepKey(std::string_view run_id, uint32_t index) {
  return StepPrefix(run_id) + BigEndian32(index);
}

std::optional<uint32_t> ParseStepKey(std::string_view key, std::string_view prefix) {
  if (key.size() != prefix.size() + 4 || key.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  return static_cast<uint32_t>(DecodeBigEndian(key.substr(prefix.size())));
}

std::string Printable(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : key) {
    auto byte = static_cast<uint8_t>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

}  // namespace receta::scheduler::store_keys
