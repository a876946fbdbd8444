// receta-bench-hash: the measured side of bench/hash/run.sh.
//
//   receta-bench-hash make-file PATH SIZE_BYTES   pseudo-random file
//   receta-bench-hash make-tree DIR FILE_COUNT    small files, 100 per directory
//   receta-bench-hash file PATH                   prints "<sha256>  PATH" (as sha256sum)
//   receta-bench-hash tree DIR CACHE_FILE|-       hashes DIR through the stat cache
//                                                 and prints timings as key=value
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/hash/sha256.h"
#include "common/hash/stat_cache.h"
#include "common/hash/tree_hash.h"

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time of this process (user + system); unlike wall time it does not grow
// when other processes compete for the CPU.
double ProcessCpuMs() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "receta-bench-hash: %s\n", message.c_str());
  return 1;
}

// xorshift64: fast, deterministic filler; SHA-256 speed does not depend on content.
struct Filler {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  void Fill(char* data, size_t size_bytes) {
    for (size_t i = 0; i + 8 <= size_bytes; i += 8) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      std::memcpy(data + i, &state, 8);
    }
  }
};

bool WriteFile(const std::string& path, uint64_t size_bytes, Filler* filler) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  constexpr size_t kChunkBytes = size_t{1} << 20;
  static std::vector<char> chunk(kChunkBytes);
  bool ok = true;
  while (ok && size_bytes > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(size_bytes, kChunkBytes));
    filler->Fill(chunk.data(), n);
    ok = write(fd, chunk.data(), n) == static_cast<ssize_t>(n);
    size_bytes -= n;
  }
  return close(fd) == 0 && ok;
}

int MakeFile(const std::string& path, uint64_t size_bytes) {
  Filler filler;
  return WriteFile(path, size_bytes, &filler) ? 0 : Fail("cannot write " + path);
}

int MakeTree(const std::string& root, int file_count) {
  Filler filler;
  if (mkdir(root.c_str(), 0755) != 0) return Fail("cannot create " + root);
  for (int i = 0; i < file_count; ++i) {
    std::string dir = root + "/d" + std::to_string(i / 100);
    if (i % 100 == 0 && mkdir(dir.c_str(), 0755) != 0) return Fail("cannot create " + dir);
    uint64_t size_bytes = 256 + (filler.state % 4096);
    if (!WriteFile(dir + "/f" + std::to_string(i) + ".dat", size_bytes, &filler)) {
      return Fail("cannot write in " + dir);
    }
  }
  return 0;
}

int HashOneFile(const std::string& path) {
  receta::Result<receta::Digest> digest = receta::HashFile(path);
  if (!digest.ok()) return Fail(digest.error());
  std::printf("%s  %s\n", digest->ToHex().c_str(), path.c_str());
  return 0;
}

int HashTree(const std::string& root, const std::string& cache_path) {
  bool use_cache = cache_path != "-";
  double cpu_start_ms = ProcessCpuMs();
  Clock::time_point start = Clock::now();
  receta::StatCache cache;
  if (use_cache) {
    receta::Result<receta::StatCache> loaded = receta::StatCache::Load(cache_path);
    if (!loaded.ok()) return Fail(loaded.error());
    cache = std::move(*loaded);
  }
  double load_ms = MsSince(start);

  start = Clock::now();
  receta::TreeHashReport report;
  receta::Result<receta::Digest> digest =
      receta::HashPath(root, use_cache ? &cache : nullptr, &report);
  if (!digest.ok()) return Fail(digest.error());
  double hash_ms = MsSince(start);
  double cpu_ms = ProcessCpuMs() - cpu_start_ms;

  start = Clock::now();
  if (use_cache && cache.dirty()) {
    receta::Status saved = cache.Save(cache_path);
    if (!saved.ok()) return Fail(saved.message());
  }
  double save_ms = MsSince(start);

  uint64_t files = report.files_read + report.cache_hits;
  std::printf(
      "load_ms=%.2f hash_ms=%.2f cpu_ms=%.2f save_ms=%.2f files=%llu read=%llu hits=%llu "
      "bytes_read=%llu digest=%s\n",
      load_ms, hash_ms, cpu_ms, save_ms, static_cast<unsigned long long>(files),
      static_cast<unsigned long long>(report.files_read),
      static_cast<unsigned long long>(report.cache_hits),
      static_cast<unsigned long long>(report.bytes_read), digest->ToHex().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "make-file") return MakeFile(args[1], std::stoull(args[2]));
  if (args.size() == 3 && args[0] == "make-tree") return MakeTree(args[1], std::stoi(args[2]));
  if (args.size() == 2 && args[0] == "file") return HashOneFile(args[1]);
  if (args.size() == 3 && args[0] == "tree") return HashTree(args[1], args[2]);
  return Fail(
      "usage: make-file PATH SIZE_BYTES | make-tree DIR FILE_COUNT | file PATH | "
      "tree DIR CACHE_FILE|-");
}
