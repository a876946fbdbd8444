#include "scheduler/store_keys.h"

namespace receta::scheduler::store_keys {

std::string BigEndian32(uint32_t value) {
  std::string out(4, '\0');
  for (int i = 3; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::optional<uint64_t> ParseBigEndian64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  uint64_t value = 0;
  for (char c : bytes) value = (value << 8) | static_cast<uint8_t>(c);
  return value;
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
  uint32_t index = 0;
  for (char c : key.substr(prefix.size())) index = (index << 8) | static_cast<uint8_t>(c);
  return index;
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
