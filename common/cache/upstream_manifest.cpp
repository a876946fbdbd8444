#include "common/cache/upstream_manifest.h"

#include <algorithm>

#include "common/hash/manifest_digest.h"

namespace receta {

Result<std::string> UpstreamManifest(std::vector<std::string> input_paths,
                                     const std::vector<protocol::FileEntry>& upstream_outputs) {
  std::sort(input_paths.begin(), input_paths.end());
  input_paths.erase(std::unique(input_paths.begin(), input_paths.end()), input_paths.end());
  std::string text = "receta-upstream-manifest\n";
  for (const std::string& path : input_paths) {
    Result<Digest> digest = ManifestDigest(path, upstream_outputs);
    if (!digest.ok()) return digest.status().WithContext("input '" + path + "'");
    text += path;
    text += '\0';
    text += digest->ToHex();
    text += '\n';
  }
  return HashBytes(text).ToHex();
}

}  // namespace receta
