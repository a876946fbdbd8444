#include <ostream>

#include "cli/commands.h"
#include "common/hash/tree_hash.h"
#include "common/json/json_writer.h"

namespace receta::cli {

int Hash(const std::vector<std::string>& paths, bool json, std::ostream& out, std::ostream& err) {
  int exit_code = 0;
  JsonWriter writer;
  writer.BeginArray();
  for (const std::string& path : paths) {
    Result<Digest> digest = HashPath(path, nullptr);
    if (!digest.ok()) {
      err << "receta: " << digest.error() << "\n";
      exit_code = 1;
      if (json) writer.BeginObject().Field("path", path).Field("error", digest.error()).EndObject();
      continue;
    }
    if (json) {
      writer.BeginObject().Field("path", path).Field("sha256", digest->ToHex()).EndObject();
    } else {
      // Same layout as sha256sum, so the digests of files can be compared.
      out << digest->ToHex() << "  " << path << "\n";
    }
  }
  writer.EndArray();
  if (json) out << writer.str() << "\n";
  return exit_code;
}

}  // namespace receta::cli
