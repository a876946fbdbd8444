#include "scheduler/parsed_dag_cache.h"

#include <cstdint>

#include "common/hash/sha256.h"

namespace receta::scheduler {

std::string ParsedDagCache::KeyOf(const RunRecord& record) {
  Sha256 hasher;
  // Each part after its length: no two different records hash the same
  // bytes, whatever the parts hold.
  auto add = [&hasher](const std::string& part) {
    uint64_t size = part.size();
    hasher.Update(&size, sizeof size);
    hasher.Update(part);
  };
  add(record.dag_file);
  add(record.dag_yaml);
  for (const auto& [name, value] : record.params) {
    add(name);
    add(value);
  }
  add("workspace");
  for (const FileEntry& file : record.workspace) add(file.path);
  return hasher.Finish().ToHex();
}

std::shared_ptr<const ParsedDag> ParsedDagCache::Find(const std::string& key) const {
  return key == key_ ? parsed_ : nullptr;
}

void ParsedDagCache::Remember(std::string key, std::shared_ptr<const ParsedDag> parsed) {
  key_ = std::move(key);
  parsed_ = std::move(parsed);
}

}  // namespace receta::scheduler
