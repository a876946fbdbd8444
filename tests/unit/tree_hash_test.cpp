#include "common/hash/tree_hash.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/hash/sha256.h"
#include "tests/unit/test_files.h"
#include "tests/unit/test_support.h"

using receta::Digest;
using receta::EntryKind;
using receta::HashBytes;
using receta::HashPath;
using receta::TreeHashReport;
using receta::testing::TempDir;
using receta::testing::WriteFile;

namespace {

void MakeDir(const std::string& path) { REQUIRE(mkdir(path.c_str(), 0755) == 0); }

void MakeSymlink(const std::string& target, const std::string& link) {
  REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
}

Digest MustHash(const std::string& path) { return receta::testing::Must(HashPath(path, nullptr)); }

// A small tree used by several tests: x, sub/y, sub/deeper/z.
void MakeSampleTree(const std::string& root) {
  MakeDir(root);
  WriteFile(root + "/x", "x contents\n");
  MakeDir(root + "/sub");
  WriteFile(root + "/sub/y", "y contents\n");
  MakeDir(root + "/sub/deeper");
  WriteFile(root + "/sub/deeper/z", "z contents\n");
}

void PutU32(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}

}  // namespace

TEST_CASE("TreeHash.FileDigestIsItsSha256") {
  TempDir dir;
  WriteFile(dir.Path("f"), "hello\n");
  CHECK(MustHash(dir.Path("f")) == HashBytes("hello\n"));
}

TEST_CASE("TreeHash.IndependentOfCreationOrderAndTimes") {
  TempDir dir;
  MakeSampleTree(dir.Path("a"));

  // The same tree built in the opposite order, with other times and modes.
  std::string b = dir.Path("b");
  MakeDir(b);
  MakeDir(b + "/sub");
  MakeDir(b + "/sub/deeper");
  WriteFile(b + "/sub/deeper/z", "z contents\n");
  WriteFile(b + "/sub/y", "y contents\n");
  WriteFile(b + "/x", "x contents\n");
  struct timespec old_times[2] = {{1'000'000, 0}, {1'000'000, 0}};
  REQUIRE(utimensat(AT_FDCWD, (b + "/x").c_str(), old_times, 0) == 0);
  REQUIRE(utimensat(AT_FDCWD, (b + "/sub").c_str(), old_times, 0) == 0);
  REQUIRE(chmod((b + "/sub/y").c_str(), 0600) == 0);  // group/other bits do not count
  if (geteuid() == 0) REQUIRE(chown((b + "/x").c_str(), 12345, 12345) == 0);

  CHECK(MustHash(dir.Path("a")) == MustHash(b));
}

TEST_CASE("TreeHash.ChangedByteChangesDigest") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  Digest before = MustHash(dir.Path("t"));
  WriteFile(dir.Path("t/sub/deeper/z"), "z contentS\n");
  CHECK(MustHash(dir.Path("t")) != before);
}

TEST_CASE("TreeHash.RenameChangesDigest") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  Digest before = MustHash(dir.Path("t"));
  REQUIRE(rename(dir.Path("t/sub/y").c_str(), dir.Path("t/sub/y2").c_str()) == 0);
  CHECK(MustHash(dir.Path("t")) != before);
}

TEST_CASE("TreeHash.ExecutableBitChangesDigest") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  Digest before = MustHash(dir.Path("t"));
  REQUIRE(chmod(dir.Path("t/x").c_str(), 0755) == 0);
  Digest executable = MustHash(dir.Path("t"));
  CHECK(executable != before);
  REQUIRE(chmod(dir.Path("t/x").c_str(), 0644) == 0);
  CHECK(MustHash(dir.Path("t")) == before);
}

TEST_CASE("TreeHash.EmptyDirectoryChangesDigest") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  Digest before = MustHash(dir.Path("t"));
  MakeDir(dir.Path("t/empty"));
  CHECK(MustHash(dir.Path("t")) != before);
}

TEST_CASE("TreeHash.SymlinkIsHashedAsLink") {
  TempDir dir;
  MakeDir(dir.Path("outside"));
  WriteFile(dir.Path("outside/secret"), "version 1");
  MakeSampleTree(dir.Path("t"));
  MakeSymlink(dir.Path("outside/secret"), dir.Path("t/to_file"));
  MakeSymlink(dir.Path("outside"), dir.Path("t/to_dir"));
  Digest before = MustHash(dir.Path("t"));

  // Contents outside the tree are never read.
  WriteFile(dir.Path("outside/secret"), "version 2");
  WriteFile(dir.Path("outside/new"), "new");
  CHECK(MustHash(dir.Path("t")) == before);

  // The link's target string is what counts.
  REQUIRE(unlink(dir.Path("t/to_file").c_str()) == 0);
  MakeSymlink(dir.Path("outside/new"), dir.Path("t/to_file"));
  CHECK(MustHash(dir.Path("t")) != before);
}

TEST_CASE("TreeHash.SymlinkDiffersFromFileHoldingItsTarget") {
  TempDir dir;
  MakeDir(dir.Path("a"));
  MakeDir(dir.Path("b"));
  MakeSymlink("target", dir.Path("a/entry"));
  WriteFile(dir.Path("b/entry"), "target");
  CHECK(MustHash(dir.Path("a")) != MustHash(dir.Path("b")));
}

TEST_CASE("TreeHash.RootSymlinkIsNotFollowed") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  MakeSymlink(dir.Path("t"), dir.Path("link"));
  CHECK(MustHash(dir.Path("link")) == receta::SymlinkDigest(dir.Path("t")));
  CHECK(MustHash(dir.Path("link")) != MustHash(dir.Path("t")));
}

TEST_CASE("TreeHash.TrailingSlashIsIgnored") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  CHECK(MustHash(dir.Path("t") + "/") == MustHash(dir.Path("t")));
}

TEST_CASE("TreeHash.MissingPathIsAnError") {
  TempDir dir;
  receta::Result<Digest> digest = HashPath(dir.Path("absent"), nullptr);
  REQUIRE_FALSE(digest.ok());
  CHECK(digest.error().find(dir.Path("absent")) != std::string::npos);
  CHECK(digest.error().find("No such file or directory") != std::string::npos);
  CHECK_FALSE(HashPath("", nullptr).ok());
}

TEST_CASE("TreeHash.FifoIsAnError") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  REQUIRE(mkfifo(dir.Path("t/sub/pipe").c_str(), 0644) == 0);
  receta::Result<Digest> digest = HashPath(dir.Path("t"), nullptr);
  REQUIRE_FALSE(digest.ok());
  CHECK(digest.error().find(dir.Path("t/sub/pipe")) != std::string::npos);
}

TEST_CASE("TreeHash.EncodingMatchesDocumentedFormat") {
  TempDir dir;
  MakeDir(dir.Path("t"));
  WriteFile(dir.Path("t/run.sh"), "echo hi\n");
  REQUIRE(chmod(dir.Path("t/run.sh").c_str(), 0755) == 0);
  MakeDir(dir.Path("t/d"));
  MakeSymlink("run.sh", dir.Path("t/l"));

  auto record = [](std::string_view name, char kind, char executable, const Digest& digest) {
    std::string bytes;
    PutU32(&bytes, static_cast<uint32_t>(name.size()));
    bytes.append(name);
    bytes.push_back(kind);
    bytes.push_back(executable);
    bytes.append(reinterpret_cast<const char*>(digest.bytes.data()), digest.bytes.size());
    return bytes;
  };
  Digest empty_dir = HashBytes(std::string_view("receta tree v1\0", 15));
  Digest link = HashBytes(std::string("receta symlink v1", 17) + '\0' + "run.sh");
  std::string expected = std::string("receta tree v1", 14) + '\0' + record("d", 'd', 0, empty_dir) +
                         record("l", 'l', 0, link) +
                         record("run.sh", 'f', 1, HashBytes("echo hi\n"));
  Digest digest = MustHash(dir.Path("t"));
  CHECK(digest == HashBytes(expected));
  // Pinned so that any change to the format is noticed: bump the version.
  CHECK(digest.ToHex() == "631a34f6fd7c9a75a2cae381a8851912c415a5c5d55d571c812c55f925257f76");
}

TEST_CASE("TreeHash.ReportListsEveryNode") {
  TempDir dir;
  MakeSampleTree(dir.Path("t"));
  MakeSymlink("x", dir.Path("t/link"));
  TreeHashReport report;
  receta::Result<Digest> digest = HashPath(dir.Path("t"), nullptr, &report);
  REQUIRE(digest.ok());
  REQUIRE(report.entries.size() == 7);
  const char* expected_paths[] = {"", "link", "sub", "sub/deeper", "sub/deeper/z", "sub/y", "x"};
  EntryKind expected_kinds[] = {EntryKind::kDirectory, EntryKind::kSymlink, EntryKind::kDirectory,
                                EntryKind::kDirectory, EntryKind::kFile,    EntryKind::kFile,
                                EntryKind::kFile};
  for (size_t i = 0; i < 7; ++i) {
    CHECK(report.entries[i].relative_path == expected_paths[i]);
    CHECK(report.entries[i].kind == expected_kinds[i]);
  }
  CHECK(report.entries[0].digest == *digest);
  CHECK(report.entries[4].digest == HashBytes("z contents\n"));
  CHECK(report.entries[4].size_bytes == 11);
  CHECK(report.entries[1].size_bytes == 1);
  CHECK(report.files_read == 3);
  CHECK(report.cache_hits == 0);
}
