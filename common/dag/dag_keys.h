#pragma once
// The vocabulary of the DAG format: every key at every level, its type and
// what it means. One table serves the parser (unknown keys, did-you-mean),
// `receta dag schema` (JSON Schema for editors) and the docs, so they cannot
// drift apart.

#include <cstdint>
#include <string>
#include <vector>

namespace receta {

enum class KeyType {
  kString,
  kScalar,   // string, number or boolean, kept as text (cache_version)
  kInteger,  // non-negative
  kNumber,   // non-negative
  kBoolean,
  kDuration,    // "500ms", "5s", "30m", "1h30m"
  kSize,        // "512M", "1G", "2Gi"
  kStringList,  // a list of strings, or one string
  kRetryOn,     // a list of exit codes and the word `timeout`
  kStringMap,   // map of name -> scalar
  kEnum,        // one of enum_values
  kEnumList,    // a list of enum_values
  kGate,        // a gate expression
  kObject,      // a nested map with its own fields
  kObjectList,  // a list of nested maps with the same fields
  kParamMap,    // map of param name -> scalar default
  kStepMap,     // map of step name -> step
};

struct KeySpec {
  const char* name;
  KeyType type;
  const char* description;
  const std::vector<KeySpec>* fields = nullptr;           // kObject, kObjectList, kStepMap
  const std::vector<const char*>* enum_values = nullptr;  // kEnum, kEnumList
  int64_t max_integer = 0;                                // kInteger: the largest allowed
};

/// The spec of `name` in `keys`; a missing name is a bug.
const KeySpec& FindKeySpec(const std::vector<KeySpec>& keys, const std::string& name);

const std::vector<KeySpec>& DagKeys();        // top level
const std::vector<KeySpec>& StepKeys();       // under steps.NAME
const std::vector<KeySpec>& DefaultsKeys();   // under defaults
const std::vector<KeySpec>& ResourcesKeys();  // under resources
const std::vector<KeySpec>& AlertKeys();      // each entry of alerts

const std::vector<const char*>& StepKindNames();
const std::vector<const char*>& AlertEventNames();

/// Names of the keys in `keys`, for did-you-mean suggestions.
std::vector<std::string> KeyNames(const std::vector<KeySpec>& keys);

}  // namespace receta
