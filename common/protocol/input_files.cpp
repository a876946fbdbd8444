#include "common/protocol/input_files.h"

#include <algorithm>

namespace receta::protocol {

InputFile InputFileOf(const FileEntry& file) {
  return {file.path, file.digest, std::string(kInputKindFile), file.size_bytes,
          file.executable ? std::optional<bool>(true) : std::nullopt};
}

void SortUniqueByPath(std::vector<InputFile>& inputs) {
  auto by_path = [](const InputFile& a, const InputFile& b) { return a.path < b.path; };
  std::stable_sort(inputs.begin(), inputs.end(), by_path);
  inputs.erase(std::unique(inputs.begin(), inputs.end(),
                           [](const InputFile& a, const InputFile& b) { return a.path == b.path; }),
               inputs.end());
}

}  // namespace receta::protocol
