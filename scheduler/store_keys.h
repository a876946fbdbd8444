#pragma once
// Key encodings of the scheduler's RocksDB column families (see the format
// note at the top of store.cpp). Big-endian integers so that RocksDB's
// bytewise order is numeric order.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace receta::scheduler::store_keys {

/// 4 bytes, most significant first.
std::string BigEndian32(uint32_t value);
/// 8 bytes, most significant first.
std::string BigEndian64(uint64_t value);
/// The value of exactly 8 big-endian bytes; nullopt for any other length.
std::optional<uint64_t> ParseBigEndian64(std::string_view bytes);

/// run_id + '\0': the prefix every step key of the run starts with.
std::string StepPrefix(std::string_view run_id);
/// run_id + '\0' + BigEndian32(index).
std::string StepKey(std::string_view run_id, uint32_t index);
/// The index of a step key under `prefix`; nullopt when the key is not
/// prefix + 4 bytes.
std::optional<uint32_t> ParseStepKey(std::string_view key, std::string_view prefix);

/// Printable form of a key for error messages: bytes outside 0x20..0x7e as \xNN.
std::string Printable(std::string_view key);

}  // namespace receta::scheduler::store_keys
