#include "common/cache/cache_key.h"

namespace receta {
namespace {

void PutNumber(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void PutString(std::string& out, const std::string& value) {
  PutNumber(out, value.size());
  out += value;
}

}  // namespace

std::string EncodeCacheKey(const CacheKeyInputs& inputs) {
  std::string out = "receta-cache-key";
  out.push_back('\0');
  PutNumber(out, kCacheKeyVersion);
  out.push_back('C');
  PutString(out, inputs.command);
  out.push_back('E');
  PutNumber(out, inputs.env.size());
  for (const auto& [name, value] : inputs.env) {  // std::map: sorted by name
    PutString(out, name);
    PutString(out, value);
  }
  out.push_back('P');
  PutNumber(out, inputs.params.size());
  for (const auto& [name, value] : inputs.params) {
    PutString(out, name);
    PutString(out, ParamTypeName(value.type));
    PutString(out, value.text);
  }
  out.push_back('I');
  PutNumber(out, inputs.input_digests.size());
  for (const auto& [path, digest] : inputs.input_digests) {
    PutString(out, path);
    PutString(out, digest);
  }
  out.push_back('V');
  PutString(out, inputs.cache_version);
  out.push_back('S');
  PutString(out, inputs.platform);
  return out;
}

Digest ComputeCacheKey(const CacheKeyInputs& inputs) { return HashBytes(EncodeCacheKey(inputs)); }

}  // namespace receta
