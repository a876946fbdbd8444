#include "common/protocol/record_codec.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/records.h"

using namespace receta::scheduler;
using receta::Result;
using receta::protocol::DecodeRecord;
using receta::protocol::EncodeRecord;

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;
const std::string kDigest(64, 'a');

StepRecord FullStep() {
  StepRecord step;
  step.run_id = "r-7";
  step.index = 3;
  step.name = "train";
  step.state = StepState::kGateFailed;
  step.cache_key = std::string(64, 'c');
  step.cached_from_run = "r-2";
  AttemptRecord attempt;
  attempt.attempt_id = "r-7.3-1";
  attempt.number = 1;
  attempt.worker_id = "w1";
  attempt.worker_name = "gpu-box";
  attempt.dispatched_ms = 1700000000000;
  attempt.started_ms = 1700000000001;
  attempt.finished_ms = 1700000000002;
  attempt.finished = true;
  attempt.exit_code = -1;
  attempt.signal = 9;
  attempt.timed_out = true;
  attempt.cpu_ms = UINT64_MAX;
  attempt.max_rss_bytes = 1u << 30;
  attempt.error = "killed";
  step.attempts = {attempt, attempt};
  step.attempts[1].number = 2;
  step.outputs = {{"model/model.pkl", kDigest, 12, false}, {"bin/run", kDigest, 0, true}};
  step.metrics_json = R"({"acc":0.9})";
  step.error = "gate 'acc > 0.95' failed: acc = 0.9";
  step.ready_ms = 5;
  step.finished_ms = 6;
  return step;
}

RunRecord FullRun() {
  RunRecord run;
  run.run_id = "r-7";
  run.sequence = 7;
  run.dag_name = "ml";
  run.dag_file = "dags/ml.yaml";
  run.dag_yaml = std::string("steps:\n  a: {}\n") + '\0' + "binary ok";
  run.params = {{"lr", "0.1"}, {"", "empty key"}, {"epochs", ""}};
  run.no_cache = true;
  run.workspace = {{"data/x.csv", kDigest, 100, false}};
  run.state = RunState::kCancelled;
  run.submitted_ms = 1;
  run.finished_ms = 2;
  run.step_count = 4;
  run.error = "cancelled by user";
  return run;
}

template <typename T>
T RoundTrip(const T& record) {
  Result<std::string> bytes = EncodeRecord(record);
  REQUIRE(bytes.ok());
  Result<T> back = DecodeRecord<T>(*bytes, "test record");
  REQUIRE_MESSAGE(back.ok(), back.error());
  return *back;
}

template <typename T>
std::string Encoded(const T& record) {
  Result<std::string> bytes = EncodeRecord(record);
  REQUIRE(bytes.ok());
  return *bytes;
}

// [version, body] packed by hand, for records a newer or broken build wrote.
template <typename Body>
std::string Pack(uint64_t version, const Body& body) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(2);
  p.pack(version);
  p.pack(body);
  return std::string(buffer.data(), buffer.size());
}

// `record` (as EncodeRecord wrote it) with field `name`'s value repacked by
// `pack_value`.
std::string WithField(const std::string& record, const std::string& name,
                      const std::function<void(Packer&)>& pack_value) {
  msgpack::object_handle handle = msgpack::unpack(record.data(), record.size());
  const msgpack::object_map& map = handle.get().via.array.ptr[1].via.map;
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(2);
  p.pack(receta::protocol::kRecordFormatVersion);
  p.pack_map(map.size);
  bool found = false;
  for (uint32_t i = 0; i < map.size; ++i) {
    p.pack(map.ptr[i].key);
    if (map.ptr[i].key.as<std::string>() == name) {
      found = true;
      pack_value(p);
    } else {
      p.pack(map.ptr[i].val);
    }
  }
  REQUIRE_MESSAGE(found, "no field " << name);
  return std::string(buffer.data(), buffer.size());
}

}  // namespace

TEST_CASE("RecordCodecTest.RoundTripsEveryRecordType") {
  CHECK(RoundTrip(FullStep()) == FullStep());
  CHECK(RoundTrip(FullRun()) == FullRun());
  CHECK(RoundTrip(StepRecord{}) == StepRecord{});
  CHECK(RoundTrip(RunRecord{}) == RunRecord{});

  WorkerRecord worker{"w1",       "box", "host",  {"gpu", "big"}, 4,  16,
                      1ull << 36, 2,     "linux", "0.1.0",        10, 11};
  CHECK(RoundTrip(worker) == worker);
  CacheEntry entry{std::string(64, 'f'),      "ml", "train", "r-1", "r-1.0-1", 9,
                   {{"m", kDigest, 1, true}}, "{}"};
  CHECK(RoundTrip(entry) == entry);
  BlobRecord blob{kDigest, UINT64_MAX, 3};
  CHECK(RoundTrip(blob) == blob);
  EventRecord event{UINT64_MAX, 1,    "step_failed", "r-1",    "train",
                    "r-1.0-1",  "w1", "failed",      "exit 1", std::nullopt};
  CHECK(RoundTrip(event) == event);
}

TEST_CASE("RecordCodecTest.EveryEnumValueRoundTrips") {
  for (uint8_t v = 0; v <= static_cast<uint8_t>(StepState::kGateFailed); ++v) {
    StepRecord step;
    step.state = static_cast<StepState>(v);
    CHECK(RoundTrip(step).state == step.state);
  }
  for (uint8_t v = 0; v <= static_cast<uint8_t>(RunState::kCancelled); ++v) {
    RunRecord run;
    run.state = static_cast<RunState>(v);
    CHECK(RoundTrip(run).state == run.state);
  }
}

TEST_CASE("RecordCodecTest.StartsWithFormatVersion") {
  std::string bytes = Encoded(BlobRecord{kDigest, 1, 2});
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  REQUIRE(handle.get().type == msgpack::type::ARRAY);
  REQUIRE(handle.get().via.array.size == 2);
  CHECK(handle.get().via.array.ptr[0].as<uint32_t>() == receta::protocol::kRecordFormatVersion);
  CHECK(handle.get().via.array.ptr[1].type == msgpack::type::MAP);
}

TEST_CASE("RecordCodecTest.RefusesNewerFormatVersion") {
  std::map<std::string, std::string> body;
  Result<BlobRecord> r = DecodeRecord<BlobRecord>(Pack(2, body), "blob 'x'");
  REQUIRE(!r.ok());
  CHECK(r.error() ==
        "blob 'x': record format version 2 is not supported (this build reads 1); it was written "
        "by a "
        "newer receta: upgrade this one");
}

TEST_CASE("RecordCodecTest.ErrorsNameRecordAndField") {
  SUBCASE("wrong type deep inside") {
    std::string bytes = WithField(Encoded(FullStep()), "attempts", [](Packer& p) {
      p.pack_array(1);
      p.pack_map(1);
      p.pack(std::string("attempt_id"));
      p.pack(7);
    });
    Result<StepRecord> r = DecodeRecord<StepRecord>(bytes, "step 3 of run 'r-7'");
    REQUIRE(!r.ok());
    CHECK(r.error() ==
          "step 3 of run 'r-7': field 'attempts[0].attempt_id' has the wrong type: expected "
          "string, got integer");
  }
  SUBCASE("missing nested field") {
    std::string bytes = WithField(Encoded(FullStep()), "outputs", [](Packer& p) {
      p.pack_array(1);
      p.pack_map(0);
    });
    Result<StepRecord> r = DecodeRecord<StepRecord>(bytes, "step 3 of run 'r-7'");
    REQUIRE(!r.ok());
    CHECK(r.error() == "step 3 of run 'r-7': missing required field 'outputs[0].path'");
  }
  SUBCASE("enum out of range for uint8_t") {
    std::string bytes = WithField(Encoded(FullRun()), "state", [](Packer& p) { p.pack(300); });
    Result<RunRecord> r = DecodeRecord<RunRecord>(bytes, "run 'r-7'");
    REQUIRE(!r.ok());
    CHECK(r.error() ==
          "run 'r-7': field 'state' is out of range: 300 does not fit in 8-bit unsigned integer");
  }
  SUBCASE("map value not a string") {
    std::string bytes = WithField(Encoded(FullRun()), "params", [](Packer& p) {
      p.pack_map(1);
      p.pack(std::string("lr"));
      p.pack(0.1);
    });
    Result<RunRecord> r = DecodeRecord<RunRecord>(bytes, "run 'r-7'");
    REQUIRE(!r.ok());
    CHECK(r.error() ==
          "run 'r-7': field 'params.lr' has the wrong type: expected string, got float");
  }
  SUBCASE("body not a map") {
    Result<BlobRecord> r = DecodeRecord<BlobRecord>(Pack(1, std::vector<int>{1}), "blob 'x'");
    REQUIRE(!r.ok());
    CHECK(r.error() == "blob 'x': record body must be a map of field names, got array");
  }
  SUBCASE("not an array") {
    Result<BlobRecord> r = DecodeRecord<BlobRecord>(std::string("\xa3"
                                                                "abc",
                                                                4),
                                                    "blob 'x'");
    REQUIRE(!r.ok());
    CHECK(r.error() ==
          "blob 'x': not a receta record: expected an array [format_version, body], got string");
  }
  SUBCASE("empty bytes") {
    Result<BlobRecord> r = DecodeRecord<BlobRecord>("", "blob 'x'");
    REQUIRE(!r.ok());
    CHECK(r.error().rfind("blob 'x': ", 0) == 0);
  }
  SUBCASE("version not an integer") {
    msgpack::sbuffer buffer;
    Packer p(buffer);
    p.pack_array(2);
    p.pack(std::string("1"));
    p.pack_map(0);
    Result<BlobRecord> r = DecodeRecord<BlobRecord>({buffer.data(), buffer.size()}, "blob 'x'");
    REQUIRE(!r.ok());
    CHECK(r.error() ==
          "blob 'x': field 'format_version' has the wrong type: expected integer, got string");
  }
}

TEST_CASE("RecordCodecTest.SurvivesEveryTruncationAndByteFlip") {
  std::string bytes = Encoded(FullRun());
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<RunRecord> r = DecodeRecord<RunRecord>(std::string_view(bytes).substr(0, n), "run");
    CHECK(!r.ok());
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string mutated = bytes;
    mutated[i] = static_cast<char>(mutated[i] ^ 0xff);
    (void)DecodeRecord<RunRecord>(mutated, "run");  // must not crash; may decode
  }
}

TEST_CASE("RecordCodecTest.IgnoresUnknownFieldsAndExtraElements") {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(3);
  p.pack(1);
  p.pack_map(4);
  p.pack(std::string("digest"));
  p.pack(kDigest);
  p.pack(std::string("size_bytes"));
  p.pack(5);
  p.pack(std::string("stored_ms"));
  p.pack(6);
  p.pack(std::string("added_later"));
  p.pack(true);
  p.pack(std::string("extra element"));
  Result<BlobRecord> r = DecodeRecord<BlobRecord>({buffer.data(), buffer.size()}, "blob");
  REQUIRE_MESSAGE(r.ok(), r.error());
  CHECK(*r == BlobRecord{kDigest, 5, 6});
}

TEST_CASE("RecordCodecTest.StateNames") {
  CHECK(std::string(StepStateName(StepState::kGateFailed)) == "gate_failed");
  CHECK(std::string(StepStateName(StepState::kPending)) == "pending");
  CHECK(std::string(StepStateName(static_cast<StepState>(200))) == "unknown");
  CHECK(std::string(RunStateName(RunState::kCancelled)) == "cancelled");
  CHECK(IsTerminal(StepState::kCached));
  CHECK(IsTerminal(StepState::kSkipped));
  CHECK_FALSE(IsTerminal(StepState::kRetrying));
  CHECK_FALSE(IsTerminal(StepState::kRunning));
  CHECK(IsTerminal(RunState::kFailed));
  CHECK_FALSE(IsTerminal(RunState::kRunning));
  CHECK(IsDone(StepState::kCached));
  CHECK(IsDone(StepState::kSucceeded));
  CHECK_FALSE(IsDone(StepState::kGateFailed));
}
