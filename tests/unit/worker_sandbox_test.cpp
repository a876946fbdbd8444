// Local CAS cache, sandbox placement and output manifests, and the cap on
// kept failed sandboxes: real files in temporary directories.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/hash/sha256.h"
#include "test_files.h"
#include "worker/failed_sandboxes.h"
#include "worker/local_cache.h"
#include "worker/sandbox.h"

using receta::HashBytes;
using receta::Status;
using receta::testing::ReadFile;
using receta::testing::TempDir;
using namespace receta::worker;
namespace fs = std::filesystem;

namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

ino_t InodeOf(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

// Puts `contents` in `cache` and returns its digest.
std::string Insert(LocalCache& cache, const std::string& contents) {
  std::string digest = HashBytes(contents).ToHex();
  std::string temp = cache.TempPath();
  receta::testing::WriteFile(temp, contents);
  REQUIRE(cache.Adopt(temp, digest).ok());
  return digest;
}

receta::protocol::InputFile Input(const std::string& path, const std::string& digest) {
  return {path, digest, "file", 0, std::nullopt};
}

}  // namespace

TEST_CASE("LocalCacheTest.AdoptStoresReadOnlyUnderShard") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  std::string digest = Insert(*cache, "hello");
  CHECK(cache->BlobPath(digest) == dir.Path("cas/" + digest.substr(0, 2) + "/" + digest));
  CHECK(cache->Contains(digest));
  CHECK(ModeOf(cache->BlobPath(digest)) == 0444);
  CHECK(ReadFile(cache->BlobPath(digest)) == "hello");
  CHECK(fs::is_empty(dir.Path("cas/tmp")));
}

TEST_CASE("LocalCacheTest.MaterializeHardLinksReadOnlyAndExecutableVariant") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  std::string digest = Insert(*cache, "#!/bin/sh\necho hi\n");
  REQUIRE(cache->Materialize(digest, dir.Path("a"), false).ok());
  CHECK(InodeOf(dir.Path("a")) == InodeOf(cache->BlobPath(digest)));
  CHECK(ModeOf(dir.Path("a")) == 0444);
  REQUIRE(cache->Materialize(digest, dir.Path("x"), true).ok());
  CHECK(ModeOf(dir.Path("x")) == 0555);
  CHECK(ModeOf(cache->BlobPath(digest)) == 0444);  // the plain variant is untouched
  CHECK(ReadFile(dir.Path("x")) == "#!/bin/sh\necho hi\n");
}

TEST_CASE("LocalCacheTest.BadInputs") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  std::string absent = HashBytes("absent").ToHex();
  Status missing = cache->Materialize(absent, dir.Path("a"), false);
  CHECK_FALSE(missing.ok());
  CHECK(missing.message().find(absent) != std::string::npos);
  CHECK_FALSE(cache->Materialize("../../etc/passwd", dir.Path("b"), false).ok());
  CHECK_FALSE(cache->Adopt(dir.Write("t", "x"), "NOTADIGEST").ok());
  // A directory that cannot be created is an error naming it.
  dir.Write("file", "");
  CHECK_FALSE(LocalCache::Open(dir.Path("file/cas")).ok());
}

TEST_CASE("LocalCacheTest.InsertCopyOfLinksSingleLinkFiles") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  std::string out = dir.Write("out.bin", "model");
  std::string digest = HashBytes("model").ToHex();
  REQUIRE(cache->InsertCopyOf(out, digest).ok());
  CHECK(cache->Contains(digest));
  CHECK(ReadFile(cache->BlobPath(digest)) == "model");
  CHECK(InodeOf(out) == InodeOf(cache->BlobPath(digest)));
  CHECK(ModeOf(cache->BlobPath(digest)) == 0444);         // read-only before the name appears
  CHECK(std::filesystem::is_empty(dir.Path("cas/tmp")));  // straight to its name
  // A file with other links is copied, so its other names keep their mode.
  std::string shared = dir.Write("shared", "data");
  REQUIRE(link(shared.c_str(), dir.Path("shared2").c_str()) == 0);
  REQUIRE(cache->InsertCopyOf(shared, HashBytes("data").ToHex()).ok());
  CHECK(ModeOf(shared) != 0444);
}

// A digest the cache holds already: the blob stays as it was, whether the
// new source could be linked (one link) or would have been copied.
TEST_CASE("LocalCacheTest.InsertingAHeldDigestKeepsTheBlob") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  const std::string digest = HashBytes("model").ToHex();
  std::string first = dir.Write("first.bin", "model");
  REQUIRE(cache->InsertCopyOf(first, digest).ok());
  const ino_t blob = InodeOf(cache->BlobPath(digest));

  std::string again = dir.Write("again.bin", "model");
  REQUIRE(cache->InsertCopyOf(again, digest).ok());
  std::string linked = dir.Write("linked.bin", "model");
  REQUIRE(link(linked.c_str(), dir.Path("linked2.bin").c_str()) == 0);
  REQUIRE(cache->InsertCopyOf(linked, digest).ok());
  CHECK(InodeOf(cache->BlobPath(digest)) == blob);
  CHECK(ReadFile(cache->BlobPath(digest)) == "model");
  CHECK(std::filesystem::is_empty(dir.Path("cas/tmp")));  // nothing copied
  CHECK(ModeOf(linked) != 0444);                          // a file with other names keeps its mode
}

// Every shard is made when the cache opens (not on a step's path); one
// removed since is made again by the insert that needs it.
TEST_CASE("LocalCacheTest.OpenMakesEveryShardAndAnInsertRemakesAMissingOne") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  size_t shards = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.Path("cas"))) {
    if (entry.is_directory() && entry.path().filename() != "tmp") ++shards;
  }
  CHECK(shards == 256);
  CHECK(std::filesystem::is_directory(dir.Path("cas/00")));
  CHECK(std::filesystem::is_directory(dir.Path("cas/ff")));
  REQUIRE(LocalCache::Open(dir.Path("cas")).ok());  // again: all there

  std::string out = dir.Write("out.bin", "model");
  std::string digest = HashBytes("model").ToHex();
  std::filesystem::remove(dir.Path("cas/" + digest.substr(0, 2)));
  REQUIRE(cache->InsertCopyOf(out, digest).ok());
  CHECK(ReadFile(cache->BlobPath(digest)) == "model");
}

TEST_CASE("SandboxTest.PlacesInputsAndPreparesOutputs") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  std::string d1 = Insert(*cache, "a,b\n1,2\n");
  std::string d2 = Insert(*cache, "print('hi')\n");
  auto sandbox = Sandbox::Create(dir.Path("sandboxes"), "run1.0-1");
  REQUIRE_MESSAGE(sandbox.ok(), sandbox.error());
  CHECK(sandbox->path() == dir.Path("sandboxes/run1.0-1"));
  Status placed = sandbox->PlaceInputs({Input("data/raw/x.csv", d1), Input("src/p.py", d2)}, *cache);
  REQUIRE_MESSAGE(placed.ok(), placed.message());
  CHECK(ReadFile(sandbox->path() + "/data/raw/x.csv") == "a,b\n1,2\n");
  CHECK(ModeOf(sandbox->path() + "/src/p.py") == 0444);
  REQUIRE(sandbox->PrepareOutputs({"model/best/model.pkl", "eval"}).ok());
  CHECK(fs::is_directory(sandbox->path() + "/model/best"));
  CHECK_FALSE(fs::exists(sandbox->path() + "/eval"));
}

TEST_CASE("SandboxTest.RefusesBadInputs") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  std::string d = Insert(*cache, "x");
  auto sandbox = Sandbox::Create(dir.Path("sandboxes"), "a-1");
  REQUIRE(sandbox.ok());
  for (const char* bad : {"../x", "/etc/passwd", "a/../../x", "", "a//b", "./a"}) {
    Status s = sandbox->PlaceInputs({Input(bad, d)}, *cache);
    CHECK_MESSAGE(!s.ok(), bad);
  }
  CHECK_FALSE(fs::exists(dir.Path("sandboxes/x")));
  CHECK_FALSE(fs::exists(dir.Path("x")));
  Status missing = sandbox->PlaceInputs({Input("in.txt", HashBytes("nope").ToHex())}, *cache);
  CHECK(missing.message().find("in.txt") != std::string::npos);
  CHECK(missing.message().find("not in the worker cache") != std::string::npos);
  Status same_path = sandbox->PlaceInputs({Input("g.txt", d), Input("g.txt", d)}, *cache);
  CHECK(same_path.message() ==
        "cannot place input 'g.txt': another input or directory is already there");
  receta::protocol::InputFile tree = Input("dir", d);
  tree.kind = "dir";
  CHECK_FALSE(sandbox->PlaceInputs({tree}, *cache).ok());
  Status twice = sandbox->PlaceInputs({Input("f", d), Input("f/g", d)}, *cache);
  CHECK_FALSE(twice.ok());
  CHECK_FALSE(sandbox->PrepareOutputs({"../out"}).ok());
  CHECK_FALSE(Sandbox::Create(dir.Path("sandboxes"), "../escape").ok());
  CHECK_FALSE(Sandbox::Create(dir.Path("sandboxes"), "..").ok());
}

TEST_CASE("SandboxTest.ManifestListsFilesAndDirectoryContents") {
  TempDir dir;
  auto sandbox = Sandbox::Create(dir.Path("sandboxes"), "r.1-1");
  REQUIRE(sandbox.ok());
  std::string root = sandbox->path();
  fs::create_directories(root + "/model/sub");
  fs::create_directories(root + "/model/empty");
  receta::testing::WriteFile(root + "/model/b.bin", "bb");
  receta::testing::WriteFile(root + "/model/sub/a.txt", "a");
  receta::testing::WriteFile(root + "/metrics.json", "{}");
  chmod((root + "/metrics.json").c_str(), 0755);
  auto manifest = sandbox->CollectOutputs({"model", "metrics.json", "model/b.bin"});
  REQUIRE_MESSAGE(manifest.ok(), manifest.error());
  REQUIRE(manifest->size() == 3);
  CHECK((*manifest)[0].path == "metrics.json");
  CHECK((*manifest)[0].executable);
  CHECK((*manifest)[0].digest == HashBytes("{}").ToHex());
  CHECK((*manifest)[1].path == "model/b.bin");
  CHECK((*manifest)[1].size_bytes == 2);
  CHECK_FALSE((*manifest)[1].executable);
  CHECK((*manifest)[2].path == "model/sub/a.txt");
}

TEST_CASE("SandboxTest.MissingOutputAndSymlinksAreErrors") {
  TempDir dir;
  auto sandbox = Sandbox::Create(dir.Path("sandboxes"), "r.1-1");
  REQUIRE(sandbox.ok());
  auto missing = sandbox->CollectOutputs({"model/model.pkl"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error() == "declared output 'model/model.pkl' was not created by the step");
  REQUIRE(symlink("/etc/passwd", (sandbox->path() + "/leak").c_str()) == 0);
  auto leak = sandbox->CollectOutputs({"leak"});
  REQUIRE_FALSE(leak.ok());
  CHECK(leak.error().find("'leak'") != std::string::npos);
  REQUIRE(symlink("/etc", (sandbox->path() + "/etcdir").c_str()) == 0);
  CHECK_FALSE(sandbox->CollectOutputs({"etcdir/passwd"}).ok());
}

TEST_CASE("SandboxTest.RemoveTreeOpensReadOnlyDirectories") {
  TempDir dir;
  fs::create_directories(dir.Path("s/ro/inner"));
  dir.Write("s/ro/inner/f", "x");
  chmod(dir.Path("s/ro/inner").c_str(), 0555);
  chmod(dir.Path("s/ro").c_str(), 0555);
  CHECK(RemoveTree(dir.Path("s")).ok());
  CHECK_FALSE(fs::exists(dir.Path("s")));
  CHECK(RemoveTree(dir.Path("never")).ok());
}

TEST_CASE("FailedSandboxesTest.KeepsNewestWithinCountAndBytes") {
  std::vector<KeptSandbox> kept = {{"a", 1, 10}, {"b", 2, 10}, {"c", 3, 10}, {"d", 4, 10}};
  CHECK(SandboxesToRemove(kept, {3, 1000}) == std::vector<std::string>{"a"});
  CHECK(SandboxesToRemove(kept, {10, 25}) == std::vector<std::string>{"b", "a"});
  CHECK(SandboxesToRemove(kept, {10, 5}) == std::vector<std::string>{"d", "c", "b", "a"});
  CHECK(SandboxesToRemove({}, {1, 1}).empty());
}

TEST_CASE("FailedSandboxesTest.MovesAndPrunesOnDisk") {
  TempDir dir;
  for (const char* name : {"x-1", "x-2", "x-3"}) {
    auto sandbox = Sandbox::Create(dir.Path("sandboxes"), name);
    REQUIRE(sandbox.ok());
    receta::testing::WriteFile(sandbox->path() + "/log", "data");
    auto kept = KeepFailedSandbox(sandbox->path(), dir.Path("failed"), {2, 1000});
    REQUIRE_MESSAGE(kept.ok(), kept.error());
    CHECK(*kept == dir.Path("failed/") + name);
    CHECK_FALSE(fs::exists(sandbox->path()));
  }
  CHECK_FALSE(fs::exists(dir.Path("failed/x-1")));
  CHECK(fs::exists(dir.Path("failed/x-2")));
  CHECK(fs::exists(dir.Path("failed/x-3")));
}

namespace {

// Every path under `root`, relative, sorted; directories end in '/'.
std::vector<std::string> Tree(const std::string& root) {
  std::vector<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    std::string relative = fs::relative(entry.path(), root).string();
    paths.push_back(entry.is_directory() && !entry.is_symlink() ? relative + "/" : relative);
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace

// A reused sandbox must hold exactly what a fresh one would: whatever the
// previous step left (files, links, read-only directories, a directory
// where the next step expects a file) is gone before the next step starts.
TEST_CASE("SandboxTest.ARecycledSandboxLooksFresh") {
  TempDir dir;
  auto cache = LocalCache::Open(dir.Path("cas"));
  REQUIRE(cache.ok());
  SandboxRecycler recycler(dir.Path("sandboxes"));
  std::string d1 = Insert(*cache, "1,2\n");
  std::string d2 = Insert(*cache, "cfg\n");

  auto first = Sandbox::Create(dir.Path("sandboxes"), "r.0-1", &recycler);
  REQUIRE(first.ok());
  CHECK_FALSE(first->recycled());
  REQUIRE(first->PlaceInputs({Input("data/x.csv", d1)}, *cache).ok());
  REQUIRE(first->PrepareOutputs({"out/a.txt", "model"}).ok());
  const std::string root = first->path();
  fs::create_directories(root + "/model/deep/er");
  std::ofstream(root + "/out/a.txt") << "made";
  std::ofstream(root + "/model/deep/er/w.bin") << "weights";
  fs::create_directories(root + "/conf.yaml");  // where the next step's input goes
  fs::create_symlink("/etc", root + "/etc-link");
  fs::create_directories(root + "/locked/inner");
  fs::permissions(root + "/locked", fs::perms::owner_read | fs::perms::owner_exec);
  // A directory the next step writes into, left read-only with a file in
  // it, and one left writable by everybody, set-group-id and sticky.
  fs::permissions(root + "/out", fs::perms::owner_read | fs::perms::owner_exec);
  fs::permissions(root + "/data", fs::perms::all | fs::perms::set_gid | fs::perms::sticky_bit);
  REQUIRE(recycler.Give(root));
  CHECK_FALSE(fs::exists(root));

  auto second = Sandbox::Create(dir.Path("sandboxes"), "r.1-1", &recycler);
  REQUIRE(second.ok());
  CHECK(second->recycled());
  CHECK(second->path() == dir.Path("sandboxes/r.1-1"));
  const std::vector<receta::protocol::InputFile> inputs = {Input("conf.yaml", d2), Input("data/y.csv", d1)};
  const std::vector<std::string> outputs = {"out/b.txt", "model"};
  REQUIRE(second->DropLeftoverDirs(inputs, outputs).ok());
  REQUIRE(second->PlaceInputs(inputs, *cache).ok());
  REQUIRE(second->PrepareOutputs(outputs).ok());

  auto fresh = Sandbox::Create(dir.Path("fresh"), "r.1-1");
  REQUIRE(fresh.ok());
  REQUIRE(fresh->DropLeftoverDirs(inputs, outputs).ok());  // nothing to do
  REQUIRE(fresh->PlaceInputs(inputs, *cache).ok());
  REQUIRE(fresh->PrepareOutputs(outputs).ok());
  CHECK(Tree(second->path()) == Tree(fresh->path()));
  CHECK(Tree(second->path()) ==
        std::vector<std::string>{"conf.yaml", "data/", "data/y.csv", "out/"});
  CHECK(ReadFile(second->path() + "/conf.yaml") == "cfg\n");
  CHECK((ModeOf(second->path() + "/out") & 0700) == 0700);
  CHECK((ModeOf(second->path() + "/data") & 07777) == 0755);
  std::ofstream(second->path() + "/out/b.txt") << "made again";
  CHECK(ReadFile(second->path() + "/out/b.txt") == "made again");
}

// A sandbox an earlier worker left under the attempt's id (not empty): the
// kept skeleton still takes its place, and nothing of the leftover stays.
TEST_CASE("SandboxTest.ARecycledSandboxReplacesALeftoverUnderItsName") {
  TempDir dir;
  SandboxRecycler recycler(dir.Path("sandboxes"));
  auto first = Sandbox::Create(dir.Path("sandboxes"), "r.0-1", &recycler);
  REQUIRE(first.ok());
  REQUIRE(recycler.Give(first->path()));
  std::filesystem::create_directories(dir.Path("sandboxes/r.1-1/old/dir"));
  std::ofstream(dir.Path("sandboxes/r.1-1/old/file")) << "left over";

  auto second = Sandbox::Create(dir.Path("sandboxes"), "r.1-1", &recycler);
  REQUIRE(second.ok());
  CHECK(second->recycled());
  CHECK(Tree(second->path()).empty());
}

TEST_CASE("SandboxTest.TheRecyclerKeepsAFewSkeletonsAndTheRestAreRemoved") {
  TempDir dir;
  SandboxRecycler recycler(dir.Path("sandboxes"));
  std::vector<std::string> paths;
  for (size_t i = 0; i <= SandboxRecycler::kMaxKept; ++i) {
    auto sandbox = Sandbox::Create(dir.Path("sandboxes"), "r." + std::to_string(i) + "-1");
    REQUIRE(sandbox.ok());
    paths.push_back(sandbox->path());
  }
  size_t kept = 0;
  for (const std::string& path : paths) kept += recycler.Give(path) ? 1 : 0;
  CHECK(kept == SandboxRecycler::kMaxKept);
  CHECK(fs::exists(paths.back()));  // not kept: the caller removes it
  size_t taken = 0;
  while (std::optional<SandboxRecycler::Skeleton> skeleton = recycler.Take()) {
    CHECK(fs::is_directory(skeleton->path));
    CHECK(fs::path(skeleton->path).filename().string().rfind(".free-", 0) == 0);
    ++taken;
  }
  CHECK(taken == SandboxRecycler::kMaxKept);
}

// The spare files a recycler keeps under `sandboxes_root` on disk now.
std::vector<fs::path> SpareFilesOnDisk(const std::string& sandboxes_root) {
  std::vector<fs::path> spares;
  for (const auto& entry : fs::recursive_directory_iterator(sandboxes_root + "/.spares")) {
    if (entry.is_regular_file()) spares.push_back(entry.path());
  }
  return spares;
}

// A work dir with a cache and a sandbox recycler, as a worker has: reopened
// before the first sandbox, as the worker does at start. Why it matters:
// without it the spare shards do not exist, no spare is ever kept, and a
// test of reuse passed only when ext4 happened to hand the freed inode
// number to the next new file (it failed in CI when it did not).
struct RecyclingWorkDir {
  TempDir dir;
  LocalCache cache = MustOpenCache(dir.Path("cas"));
  SandboxRecycler recycler{dir.Path("sandboxes")};

  RecyclingWorkDir() { REQUIRE(recycler.Reopen().ok()); }

  static LocalCache MustOpenCache(const std::string& path) {
    auto opened = LocalCache::Open(path);
    REQUIRE(opened.ok());
    return std::move(*opened);
  }

  std::vector<fs::path> SparesOnDisk() const { return SpareFilesOnDisk(dir.Path("sandboxes")); }
};

TEST_CASE_FIXTURE(RecyclingWorkDir,
                  "SandboxTest.InlineInputsAreWrittenInPlaceAndTheirFilesReusedForTheNext") {
  const std::string long_text = "a longer first input\n";
  const std::string short_text = "short\n";
  const std::string cached_text = "cached\n";
  const std::string long_digest = HashBytes(long_text).ToHex();
  const std::string short_digest = HashBytes(short_text).ToHex();
  const std::string cached_digest = Insert(cache, cached_text);

  auto first = Sandbox::Create(dir.Path("sandboxes"), "r.0-1", &recycler);
  REQUIRE(first.ok());
  // Inline bytes are those the cache lacked (Attempt::FetchInputs): the
  // input without any is linked from the cache.
  Status placed = first->PlaceInputs(
      {Input("in/a.txt", long_digest), Input("tool.sh", short_digest),
       Input("c.txt", cached_digest)},
      cache, {false, true, false}, {{long_digest, long_text}, {short_digest, short_text}});
  REQUIRE_MESSAGE(placed.ok(), placed.message());
  const std::string a = first->path() + "/in/a.txt";
  CHECK(ReadFile(a) == long_text);
  CHECK(ModeOf(a) == 0444);
  CHECK(ModeOf(first->path() + "/tool.sh") == 0555);
  CHECK_FALSE(cache.Contains(long_digest));  // written in place, not cached
  CHECK(InodeOf(first->path() + "/c.txt") == InodeOf(cache.BlobPath(cached_digest)));
  CHECK(first->written_files() == std::vector<std::string>{a, first->path() + "/tool.sh"});
  const ino_t a_inode = InodeOf(a);
  const ino_t tool_inode = InodeOf(first->path() + "/tool.sh");
  REQUIRE(recycler.Give(first->path(), first->written_files()));
  REQUIRE(SparesOnDisk().size() == 2);

  // The next inline input reuses one of those files, rewritten: shorter
  // bytes leave nothing of the longer ones behind.
  auto second = Sandbox::Create(dir.Path("sandboxes"), "r.1-1", &recycler);
  REQUIRE(second.ok());
  REQUIRE(
      second->PlaceInputs({Input("b.txt", short_digest)}, cache, {}, {{short_digest, short_text}})
          .ok());
  const std::string b = second->path() + "/b.txt";
  CHECK(ReadFile(b) == short_text);
  CHECK(ModeOf(b) == 0444);
  ino_t b_inode = InodeOf(b);
  CHECK((b_inode == a_inode || b_inode == tool_inode));
  CHECK(Tree(second->path()) == std::vector<std::string>{"b.txt", "in/"});
}

// A spare remembers how long it was, so shorter new bytes are cut to
// length, also when the step made the file longer than the worker wrote it.
TEST_CASE_FIXTURE(RecyclingWorkDir, "SandboxTest.AReusedSpareHoldsExactlyTheNewBytes") {
  const std::string first_text = "first input, the longest\n";
  const std::string digest = HashBytes(first_text).ToHex();
  auto first = Sandbox::Create(dir.Path("sandboxes"), "r.0-1", &recycler);
  REQUIRE(first.ok());
  REQUIRE(first->PlaceInputs({Input("a.txt", digest)}, cache, {}, {{digest, first_text}}).ok());
  const std::string a = first->path() + "/a.txt";
  const ino_t inode = InodeOf(a);
  // A step running as root may write to its read-only input.
  REQUIRE(chmod(a.c_str(), 0644) == 0);
  std::ofstream(a, std::ios::app) << "and more the step added\n";
  REQUIRE(recycler.Give(first->path(), first->written_files()));
  REQUIRE(SparesOnDisk().size() == 1);  // the input's file, kept

  for (const std::string& text : {std::string("a middle input, longer than the first\n"),
                                  std::string("x\n"), std::string(100, 'y')}) {
    CAPTURE(text);
    auto next = Sandbox::Create(dir.Path("sandboxes"), "r.1-1", &recycler);
    REQUIRE(next.ok());
    const std::string next_digest = HashBytes(text).ToHex();
    REQUIRE(
        next->PlaceInputs({Input("b.txt", next_digest)}, cache, {}, {{next_digest, text}}).ok());
    const std::string b = next->path() + "/b.txt";
    CHECK(InodeOf(b) == inode);  // the same file, rewritten
    CHECK(SparesOnDisk().empty());
    CHECK(ReadFile(b) == text);
    REQUIRE(recycler.Give(next->path(), next->written_files()));
  }
}

TEST_CASE_FIXTURE(RecyclingWorkDir, "SandboxTest.AnInlineInputTheStepLinkedOrReplacedIsNotReused") {
  const std::string text = "params\n";
  const std::string digest = HashBytes(text).ToHex();

  auto first = Sandbox::Create(dir.Path("sandboxes"), "r.0-1", &recycler);
  REQUIRE(first.ok());
  REQUIRE(first
              ->PlaceInputs({Input("p.txt", digest), Input("q.txt", HashBytes("q\n").ToHex())},
                            cache, {}, {{digest, text}, {HashBytes("q\n").ToHex(), "q\n"}})
              .ok());
  // What a step may do: hard-link an input as its output (the worker cache
  // then holds the inode), or put a symlink where an input was.
  const std::string p = first->path() + "/p.txt";
  const std::string kept_elsewhere = dir.Path("output-link");
  REQUIRE(link(p.c_str(), kept_elsewhere.c_str()) == 0);
  const ino_t linked_inode = InodeOf(p);
  REQUIRE(unlink((first->path() + "/q.txt").c_str()) == 0);
  fs::create_symlink(kept_elsewhere, first->path() + "/q.txt");
  REQUIRE(recycler.Give(first->path(), first->written_files()));
  CHECK_FALSE(recycler.TakeSpareFile().has_value());

  auto second = Sandbox::Create(dir.Path("sandboxes"), "r.1-1", &recycler);
  REQUIRE(second.ok());
  REQUIRE(second
              ->PlaceInputs({Input("p2.txt", HashBytes("new\n").ToHex())}, cache, {},
                            {{HashBytes("new\n").ToHex(), "new\n"}})
              .ok());
  CHECK(InodeOf(second->path() + "/p2.txt") != linked_inode);
  CHECK(ReadFile(kept_elsewhere) == text);  // the linked inode was never rewritten
}

TEST_CASE_FIXTURE(RecyclingWorkDir, "SandboxTest.AnInlineInputNeverReplacesWhatIsAlreadyThere") {
  const std::string cached_text = "kept in the cache\n";
  const std::string cached_digest = Insert(cache, cached_text);
  const std::string text = "sent inline\n";
  const std::string digest = HashBytes(text).ToHex();
  auto first = Sandbox::Create(dir.Path("sandboxes"), "r.0-1", &recycler);
  REQUIRE(first.ok());
  REQUIRE(first->PlaceInputs({Input("a.txt", digest)}, cache, {}, {{digest, text}}).ok());
  REQUIRE(recycler.Give(first->path(), first->written_files()));

  // A spare file is at hand; the inline input's path is taken by a linked one.
  auto second = Sandbox::Create(dir.Path("sandboxes"), "r.1-1", &recycler);
  REQUIRE(second.ok());
  Status placed = second->PlaceInputs({Input("b.txt", cached_digest), Input("b.txt", digest)},
                                      cache, {}, {{digest, text}});
  CHECK(placed.message() ==
        "cannot place input 'b.txt': another input or directory is already there");
  CHECK(ReadFile(second->path() + "/b.txt") == cached_text);
  CHECK(InodeOf(second->path() + "/b.txt") == InodeOf(cache.BlobPath(cached_digest)));
  CHECK(ReadFile(cache.BlobPath(cached_digest)) == cached_text);
}

TEST_CASE("SandboxRecyclerTest.AWorkerRestartKeepsItsSpareFilesAndRemovesTheRest") {
  TempDir dir;
  const std::string root = dir.Path("sandboxes");
  auto spare_path = [&](size_t n) { return SandboxRecycler::SpareFilePath(root, n); };
  fs::create_directories(root + "/r.3-1/out");
  std::ofstream(root + "/r.3-1/out/a.txt") << "left by a killed attempt";
  fs::create_directories(root + "/.free-2/in");
  std::ofstream(root + "/.spare-5") << "an older worker's spare";  // the old layout
  fs::create_directories(fs::path(spare_path(7)).parent_path());
  fs::create_directories(fs::path(spare_path(9)));  // not a file
  fs::create_directories(fs::path(spare_path(11)).parent_path());
  std::ofstream(spare_path(7)) << "old bytes";
  std::ofstream(fs::path(spare_path(7)).parent_path() / "x") << "not a spare's name";
  std::ofstream(spare_path(11)) << "linked";
  REQUIRE(link(spare_path(11).c_str(), dir.Path("elsewhere").c_str()) == 0);
  // A spare's number in the wrong shard is not one of ours, nor a shard
  // beyond kSpareShards or anything else beside the shards.
  std::ofstream(fs::path(spare_path(7)).parent_path() / "8") << "misplaced";
  const std::string beyond = root + "/.spares/" + std::to_string(SandboxRecycler::kSpareShards);
  fs::create_directories(beyond);
  std::ofstream(beyond + "/" + std::to_string(SandboxRecycler::kSpareShards)) << "old shard";
  std::ofstream(root + "/.spares/07") << "not a shard's name";

  SandboxRecycler recycler(root);
  REQUIRE(recycler.Reopen().ok());
  std::vector<std::string> left;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) left.push_back(entry.path().string());
  }
  CHECK(left == std::vector<std::string>{spare_path(7)});
  std::vector<std::string> top;
  for (const auto& entry : fs::directory_iterator(root)) top.push_back(entry.path().filename());
  CHECK(top == std::vector<std::string>{".spares"});
  CHECK(ReadFile(dir.Path("elsewhere")) == "linked");  // the other name keeps its inode
  std::optional<SandboxRecycler::SpareFile> spare = recycler.TakeSpareFile();
  REQUIRE(spare.has_value());
  CHECK(spare->path == spare_path(7));
  CHECK(spare->size_bytes == std::string("old bytes").size());
  CHECK_FALSE(recycler.TakeSpareFile().has_value());
  CHECK_FALSE(recycler.Take().has_value());

  // New names never reuse a kept one's: a sandbox given back keeps its
  // written file under a number after 7, beside the one just taken.
  auto sandbox = Sandbox::Create(root, "r.4-1", &recycler);
  REQUIRE(sandbox.ok());
  const std::string text = "new input\n";
  REQUIRE(sandbox
              ->PlaceInputs({Input("in.txt", HashBytes(text).ToHex())},
                            RecyclingWorkDir::MustOpenCache(dir.Path("cas")), {},
                            {{HashBytes(text).ToHex(), text}})
              .ok());
  std::ofstream(spare_path(7)) << "still here";
  REQUIRE(recycler.Give(sandbox->path(), sandbox->written_files()));
  CHECK(ReadFile(spare_path(7)) == "still here");
  CHECK(ReadFile(spare_path(8)) == text);  // the next number, in its own shard
}

TEST_CASE("SandboxRecyclerTest.SparesLiveInSmallShardsOutsideTheSandboxesList") {
  TempDir dir;
  const std::string root = dir.Path("sandboxes");
  SandboxRecycler recycler(root);
  REQUIRE(recycler.Reopen().ok());
  const size_t wanted = 3 * SandboxRecycler::kSpareShards;
  recycler.FillSparesInBackground(wanted);
  auto spares_on_disk = [&] {
    std::map<std::string, size_t> per_shard;
    for (const fs::path& spare : SpareFilesOnDisk(root)) ++per_shard[spare.parent_path().string()];
    return per_shard;
  };
  auto total = [](const std::map<std::string, size_t>& per_shard) {
    size_t n = 0;
    for (const auto& [shard, count] : per_shard) n += count;
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (total(spares_on_disk()) < wanted && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::map<std::string, size_t> per_shard = spares_on_disk();
  REQUIRE(total(per_shard) == wanted);
  CHECK(per_shard.size() == SandboxRecycler::kSpareShards);
  for (const auto& [shard, count] : per_shard) {
    CHECK(shard.rfind(root + "/.spares/", 0) == 0);
    CHECK(count == 3);
  }
  // Nothing but the skeletons and running sandboxes beside the pool.
  std::vector<std::string> top;
  for (const auto& entry : fs::directory_iterator(root)) top.push_back(entry.path().filename());
  CHECK(top == std::vector<std::string>{".spares"});
}

TEST_CASE("SandboxRecyclerTest.FillsItsSpareFilesInTheBackground") {
  TempDir dir;
  const std::string root = dir.Path("sandboxes");
  {
    SandboxRecycler recycler(root);
    REQUIRE(recycler.Reopen().ok());
    recycler.FillSparesInBackground(5);
    std::vector<std::string> taken;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (taken.size() < 5 && std::chrono::steady_clock::now() < deadline) {
      if (std::optional<SandboxRecycler::SpareFile> spare = recycler.TakeSpareFile()) {
        CHECK(spare->size_bytes == 0);
        taken.push_back(spare->path);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    REQUIRE(taken.size() == 5);
    for (const std::string& spare : taken) {
      CHECK(fs::is_regular_file(spare));
      CHECK(fs::file_size(spare) == 0);
    }
  }
  // Stopped with its recycler, even with most of the pool still to make.
  SandboxRecycler recycler(root);
  REQUIRE(recycler.Reopen().ok());
  recycler.FillSparesInBackground(SandboxRecycler::kMaxSpareFiles);
}
