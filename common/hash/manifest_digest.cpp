#include "common/hash/manifest_digest.h"

#include <map>
#include <memory>

#include "common/hash/tree_hash.h"

namespace receta {
namespace {

// A directory rebuilt from the '/'-separated paths below it.
struct Node {
  std::map<std::string, std::unique_ptr<Node>> children;  // directories
  std::vector<DirectoryEntry> files;
};

Status Insert(Node& root, std::string_view relative, const protocol::FileEntry& file) {
  Node* node = &root;
  for (;;) {
    size_t slash = relative.find('/');
    if (slash == std::string_view::npos) break;
    std::unique_ptr<Node>& child = node->children[std::string(relative.substr(0, slash))];
    if (!child) child = std::make_unique<Node>();
    node = child.get();
    relative.remove_prefix(slash + 1);
  }
  Result<Digest> digest = Digest::FromHex(file.digest);
  if (!digest.ok()) return digest.status().WithContext("file '" + file.path + "'");
  node->files.push_back({std::string(relative), EntryKind::kFile, file.executable, *digest});
  return Status::Ok();
}

Digest DigestOf(const Node& node) {
  std::vector<DirectoryEntry> entries = node.files;
  for (const auto& [name, child] : node.children) {
    entries.push_back({name, EntryKind::kDirectory, false, DigestOf(*child)});
  }
  return DirectoryDigest(std::move(entries));
}

}  // namespace

bool PathIsAtOrUnder(std::string_view path, std::string_view root) {
  if (path.size() < root.size() || path.compare(0, root.size(), root) != 0) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

Result<Digest> ManifestDigest(std::string_view root, const std::vector<protocol::FileEntry>& files) {
  Node tree;
  bool found = false;
  for (const protocol::FileEntry& file : files) {
    if (!PathIsAtOrUnder(file.path, root)) continue;
    if (file.path.size() == root.size()) return Digest::FromHex(file.digest);
    found = true;
    if (Status s = Insert(tree, std::string_view(file.path).substr(root.size() + 1), file); !s.ok()) {
      return s;
    }
  }
  if (!found) {
    return Result<Digest>::Error("no file at or under '" + std::string(root) + "' in the manifest");
  }
  return DigestOf(tree);
}

}  // namespace receta
