#pragma once
// Scratch files for unit tests: a private temporary directory that removes
// itself, and whole-file writes and reads. Header-only, for the tests in
// tests/unit; each test binary includes it on its own.

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>

namespace receta::testing {

/// Writes `contents` to `path`, replacing the file; the test fails if it cannot.
inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

/// `size` pseudo-random bytes (a linear congruential sequence from `seed`),
/// the same for the same arguments: test data no chunk boundary lines up with.
inline std::string PatternBytes(size_t size, uint32_t seed = 12345) {
  std::string data(size, '\0');
  for (char& c : data) {
    seed = seed * 1103515245u + 12345u;
    c = static_cast<char>(seed >> 24);
  }
  return data;
}

/// The whole contents of the file at `path`; empty if it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// A fresh directory under the system's temporary directory ($TMPDIR or /tmp),
/// made by mkdtemp so that tests running in parallel never share one, and
/// removed with everything in it when the TempDir goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string name = (std::filesystem::temp_directory_path() / "receta-test-XXXXXX").string();
    REQUIRE_MESSAGE(mkdtemp(name.data()) != nullptr, "mkdtemp failed for " << name);
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The directory itself, or `relative` inside it.
  std::string Path(const std::string& relative = "") const {
    return relative.empty() ? path_ : path_ + "/" + relative;
  }

  /// Writes `contents` to `relative` inside the directory (whose parent
  /// directories must exist) and returns the file's path.
  std::string Write(const std::string& relative, const std::string& contents) const {
    std::string path = Path(relative);
    WriteFile(path, contents);
    return path;
  }

 private:
  std::string path_;
};

}  // namespace receta::testing
