// common/fs/direct_appender: big files written past the page cache come out
// byte for byte as appended, exactly as long, whatever the chunk sizes, on
// the temp dir's file system and on tmpfs, direct or not.
#include "common/fs/direct_appender.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/fs/fd_io.h"
#include "tests/unit/test_files.h"

using receta::DirectAppender;
using receta::Status;
using receta::UniqueFd;
using receta::testing::PatternBytes;
using receta::testing::ReadFile;
using receta::testing::TempDir;

namespace {

// Appends `data` to a new file in `dir` in pieces of `piece` bytes and
// returns what the file holds afterwards.
std::string WriteInPieces(const std::string& dir, const std::string& data, size_t piece,
                          bool try_direct, bool* was_direct) {
  std::string path = dir + "/blob";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  REQUIRE(fd.valid());
  {
    DirectAppender appender(fd.get(), path, try_direct);
    *was_direct = appender.direct();
    for (size_t at = 0; at < data.size(); at += piece) {
      Status s = appender.Append(std::string_view(data).substr(at, piece));
      REQUIRE_MESSAGE(s.ok(), s.message());
    }
    Status s = appender.Finish();
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK_FALSE(appender.direct());
  }
  CHECK((::fcntl(fd.get(), F_GETFL) & O_DIRECT) == 0);
  // The fd is still usable for ordinary work (the blob store chmods it).
  CHECK(::fchmod(fd.get(), 0444) == 0);
  REQUIRE(fd.Close(path).ok());
  return ReadFile(path);
}

void CheckSizes(const std::string& dir, bool try_direct) {
  const std::vector<size_t> sizes = {0,
                                     1,
                                     4095,
                                     4096,
                                     4097,
                                     DirectAppender::kBufferBytes,
                                     DirectAppender::kBufferBytes + 3,
                                     9 * (1u << 20) + 123};
  const std::vector<size_t> pieces = {1u << 20, 65536 + 7, 4096};
  for (size_t size : sizes) {
    for (size_t piece : pieces) {
      if (size > 4 * DirectAppender::kBufferBytes && piece < 65536) continue;  // slow, adds nothing
      std::string data = PatternBytes(size, static_cast<uint32_t>(size + piece));
      bool direct = false;
      std::string got = WriteInPieces(dir, data, piece, try_direct, &direct);
      CAPTURE(size);
      CAPTURE(piece);
      CAPTURE(direct);
      CHECK(got.size() == data.size());
      CHECK(got == data);
    }
  }
}

}  // namespace

TEST_CASE("DirectAppenderTest.FileHoldsExactlyWhatWasAppended") {
  TempDir dir;
  CheckSizes(dir.Path(), /*try_direct=*/true);
  bool direct = false;
  WriteInPieces(dir.Path(), "x", 1, true, &direct);
  MESSAGE("O_DIRECT in " << dir.Path() << ": " << (direct ? "used" : "refused by the file system"));
}

TEST_CASE("DirectAppenderTest.OrdinaryWritesWhenDirectIsOffOrOnTmpfs") {
  TempDir dir;
  CheckSizes(dir.Path(), /*try_direct=*/false);
  bool direct = true;
  WriteInPieces(dir.Path(), "x", 1, false, &direct);
  CHECK_FALSE(direct);
  if (!std::filesystem::is_directory("/dev/shm")) return;
  std::string name = "/dev/shm/receta-direct-XXXXXX";
  REQUIRE(mkdtemp(name.data()) != nullptr);
  CheckSizes(name, /*try_direct=*/true);  // direct or refused: the bytes must be right
  std::filesystem::remove_all(name);
}
