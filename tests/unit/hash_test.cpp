#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/hash/background_sha256.h"
#include "common/hash/sha256.h"
#include "tests/unit/test_files.h"

using receta::BackgroundSha256;
using receta::Digest;
using receta::HashBytes;
using receta::HashFile;
using receta::Sha256;
using receta::testing::TempDir;
using receta::testing::WriteFile;

namespace {

std::string Hex(std::string_view bytes) { return HashBytes(bytes).ToHex(); }

}  // namespace

TEST_CASE("Sha256.KnownVectors") {
  // FIPS 180-2 appendix B and the NIST CAVP short messages.
  CHECK(Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(
      Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
          "rlmnopqrsmnopqrstnopqrstu") ==
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(Hex(std::string(1'000'000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("Sha256.StreamingEqualsOneShot") {
  std::string million(1'000'000, 'a');
  Sha256 hasher;
  // Uneven pieces so block boundaries fall inside updates.
  for (size_t offset = 0, piece = 1; offset < million.size();
       offset += piece, piece = piece * 3 + 1) {
    hasher.Update(std::string_view(million).substr(offset, piece));
  }
  CHECK(hasher.Finish() == HashBytes(million));
}

TEST_CASE("Sha256.FinishResetsForReuse") {
  Sha256 hasher;
  hasher.Update("abc");
  CHECK(hasher.Finish() == HashBytes("abc"));
  CHECK(hasher.Finish() == HashBytes(""));
  hasher.Update("ab");
  hasher.Update("c");
  CHECK(hasher.Finish() == HashBytes("abc"));

  Sha256 moved(std::move(hasher));
  moved.Update("abc");
  CHECK(moved.Finish() == HashBytes("abc"));
}

TEST_CASE("Digest.HexRoundTripAndOrder") {
  Digest digest = HashBytes("abc");
  receta::Result<Digest> parsed = Digest::FromHex(digest.ToHex());
  REQUIRE(parsed.ok());
  CHECK(*parsed == digest);

  receta::Result<Digest> upper =
      Digest::FromHex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  REQUIRE(upper.ok());
  CHECK(*upper == digest);

  Digest low;
  Digest high;
  high.bytes[0] = 1;
  CHECK(low < high);
  CHECK(low != high);
}

TEST_CASE("Digest.FromHexRejectsBadInput") {
  CHECK_FALSE(Digest::FromHex("").ok());
  CHECK_FALSE(Digest::FromHex(std::string(63, 'a')).ok());
  CHECK_FALSE(Digest::FromHex(std::string(65, 'a')).ok());
  receta::Result<Digest> bad = Digest::FromHex(std::string(63, 'a') + "g");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("expected 64 hex characters") != std::string::npos);
}

TEST_CASE("HashFile.EqualsHashBytesOfContents") {
  TempDir dir;
  WriteFile(dir.Path("empty"), "");
  WriteFile(dir.Path("abc"), "abc");
  receta::Result<Digest> empty = HashFile(dir.Path("empty"));
  receta::Result<Digest> abc = HashFile(dir.Path("abc"));
  REQUIRE(empty.ok());
  REQUIRE(abc.ok());
  CHECK(*empty == HashBytes(""));
  CHECK(*abc == HashBytes("abc"));
}

TEST_CASE("HashFile.MultiChunkFile") {
  TempDir dir;
  // 3 MiB + 17 bytes: many full reads and a short tail.
  std::string contents((3u << 20) + 17, '\0');
  uint32_t state = 12345;
  for (char& c : contents) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 24);
  }
  WriteFile(dir.Path("big"), contents);
  receta::Result<Digest> digest = HashFile(dir.Path("big"));
  REQUIRE(digest.ok());
  CHECK(*digest == HashBytes(contents));
}

TEST_CASE("HashFile.MissingPathNamesPathAndErrno") {
  TempDir dir;
  receta::Result<Digest> digest = HashFile(dir.Path("absent"));
  REQUIRE_FALSE(digest.ok());
  CHECK(digest.error().find(dir.Path("absent")) != std::string::npos);
  CHECK(digest.error().find("No such file or directory") != std::string::npos);
}

TEST_CASE("HashFile.DirectoryIsAnError") {
  TempDir dir;
  receta::Result<Digest> digest = HashFile(dir.Path() + "/");
  REQUIRE_FALSE(digest.ok());
  CHECK(digest.error().find("Is a directory") != std::string::npos);
}

// The digest of pieces hashed on the thread is that of their bytes in the
// order queued, past the queue's bound (which makes Update wait), and each
// piece's owner is let go once it is hashed.
TEST_CASE("BackgroundSha256.SameDigestAsInOrderAndOwnersReleased") {
  std::string all;
  std::vector<std::weak_ptr<const std::string>> owners;
  BackgroundSha256 background(BackgroundSha256::kWorthAThreadBytes);
  // 40 pieces of 1 MiB + i: well past kMaxQueuedBytes, none alike.
  for (int i = 0; i < 40; ++i) {
    auto piece =
        std::make_shared<const std::string>((1u << 20) + i, static_cast<char>('a' + i % 26));
    all += *piece;
    owners.push_back(piece);
    background.Update(piece, *piece);
  }
  background.Update(nullptr, "");  // nothing to hash: ignored
  CHECK(background.Finish() == HashBytes(all));
  for (const auto& owner : owners) CHECK(owner.expired());
}

TEST_CASE("BackgroundSha256.NothingQueuedIsTheEmptyDigest") {
  BackgroundSha256 background(BackgroundSha256::kWorthAThreadBytes);
  CHECK(background.Finish().ToHex() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// A transfer that fails midway drops its hasher unfinished: that must
// neither hang nor keep the queued pieces.
TEST_CASE("BackgroundSha256.DroppedUnfinishedLetsGoOfItsPieces") {
  std::weak_ptr<const std::string> owner;
  {
    BackgroundSha256 background(BackgroundSha256::kWorthAThreadBytes);
    for (int i = 0; i < 8; ++i) {
      auto piece = std::make_shared<const std::string>(4u << 20, 'x');
      owner = piece;
      background.Update(piece, *piece);
    }
  }
  CHECK(owner.expired());
}
