#include "common/hash/stat_cache.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/hash/sha256.h"
#include "common/hash/tree_hash.h"
#include "tests/unit/test_files.h"

using receta::Digest;
using receta::FileStat;
using receta::HashBytes;
using receta::HashPath;
using receta::StatCache;
using receta::TreeHashReport;
using receta::testing::ReadFile;
using receta::testing::TempDir;
using receta::testing::WriteFile;

namespace {

constexpr int64_t kSecondNs = 1'000'000'000;

FileStat LstatOf(const std::string& path) {
  struct stat st;
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return receta::FileStatFromStat(st);
}

FileStat SampleStat() {
  FileStat stat;
  stat.size_bytes = 1234;
  stat.mtime_ns = 1'700'000'000 * kSecondNs + 5;
  stat.ctime_ns = 1'700'000'000 * kSecondNs + 7;
  stat.inode = 42;
  return stat;
}

// Far enough after SampleStat() for the entry to be trusted.
constexpr int64_t kSafeRecordedAtNs = 1'700'000'100 * kSecondNs;

// Three entries with varied paths and values, as a saved file would hold.
StatCache SampleCache() {
  StatCache cache;
  FileStat stat = SampleStat();
  cache.Record("/data/train.csv", stat, HashBytes("train"), kSafeRecordedAtNs);
  stat.mtime_ns = -5 * kSecondNs;  // before 1970: still round-trips
  stat.inode = ~uint64_t{0};
  cache.Record("/data/" + std::string(300, 'p'), stat, HashBytes("long"), kSafeRecordedAtNs);
  stat.size_bytes = 0;
  cache.Record("rel/path with spaces", stat, HashBytes(""), kSafeRecordedAtNs);
  return cache;
}

bool SameEntries(const StatCache& a, const StatCache& b) {
  if (a.size() != b.size()) return false;
  for (const char* path : {"/data/train.csv", "rel/path with spaces"}) {
    if (a.Find(path) == nullptr || b.Find(path) == nullptr) return false;
    if (!(*a.Find(path) == *b.Find(path))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("StatCache.LookupRequiresEveryStatFieldToMatch") {
  StatCache cache;
  FileStat stat = SampleStat();
  cache.Record("f", stat, HashBytes("f"), kSafeRecordedAtNs);
  REQUIRE(cache.Lookup("f", stat).has_value());
  CHECK(*cache.Lookup("f", stat) == HashBytes("f"));
  CHECK_FALSE(cache.Lookup("g", stat).has_value());

  FileStat changed = stat;
  changed.size_bytes += 1;
  CHECK_FALSE(cache.Lookup("f", changed).has_value());
  changed = stat;
  changed.mtime_ns += 1;
  CHECK_FALSE(cache.Lookup("f", changed).has_value());
  changed = stat;
  changed.ctime_ns += 1;
  CHECK_FALSE(cache.Lookup("f", changed).has_value());
  changed = stat;
  changed.inode += 1;
  CHECK_FALSE(cache.Lookup("f", changed).has_value());
}

TEST_CASE("StatCache.RacyEntryIsNotTrusted") {
  StatCache cache;
  FileStat stat = SampleStat();
  int64_t last_change_ns = stat.ctime_ns;

  // Recorded in the same tick as the last change: a same-size rewrite in that
  // tick would leave an identical stat, so the entry must not be trusted.
  cache.Record("f", stat, HashBytes("f"), last_change_ns);
  CHECK_FALSE(cache.Lookup("f", stat).has_value());
  cache.Record("f", stat, HashBytes("f"), last_change_ns + StatCache::kRacyMarginNs);
  CHECK_FALSE(cache.Lookup("f", stat).has_value());
  cache.Record("f", stat, HashBytes("f"), last_change_ns + StatCache::kRacyMarginNs + 1);
  CHECK(cache.Lookup("f", stat).has_value());

  // An old mtime (put back by `cp -p` or `touch`) does not help: ctime counts.
  stat.mtime_ns = 1;
  cache.Record("f", stat, HashBytes("f"), last_change_ns);
  CHECK_FALSE(cache.Lookup("f", stat).has_value());
  CHECK(StatCache::IsRacy(stat, last_change_ns + 1));
  CHECK_FALSE(StatCache::IsRacy(stat, last_change_ns + 3 * kSecondNs));
}

TEST_CASE("StatCache.RecordMarksDirtyOnlyOnChange") {
  StatCache cache;
  CHECK_FALSE(cache.dirty());
  cache.Record("f", SampleStat(), HashBytes("f"), kSafeRecordedAtNs);
  CHECK(cache.dirty());
  TempDir dir;
  REQUIRE(cache.Save(dir.Path("cache")).ok());
  CHECK_FALSE(cache.dirty());
  cache.Record("f", SampleStat(), HashBytes("f"), kSafeRecordedAtNs);
  CHECK_FALSE(cache.dirty());
  cache.Erase("absent");
  CHECK_FALSE(cache.dirty());
  cache.Erase("f");
  CHECK(cache.dirty());
  CHECK(cache.size() == 0);
}

TEST_CASE("StatCache.SameSizeRewriteInSameSecondIsRehashed") {
  TempDir dir;
  std::string path = dir.Path("data.bin");
  WriteFile(path, "version one");
  StatCache cache;
  receta::Result<Digest> first = HashPath(path, &cache);
  REQUIRE(first.ok());
  CHECK(*first == HashBytes("version one"));
  FileStat before = LstatOf(path);
  REQUIRE(cache.Find(path) != nullptr);
  CHECK(cache.Find(path)->stat == before);

  // Same size, same inode, and the old mtime put back: only ctime can tell,
  // and if ctime landed in the same tick, the racy rule must.
  WriteFile(path, "version two");
  struct timespec times[2];
  times[0].tv_sec = before.mtime_ns / kSecondNs;
  times[0].tv_nsec = before.mtime_ns % kSecondNs;
  times[1] = times[0];
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
  FileStat after = LstatOf(path);
  CHECK(after.size_bytes == before.size_bytes);
  CHECK(after.inode == before.inode);
  CHECK(after.mtime_ns == before.mtime_ns);

  TreeHashReport report;
  receta::Result<Digest> second = HashPath(path, &cache, &report);
  REQUIRE(second.ok());
  CHECK(*second == HashBytes("version two"));
  CHECK(report.files_read == 1);
  CHECK(report.cache_hits == 0);
}

TEST_CASE("StatCache.HashPathUsesTrustedEntries") {
  TempDir dir;
  std::filesystem::create_directory(dir.Path("t"));
  WriteFile(dir.Path("t/a"), "alpha");
  WriteFile(dir.Path("t/b"), "beta");
  receta::Result<Digest> uncached = HashPath(dir.Path("t"), nullptr);
  REQUIRE(uncached.ok());

  // Entries recorded long after the files last changed are trusted, so the
  // files are not read; a wrong digest in the cache shows that it was used.
  StatCache cache;
  int64_t later_ns = LstatOf(dir.Path("t/b")).ctime_ns + 10 * kSecondNs;
  cache.Record(dir.Path("t/a"), LstatOf(dir.Path("t/a")), HashBytes("alpha"), later_ns);
  cache.Record(dir.Path("t/b"), LstatOf(dir.Path("t/b")), HashBytes("beta"), later_ns);
  TreeHashReport report;
  receta::Result<Digest> cached = HashPath(dir.Path("t"), &cache, &report);
  REQUIRE(cached.ok());
  CHECK(*cached == *uncached);
  CHECK(report.cache_hits == 2);
  CHECK(report.files_read == 0);

  cache.Record(dir.Path("t/a"), LstatOf(dir.Path("t/a")), HashBytes("stale"), later_ns);
  receta::Result<Digest> from_cache = HashPath(dir.Path("t/a"), &cache);
  REQUIRE(from_cache.ok());
  CHECK(*from_cache == HashBytes("stale"));
}

TEST_CASE("StatCache.PersistenceRoundTrip") {
  TempDir dir;
  std::string path = dir.Path("stat_cache");
  StatCache original = SampleCache();
  REQUIRE(original.Save(path).ok());
  CHECK(ReadFile(path).rfind("# receta stat cache\n", 0) == 0);

  size_t discarded_bytes = 99;
  receta::Result<StatCache> loaded = StatCache::Load(path, &discarded_bytes);
  REQUIRE(loaded.ok());
  CHECK(discarded_bytes == 0);
  CHECK(SameEntries(original, *loaded));
  CHECK_FALSE(loaded->dirty());

  // Saving again replaces the file and leaves no temp files behind.
  loaded->Erase("/data/train.csv");
  REQUIRE(loaded->Save(path).ok());
  receta::Result<StatCache> reloaded = StatCache::Load(path);
  REQUIRE(reloaded.ok());
  CHECK(reloaded->size() == 2);
  size_t files_in_dir = 0;
  for (const auto& ignored : std::filesystem::directory_iterator(dir.Path())) {
    (void)ignored;
    ++files_in_dir;
  }
  CHECK(files_in_dir == 1);
}

TEST_CASE("StatCache.TruncatedFileLoadsAtEveryLength") {
  TempDir dir;
  std::string path = dir.Path("stat_cache");
  StatCache original = SampleCache();
  std::string bytes = original.Encode();
  size_t previous_size = 0;
  for (size_t length = 0; length <= bytes.size(); ++length) {
    // Why unlink: ext4 flushes a truncated-and-rewritten file on close, which
    // would make this loop take seconds.
    unlink(path.c_str());
    WriteFile(path, bytes.substr(0, length));
    size_t discarded_bytes = 0;
    receta::Result<StatCache> loaded = StatCache::Load(path, &discarded_bytes);
    REQUIRE(loaded.ok());
    // Whatever survives is a prefix of the records, each intact.
    CHECK(loaded->size() >= previous_size);
    CHECK(discarded_bytes <= length);
    previous_size = loaded->size();
    for (const char* key : {"/data/train.csv", "rel/path with spaces"}) {
      if (const StatCache::Entry* entry = loaded->Find(key)) CHECK(*entry == *original.Find(key));
    }
  }
  CHECK(previous_size == 3);
}

TEST_CASE("StatCache.GarbageFileLoadsAsEmpty") {
  TempDir dir;
  std::string path = dir.Path("stat_cache");
  std::string garbage(10'000, '\0');
  uint32_t state = 7;
  for (char& c : garbage) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 24);
  }
  WriteFile(path, garbage);
  size_t discarded_bytes = 0;
  receta::Result<StatCache> loaded = StatCache::Load(path, &discarded_bytes);
  REQUIRE(loaded.ok());
  CHECK(loaded->size() == 0);
  CHECK(discarded_bytes == garbage.size());

  // The right signature with an unknown version is discarded whole.
  std::string future = SampleCache().Encode();
  future[StatCache::kSignature.size()] = 2;
  CHECK(StatCache::Decode(future).size() == 0);
  // The right header followed by garbage keeps nothing.
  std::string header = future.substr(0, StatCache::kSignature.size() + 4);
  header[StatCache::kSignature.size()] = 1;
  CHECK(StatCache::Decode(header + garbage).size() == 0);
}

TEST_CASE("StatCache.CorruptRecordDropsItAndTheRest") {
  std::string bytes = SampleCache().Encode();
  StatCache intact = StatCache::Decode(bytes);
  REQUIRE(intact.size() == 3);
  // Flip one bit in the last byte of the file (the last record's checksum),
  // then one in the middle of the first record.
  std::string bad_tail = bytes;
  bad_tail.back() ^= 0x01;
  size_t discarded_bytes = 0;
  CHECK(StatCache::Decode(bad_tail, &discarded_bytes).size() == 2);
  CHECK(discarded_bytes > 0);
  std::string bad_first = bytes;
  bad_first[StatCache::kSignature.size() + 4 + 10] ^= 0x40;
  CHECK(StatCache::Decode(bad_first).size() == 0);
}

TEST_CASE("StatCache.MissingFileLoadsAsEmptyAndUnreadableIsAnError") {
  TempDir dir;
  receta::Result<StatCache> missing = StatCache::Load(dir.Path("absent"));
  REQUIRE(missing.ok());
  CHECK(missing->size() == 0);

  std::filesystem::create_directory(dir.Path("a_directory"));
  receta::Result<StatCache> unreadable = StatCache::Load(dir.Path("a_directory"));
  REQUIRE_FALSE(unreadable.ok());
  CHECK(unreadable.error().find(dir.Path("a_directory")) != std::string::npos);

  StatCache cache = SampleCache();
  receta::Status saved = cache.Save(dir.Path("no/such/dir/cache"));
  REQUIRE_FALSE(saved.ok());
  CHECK(saved.message().find(dir.Path("no/such/dir/cache")) != std::string::npos);
  CHECK(cache.dirty());
}
