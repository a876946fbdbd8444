#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "common/protocol/codec.h"
#include "common/protocol/messages.h"
#include "common/protocol/validate.h"

using namespace receta::protocol;
using receta::Result;
using receta::Status;

namespace {

const std::string kDigestA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const std::string kDigestB(64, 'e');

// One message of every type, every field set to something non-default.
std::vector<Message> Samples() {
  return {
      Error{.code = ErrorCode::kNotFound, .message = "run r-42 not found; see `receta runs`"},
      Register{.worker_id = "w-7f3a",
               .name = "gpu-box",
               .hostname = "gpu-box.lab",
               .labels = {"trainer", "gpu"},
               .slots = 4,
               .cpus = 32,
               .memory_bytes = 128ull << 30,
               .gpus = 2,
               .os = "linux-x86_64",
               .receta_version = "0.1.0",
               .running_attempt_ids = {"a-1", "a-2"}},
      RegisterAck{.worker_id = "w-7f3a",
                  .heartbeat_interval_ms = 1000,
                  .heartbeat_liveness = 3,
                  .stale_attempt_ids = {"a-1"},
                  .scheduler_version = "0.1.0"},
      Heartbeat{.free_slots = 3, .running_attempt_ids = {"a-2"}},
      Dispatch{.run_id = "r-42",
               .step = "train",
               .attempt_id = "a-3",
               .command = "python3 src/train.py --n-estimators 100",
               .env = {{"PYTHONHASHSEED", "0"}, {"OMP_NUM_THREADS", "4"}},
               .inputs = {{"src/train.py", kDigestA, "file", 1234, std::nullopt},
                          {"data/train.csv", kDigestB, "file", 9'876'543'210, std::nullopt}},
               .outputs = {"model/model.pkl"},
               .timeout_ms = 30 * 60 * 1000,
               .resources = {.cpus = 0.5, .memory_bytes = 1ull << 30, .gpus = 1},
               .inline_blobs = std::vector<InlineBlob>{{kDigestA, std::string(1234, 'p')}}},
      AttemptStarted{.attempt_id = "a-3", .pid = 31337},
      LogChunk{.attempt_id = "a-3",
               .stream = "stderr",
               .seq = 17,
               .data = std::string("epoch 1\0\xff\x80\n", 11),
               .offset = 5'000'000'000},
      AttemptFinished{.attempt_id = "a-3",
                      .exit_code = -1,
                      .signal = 9,
                      .timed_out = true,
                      .outputs = {{"model/model.pkl", kDigestA, 4096, false},
                                  {"bin/serve", kDigestB, 77, true}},
                      .duration_ms = 61'000,
                      .cpu_ms = 59'000,
                      .max_rss_bytes = 1ull << 40,
                      .error = "killed after 30m timeout",
                      .system_failure = false,
                      .inline_blobs = std::vector<InlineBlob>{{kDigestB, std::string(77, '\xff')}},
                      .log_bytes = 5'000'000'011},
      AttemptFinishedAck{.attempt_id = "a-3"},
      KillAttempt{.attempt_id = "a-3", .reason = "run cancelled", .grace_ms = 5000},
      BlobQuery{.digests = {kDigestA, kDigestB}},
      BlobMissing{.digests = {kDigestB}},
      BlobPutBegin{.digest = kDigestB, .size_bytes = 9'876'543'210, .attempt_id = "r-7.3-2"},
      BlobPutCredit{.digest = kDigestB, .offset = 1 << 20, .credit_bytes = 8 << 20},
      BlobPutChunk{.digest = kDigestB, .offset = 1 << 20, .length = 1 << 20},
      BlobPutEnd{.digest = kDigestB, .size_bytes = 9'876'543'210},
      BlobPutDone{.digest = kDigestB, .size_bytes = 9'876'543'210},
      BlobGet{.digest = kDigestA, .offset = 2 << 20, .length = 1 << 20},
      BlobGetChunk{
          .digest = kDigestA, .offset = 2 << 20, .length = 1 << 20, .total_size_bytes = 5 << 20},
      SubmitRun{.dag_yaml = "name: iris\nsteps: {}\n",
                .dag_file = "dags/iris.yaml",
                .params = {{"seed", "7"}, {"test_size", "0.3"}},
                .no_cache = true,
                .workspace = {{"src/prepare.py", kDigestA, 812, false},
                              {"deploy_model.sh", kDigestB, 90, true}}},
      SubmitReply{.run_id = "r-42"},
      ListRuns{.limit = 20, .dag_name = "iris"},
      ListRunsReply{.runs_json = R"([{"run_id":"r-42","state":"running"}])"},
      RunStatus{.run_id = "r-42", .brief = true},
      RunStatusReply{.run_json = R"({"run_id":"r-42","steps":{"train":"running"}})"},
      Events{.run_id = "r-42", .after_seq = 1'000'000'000'000ull, .limit = 100, .wait_ms = 30'000},
      EventsReply{.events_json = R"([{"seq":5,"kind":"step_started"}])", .last_seq = 5},
      Logs{.run_id = "r-42", .step = "train", .attempt_id = "a-3", .offset = 4096, .wait_ms = 1000},
      LogsReply{.attempt_id = "a-3",
                .data = std::string("\x1b[1mok\0", 7),
                .next_offset = 4103,
                .finished = true},
      Cancel{.run_id = "r-42", .reason = "wrong params"},
      CancelReply{.run_id = "r-42", .cancelled_steps = 3},
      ListWorkers{.include_lost = false},
      ListWorkersReply{.workers_json = R"([{"id":"w-1","slots":2}])"},
      ListArtifacts{.run_id = "r-42", .step = "train"},
      ListArtifactsReply{.artifacts_json = R"([{"step":"train","path":"model/model.pkl"}])"},
      CacheList{.dag_name = "iris", .step = std::nullopt},
      CacheListReply{.entries_json = "[]"},
      CacheRemove{.key = std::nullopt, .dag_name = "iris", .step = "train"},
      CacheRemoveReply{.removed = 2},
      CacheGc{.keep_runs = 10},
      CacheGcReply{.blobs_removed = 3, .bytes_freed = 1 << 20, .blobs_kept = 9},
      RetryRun{.run_id = "r-42", .step = "train"},
      RetryRunReply{.run_id = "r-42", .steps_reset = 4},
      BlobDamaged{.digest = kDigestA, .actual_digest = kDigestB},
      BlobDamagedReply{.digest = kDigestA, .dropped = true},
  };
}

std::string MustEncode(const Message& message, uint64_t request_id = 0) {
  Result<std::string> bytes = Encode(message, request_id);
  REQUIRE_MESSAGE(bytes.ok(), bytes.error());
  return *bytes;
}

// Re-encodes `message` after `edit` changed its body map in place.
std::string EditBody(const Message& message,
                     const std::function<void(msgpack::object_map&, msgpack::zone&)>& edit) {
  std::string bytes = MustEncode(message);
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  msgpack::object root = handle.get();
  edit(root.via.array.ptr[3].via.map, *handle.zone());
  msgpack::sbuffer out;
  msgpack::pack(out, root);
  return std::string(out.data(), out.size());
}

msgpack::object* Field(msgpack::object_map& map, std::string_view name) {
  for (uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.as<std::string>() == name) return &map.ptr[i].val;
  }
  FAIL("no field " << name);
  return nullptr;
}

void RemoveField(msgpack::object_map& map, std::string_view name) {
  for (uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.as<std::string>() == name) {
      map.ptr[i] = map.ptr[map.size - 1];
      --map.size;
      return;
    }
  }
  FAIL("no field " << name);
}

void AddField(msgpack::object_map& map, msgpack::zone& zone, const std::string& name, msgpack::object value) {
  auto* grown = static_cast<msgpack::object_kv*>(zone.allocate_align(sizeof(msgpack::object_kv) * (map.size + 1)));
  std::copy(map.ptr, map.ptr + map.size, grown);
  grown[map.size].key = msgpack::object(name, zone);
  grown[map.size].val = value;
  map.ptr = grown;
  ++map.size;
}

// A frame built by hand: [version, type, request_id, {}].
std::string RawEnvelope(uint64_t version, uint64_t type, uint64_t request_id) {
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> p(out);
  p.pack_array(4).pack(version).pack(type).pack(request_id).pack_map(0);
  return std::string(out.data(), out.size());
}

std::string ErrorOf(std::string_view bytes) {
  Result<Envelope> decoded = Decode(bytes);
  REQUIRE_FALSE(decoded.ok());
  return decoded.error();
}

bool Contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("CodecTest.RoundTripsEveryMessageType") {
  std::set<std::size_t> covered;
  uint64_t request_id = 0xfedcba9876543210ull;
  for (const Message& message : Samples()) {
    CAPTURE(NameOf(message));
    covered.insert(message.index());
    std::string bytes = MustEncode(message, request_id);
    Result<Envelope> decoded = Decode(bytes);
    REQUIRE_MESSAGE(decoded.ok(), decoded.error());
    CHECK(decoded->request_id == request_id);
    CHECK(decoded->message == message);
    Result<Header> header = DecodeHeader(bytes);
    REQUIRE(header.ok());
    CHECK(header->version == kProtocolVersion);
    CHECK(header->type == static_cast<uint16_t>(TypeOf(message)));
    CHECK(MessageTypeName(header->type) == NameOf(message));
    --request_id;
  }
  CHECK(covered.size() == std::variant_size_v<Message>);
}

TEST_CASE("CodecTest.RoundTripsAbsentOptionalsAndUnknownErrorCodes") {
  Message list = ListRuns{.limit = 0, .dag_name = std::nullopt};
  Message events = Events{.run_id = std::nullopt, .after_seq = 0, .limit = 0, .wait_ms = 0};
  Message error = Error{.code = static_cast<ErrorCode>(999), .message = "from a newer scheduler"};
  for (const Message& message : {list, events, error}) {
    Result<Envelope> decoded = Decode(MustEncode(message));
    REQUIRE_MESSAGE(decoded.ok(), decoded.error());
    CHECK(decoded->message == message);
  }
}

TEST_CASE("CodecTest.RejectsEveryTruncation") {
  for (const Message& message : Samples()) {
    CAPTURE(NameOf(message));
    std::string bytes = MustEncode(message, 99);
    for (std::size_t length = 0; length < bytes.size(); ++length) {
      CAPTURE(length);
      std::string error = ErrorOf(std::string_view(bytes).substr(0, length));
      CHECK((Contains(error, "truncated message") || Contains(error, "empty message")));
      CHECK_FALSE(DecodeHeader(std::string_view(bytes).substr(0, length)).ok());
    }
  }
}

TEST_CASE("CodecTest.SurvivesRandomAndMutatedBytes") {
  std::mt19937_64 rng(20240607);
  std::vector<std::string> encodings;
  for (const Message& message : Samples()) encodings.push_back(MustEncode(message, 5));
  int decoded_ok = 0;
  auto exercise = [&](const std::string& bytes) {
    Result<Envelope> decoded = Decode(bytes);
    DecodeHeader(bytes);
    if (!decoded.ok()) return;
    ++decoded_ok;
    if (!ValidateMessage(decoded->message).ok()) return;
    Result<Envelope> again = Decode(MustEncode(decoded->message, decoded->request_id));
    REQUIRE(again.ok());
    CHECK(*again == *decoded);
  };
  for (int i = 0; i < 50'000; ++i) {
    std::string bytes(rng() % 300, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    exercise(bytes);
  }
  for (int i = 0; i < 100'000; ++i) {
    std::string bytes = encodings[rng() % encodings.size()];
    for (int flips = 1 + rng() % 4; flips > 0; --flips) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    exercise(bytes);
  }
  MESSAGE("mutated frames that still decoded: " << decoded_ok);
}

TEST_CASE("CodecTest.RejectsOversizedCountsWithoutAllocating") {
  auto started = std::chrono::steady_clock::now();
  const std::string array32("\xdd\xff\xff\xff\xff", 5);
  const std::string map32("\xdf\xff\xff\xff\xff", 5);
  CHECK(Contains(ErrorOf(array32), "array header claims 4294967295 elements, over the limit of 1048576"));
  CHECK(Contains(ErrorOf(map32), "map header claims 4294967295 entries, over the limit of 1048576"));
  // Inside a valid-looking envelope, as the body.
  const std::string envelope_prefix("\x94\x01\x05\x00", 4);
  CHECK(Contains(ErrorOf(envelope_prefix + map32), "over the limit"));
  // A string, binary or ext claim is never allocated before its bytes exist.
  for (std::string claim : {std::string("\xdb\xff\xff\xff\xff", 5), std::string("\xc6\xff\xff\xff\xff", 5),
                            std::string("\xc9\xff\xff\xff\xff\x01", 6)}) {
    CHECK(Contains(ErrorOf(envelope_prefix + claim), "truncated message"));
  }
  // Claims within the per-container limit, nested: msgpack::unpack would
  // allocate 24 MiB per level; the structural pass rejects them first.
  const std::string million("\xdd\x00\x10\x00\x00", 5);
  std::string nested;
  for (int i = 0; i < 20; ++i) nested += million;
  CHECK(Contains(ErrorOf(nested), "truncated message"));
  for (int i = 0; i < 20; ++i) nested += million;
  CHECK(Contains(ErrorOf(nested), "nest deeper than 32 levels"));
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(elapsed < std::chrono::milliseconds(500));
}

TEST_CASE("CodecTest.StopsAtFirstBadElementOfLargeArray") {
  std::string bytes = EditBody(Samples()[4], [](auto& body, auto& zone) {
    msgpack::object* inputs = Field(body, "inputs");
    inputs->via.array.size = 1u << 20;
    inputs->via.array.ptr = static_cast<msgpack::object*>(
        zone.allocate_align(sizeof(msgpack::object) * inputs->via.array.size));
    std::fill_n(inputs->via.array.ptr, inputs->via.array.size, msgpack::object());
  });
  auto started = std::chrono::steady_clock::now();
  CHECK(ErrorOf(bytes) == "Dispatch: field 'inputs[0]' has the wrong type: expected map, got nil");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(500));
}

TEST_CASE("CodecTest.RejectsTooManyObjectsAndTooLargeFrames") {
  std::string many("\x95", 1);
  for (int i = 0; i < 5; ++i) many += std::string("\xdd\x00\x10\x00\x00", 5) + std::string(1 << 20, '\xc0');
  CHECK(Contains(ErrorOf(many), "more than 4194304 msgpack values"));

  std::string huge(kMaxMessageBytes + 1, '\xc0');
  CHECK(Contains(ErrorOf(huge), "over the limit of 67108864 (kMaxMessageBytes)"));

  LogChunk chunk{.attempt_id = "a-1", .stream = "stdout", .seq = 0, .data = std::string(kMaxMessageBytes, 'x'), .offset = std::nullopt};
  Result<std::string> encoded = Encode(chunk);
  REQUIRE_FALSE(encoded.ok());
  CHECK(Contains(encoded.error(), "LogChunk encodes to"));
}

TEST_CASE("CodecTest.RejectsUnsupportedVersionWithUpgradeHint") {
  std::string bytes = RawEnvelope(9, 4, 77);
  CHECK(ErrorOf(bytes) ==
        "protocol version 9 is not supported (this build speaks 1); upgrade receta on this side to match "
        "the sender");
  CHECK(Contains(ErrorOf(RawEnvelope(0, 4, 0)), "upgrade receta on the sending side"));
  Result<Header> header = DecodeHeader(bytes);
  REQUIRE(header.ok());
  CHECK(header->version == 9);
  CHECK(header->request_id == 77);
}

TEST_CASE("CodecTest.RejectsUnknownMessageType") {
  CHECK(Contains(ErrorOf(RawEnvelope(1, 77, 0)),
                 "message type 77 is unknown (protocol v1 knows 1..45)"));
  CHECK(Contains(ErrorOf(RawEnvelope(1, 0, 0)), "message type 0 is unknown"));
  CHECK(Contains(ErrorOf(RawEnvelope(1, 70000, 0)), "envelope: field 'type' is out of range"));
  CHECK(MessageTypeName(77).empty());
  CHECK(MessageTypeName(5) == "Dispatch");
}

TEST_CASE("CodecTest.NamesFieldWithWrongType") {
  const Message dispatch = Samples()[4];
  REQUIRE(std::holds_alternative<Dispatch>(dispatch));
  CHECK(ErrorOf(EditBody(dispatch, [](auto& body, auto&) { *Field(body, "attempt_id") = msgpack::object(5); })) ==
        "Dispatch: field 'attempt_id' has the wrong type: expected string, got integer");
  CHECK(ErrorOf(EditBody(dispatch, [](auto& body, auto& zone) {
          msgpack::object_map& input = Field(body, "inputs")->via.array.ptr[1].via.map;
          *Field(input, "size_bytes") = msgpack::object("big", zone);
        })) == "Dispatch: field 'inputs[1].size_bytes' has the wrong type: expected integer, got string");
  CHECK(ErrorOf(EditBody(dispatch, [](auto& body, auto&) {
          *Field(Field(body, "env")->via.map, "OMP_NUM_THREADS") = msgpack::object(4);
        })) == "Dispatch: field 'env.OMP_NUM_THREADS' has the wrong type: expected string, got integer");
  CHECK(ErrorOf(EditBody(Samples()[1], [](auto& body, auto&) { *Field(body, "slots") = msgpack::object(1ull << 40); })) ==
        "Register: field 'slots' is out of range: 1099511627776 does not fit in 32-bit unsigned integer");
  CHECK(ErrorOf(EditBody(Samples()[1], [](auto& body, auto&) { *Field(body, "gpus") = msgpack::object(-1); })) ==
        "Register: field 'gpus' is out of range: -1 does not fit in 32-bit unsigned integer");
}

TEST_CASE("CodecTest.NamesMissingRequiredField") {
  const Message finished = Samples()[7];
  CHECK(ErrorOf(EditBody(finished, [](auto& body, auto&) { RemoveField(body, "exit_code"); })) ==
        "AttemptFinished: missing required field 'exit_code'");
  CHECK(ErrorOf(EditBody(finished, [](auto& body, auto&) {
          RemoveField(Field(body, "outputs")->via.array.ptr[0].via.map, "digest");
        })) == "AttemptFinished: missing required field 'outputs[0].digest'");
}

TEST_CASE("CodecTest.IgnoresUnknownFieldsButNotDuplicates") {
  const Message chunk = Samples()[6];
  Result<Envelope> decoded = Decode(EditBody(chunk, [](auto& body, auto& zone) {
    AddField(body, zone, "compression", msgpack::object("zstd", zone));
    AddField(body, zone, "future_flags", msgpack::object(3));
  }));
  REQUIRE_MESSAGE(decoded.ok(), decoded.error());
  CHECK(decoded->message == chunk);
  CHECK(ErrorOf(EditBody(chunk, [](auto& body, auto& zone) {
          AddField(body, zone, "seq", msgpack::object(18));
        })) == "LogChunk: field 'seq' appears twice");
}

TEST_CASE("CodecTest.RejectsFramesThatAreNotEnvelopes") {
  std::string valid = MustEncode(Samples()[3]);
  CHECK(Contains(ErrorOf(valid + "x"), "trailing bytes: the msgpack value ends at byte"));
  CHECK(ErrorOf(std::string("\x80", 1)) ==
        "not a receta message: expected an array [version, type, request_id, body], got map");
  CHECK(Contains(ErrorOf(std::string("\x93\x01\x04\x00", 4)), "got an array of 3 elements"));
  CHECK(Contains(ErrorOf(std::string("\xc1", 1)), "malformed msgpack"));
  CHECK(Contains(ErrorOf(std::string("\x94\x01\x04\x00\x90", 5)), "Heartbeat: body must be a map"));
  // A fifth envelope element is reserved for later versions and ignored.
  std::string five = valid;
  five[0] = '\x95';
  five += '\xc0';
  CHECK(Decode(five).ok());
}

TEST_CASE("ValidateTest.Digest") {
  CHECK(ValidateDigest(kDigestA).ok());
  CHECK_FALSE(ValidateDigest("").ok());
  CHECK_FALSE(ValidateDigest(kDigestA.substr(1)).ok());
  std::string upper = kDigestA;
  upper[1] = 'F';
  CHECK_FALSE(ValidateDigest(upper).ok());
  CHECK(Contains(ValidateDigest(std::string(64, 'g')).message(), "64 lowercase hex"));
}

TEST_CASE("ValidateTest.RelativePath") {
  for (const char* good : {"data/train.csv", "a", "model/v1/model.pkl", "..data/x", "a/.hidden"}) {
    CHECK_MESSAGE(ValidateRelativePath(good).ok(), good);
  }
  CHECK(Contains(ValidateRelativePath("/etc/passwd").message(), "is absolute"));
  CHECK(Contains(ValidateRelativePath("../secrets").message(), "contains '..'"));
  CHECK(Contains(ValidateRelativePath("data/../../x").message(), "contains '..'"));
  CHECK(Contains(ValidateRelativePath("data/..").message(), "contains '..'"));
  for (const char* bad : {"", "a//b", "./a", "a/", "a/./b"}) CHECK_FALSE_MESSAGE(ValidateRelativePath(bad).ok(), bad);
  CHECK_FALSE(ValidateRelativePath(std::string("a\0b", 3)).ok());
  CHECK_FALSE(ValidateRelativePath(std::string(5000, 'a')).ok());
}

TEST_CASE("ValidateTest.EverySampleIsValid") {
  for (const Message& message : Samples()) {
    Status s = ValidateMessage(message);
    CHECK_MESSAGE(s.ok(), NameOf(message) << ": " << s.message());
  }
}

TEST_CASE("ValidateTest.Dispatch") {
  const Dispatch good = std::get<Dispatch>(Samples()[4]);
  auto error_after = [&](const std::function<void(Dispatch&)>& edit) {
    Dispatch d = good;
    edit(d);
    return Validate(d).message();
  };
  CHECK(error_after([](Dispatch& d) { d.attempt_id.clear(); }) == "Dispatch: attempt_id is empty");
  CHECK(error_after([](Dispatch& d) { d.inputs[1].path = "../../etc/shadow"; }) ==
        "Dispatch: inputs[1]: path '../../etc/shadow' contains '..'; it must stay inside the workspace");
  CHECK(Contains(error_after([](Dispatch& d) { d.inputs[0].digest = "abc"; }), "inputs[0].digest: digest 'abc'"));
  CHECK(Contains(error_after([](Dispatch& d) { d.inputs[0].kind = "socket"; }), "inputs[0].kind is 'socket'"));
  CHECK(Contains(error_after([](Dispatch& d) { d.outputs.push_back("model/model.pkl"); }), "listed twice"));
  CHECK(Contains(error_after([](Dispatch& d) { d.outputs.push_back("/tmp/x"); }), "outputs[1]: path '/tmp/x' is absolute"));
  CHECK(Contains(error_after([](Dispatch& d) { d.resources.cpus = std::nan(""); }), "resources.cpus"));
  CHECK(Contains(error_after([](Dispatch& d) { d.env["A=B"] = "1"; }), "env key 'A=B'"));
  CHECK(Contains(error_after([](Dispatch& d) { d.command.clear(); }), "command is empty"));
}

TEST_CASE("ValidateTest.SpeculativeDispatch") {
  Dispatch good = std::get<Dispatch>(Samples()[4]);
  good.after_attempt = "r-42.0-1";
  good.inputs[0] = {good.inputs[0].path, "", std::string(kInputKindUpstream), 0, std::nullopt};
  good.unless_upstream_made = std::vector<std::string>{std::string(64, 'a')};
  good.inline_blobs.reset();
  CHECK(Validate(good).ok());
  auto error_after = [&](const std::function<void(Dispatch&)>& edit) {
    Dispatch d = good;
    edit(d);
    return Validate(d).message();
  };
  CHECK(Contains(error_after([](Dispatch& d) { d.after_attempt.reset(); }),
                 "inputs[0].kind is 'upstream' in a Dispatch without after_attempt"));
  const InputFile plain = std::get<Dispatch>(Samples()[4]).inputs[0];
  CHECK(Contains(error_after([&](Dispatch& d) {
                   d.after_attempt.reset();
                   d.inputs[0] = plain;
                 }),
                 "unless_upstream_made is set without after_attempt"));
  CHECK(Contains(error_after([](Dispatch& d) { d.inputs[0].digest = std::string(64, 'b'); }),
                 "inputs[0].digest must be empty for kind 'upstream'"));
  CHECK(Contains(error_after([](Dispatch& d) { d.unless_upstream_made->push_back("xyz"); }),
                 "unless_upstream_made[1]"));
  CHECK(Contains(error_after([](Dispatch& d) { d.after_attempt = ""; }), "after_attempt is empty"));
  CHECK(Contains(error_after([](Dispatch& d) { d.after_attempt = d.attempt_id; }),
                 "after_attempt names the attempt itself"));
}

TEST_CASE("ValidateTest.LogChunkStream") {
  LogChunk chunk = std::get<LogChunk>(Samples()[6]);
  CHECK(Validate(chunk).ok());
  chunk.stream = "stdout";
  CHECK(Validate(chunk).ok());
  chunk.stream = "stdin";
  CHECK(Validate(chunk).message() == "LogChunk: stream is 'stdin'; expected 'stdout' or 'stderr'");
  CHECK_FALSE(ValidateMessage(chunk).ok());
}

TEST_CASE("ValidateTest.AttemptFinishedOutputs") {
  AttemptFinished finished = std::get<AttemptFinished>(Samples()[7]);
  CHECK(Validate(finished).ok());
  finished.outputs[1].path = "model/../../../root/.ssh/id_rsa";
  CHECK(Contains(Validate(finished).message(), "AttemptFinished: outputs[1]: path"));
  finished = std::get<AttemptFinished>(Samples()[7]);
  finished.outputs[1].digest = kDigestA.substr(0, 63) + "Z";
  CHECK(Contains(Validate(finished).message(), "outputs[1].digest"));
}

TEST_CASE("ValidateTest.InlineBlobsMustBeDeclaredFilesWithinTheLimit") {
  AttemptFinished finished = std::get<AttemptFinished>(Samples()[7]);
  REQUIRE(Validate(finished).ok());
  finished.inline_blobs->front().data += "x";
  CHECK(Validate(finished).message() ==
        "AttemptFinished: inline_blobs[0]: no output has digest " + kDigestB + " and size 78");
  finished = std::get<AttemptFinished>(Samples()[7]);
  finished.inline_blobs->push_back(finished.inline_blobs->front());
  CHECK(Contains(Validate(finished).message(), "inline_blobs[1]: digest " + kDigestB + " is listed twice"));
  finished = std::get<AttemptFinished>(Samples()[7]);
  finished.inline_blobs->front().digest = "abc";
  CHECK(Contains(Validate(finished).message(), "inline_blobs[0].digest"));

  Dispatch dispatch = std::get<Dispatch>(Samples()[4]);
  REQUIRE(Validate(dispatch).ok());
  dispatch.inputs[0].size_bytes = kMaxInlineBlobBytes + 1;
  dispatch.inline_blobs->front().data = std::string(kMaxInlineBlobBytes + 1, 'p');
  CHECK(Validate(dispatch).message() == "Dispatch: inline_blobs hold " + std::to_string(kMaxInlineBlobBytes + 1) +
                                            " bytes, over the limit of " + std::to_string(kMaxInlineBlobBytes));
  dispatch = std::get<Dispatch>(Samples()[4]);
  dispatch.inline_blobs->front().digest = kDigestB;  // an input, but not of this size
  CHECK(Contains(Validate(dispatch).message(), "inline_blobs[0]: no input has digest " + kDigestB));
}

TEST_CASE("ValidateTest.RegisterAndHeartbeat") {
  Register reg = std::get<Register>(Samples()[1]);
  CHECK(Validate(reg).ok());
  reg.slots = 0;
  CHECK(Contains(Validate(reg).message(), "Register: slots is 0"));
  reg = std::get<Register>(Samples()[1]);
  reg.worker_id = std::string(300, 'w');
  CHECK(Contains(Validate(reg).message(), "worker_id is 300 bytes"));
  CHECK(Validate(Heartbeat{.free_slots = 0, .running_attempt_ids = {}}).ok());
  CHECK(Validate(Heartbeat{.free_slots = 1, .running_attempt_ids = {""}}).message() ==
        "Heartbeat: running_attempt_ids[0] is empty");
  CHECK_FALSE(Validate(RegisterAck{.worker_id = "w", .heartbeat_interval_ms = 0, .heartbeat_liveness = 3,
                                   .stale_attempt_ids = {}, .scheduler_version = ""})
                  .ok());
}

TEST_CASE("ValidateTest.BlobChunks") {
  CHECK(Validate(BlobGet{.digest = kDigestA, .offset = 0, .length = kMaxBlobChunkBytes}).ok());
  CHECK(Contains(Validate(BlobGet{.digest = kDigestA, .offset = 0, .length = 0}).message(), "length is 0"));
  CHECK(Contains(Validate(BlobPutChunk{.digest = kDigestA, .offset = 0, .length = kMaxBlobChunkBytes + 1}).message(),
                 "over the chunk limit"));
  CHECK(Contains(Validate(BlobPutChunk{.digest = kDigestA, .offset = UINT64_MAX, .length = 2}).message(),
                 "overflows"));
  CHECK(Contains(Validate(BlobGetChunk{.digest = kDigestA, .offset = 4, .length = 8, .total_size_bytes = 10})
                     .message(),
                 "runs past the blob's 10 bytes"));
  CHECK(Validate(BlobGetChunk{.digest = kDigestA, .offset = 10, .length = 0, .total_size_bytes = 10}).ok());
  CHECK(Contains(Validate(BlobQuery{.digests = {kDigestA, "nope"}}).message(), "BlobQuery: digests[1]"));
  CHECK(Contains(Validate(BlobPutBegin{.digest = "", .size_bytes = 1, .attempt_id = std::nullopt}).message(), "BlobPutBegin: digest"));
  CHECK(Contains(Validate(BlobPutBegin{.digest = kDigestA, .size_bytes = 1, .attempt_id = ""}).message(),
                 "attempt_id is empty"));
  CHECK(Validate(BlobPutBegin{.digest = kDigestA, .size_bytes = 1, .attempt_id = "r-1.0-1"}).ok());
  CHECK(Validate(BlobDamaged{.digest = kDigestA, .actual_digest = kDigestB}).ok());
  CHECK(Contains(Validate(BlobDamaged{.digest = kDigestA, .actual_digest = "zz"}).message(),
                 "BlobDamaged: actual_digest"));
  CHECK(Contains(Validate(BlobDamagedReply{.digest = "../etc", .dropped = false}).message(),
                 "BlobDamagedReply: digest"));
  CHECK(ValidateChunkFrame(1024, 1024).ok());
  CHECK(ValidateChunkFrame(1024, 1000).message() == "chunk header declares 1024 bytes but its blob frame has 1000");
}

TEST_CASE("ValidateTest.SubmitRunAndReads") {
  SubmitRun submit = std::get<SubmitRun>(Samples()[19]);
  CHECK(Validate(submit).ok());
  submit.workspace[0].path = "/home/me/src/prepare.py";
  CHECK(Contains(Validate(submit).message(), "SubmitRun: workspace[0]: path '/home/me/src/prepare.py' is absolute"));
  submit = std::get<SubmitRun>(Samples()[19]);
  submit.dag_yaml.clear();
  CHECK(Validate(submit).message() == "SubmitRun: dag_yaml is empty");
  // Workspace files the scheduler lacks may travel inline: each one of the
  // listed files, and they survive the wire.
  submit = std::get<SubmitRun>(Samples()[19]);
  submit.workspace[1].size_bytes = 3;
  submit.inline_blobs = std::vector<InlineBlob>{{kDigestB, "abc"}};
  CHECK(Validate(submit).ok());
  Result<std::string> encoded = Encode(submit, 7);
  REQUIRE(encoded.ok());
  Result<Envelope> decoded = Decode(*encoded);
  REQUIRE(decoded.ok());
  CHECK(std::get<SubmitRun>(decoded->message) == submit);
  submit.inline_blobs->front().data = "abcd";
  CHECK(Validate(submit).message() ==
        "SubmitRun: inline_blobs[0]: no workspace file has digest " + kDigestB + " and size 4");
  CHECK(Validate(RunStatus{.run_id = "", .brief = std::nullopt}).message() == "RunStatus: run_id is empty");
  CHECK(Validate(Cancel{.run_id = "", .reason = ""}).message() == "Cancel: run_id is empty");
  CHECK(Contains(Validate(Logs{.run_id = "r", .step = "s", .attempt_id = "", .offset = 0, .wait_ms = 0}).message(),
                 "attempt_id is empty"));
  CHECK(ValidateMessage(Error{.code = ErrorCode::kInternal, .message = ""}).ok());
}

// Skipped by default. `codec_test --no-skip -tc=FuzzSeeds*` rewrites the seed
// corpus of tests/fuzz/decode_fuzz.cpp: one encoded frame per message type.
TEST_CASE("FuzzSeeds.WriteDecodeCorpus" * doctest::skip()) {
  std::filesystem::path dir = std::filesystem::path(RECETA_SOURCE_DIR) / "tests/fuzz/corpus/decode";
  std::filesystem::create_directories(dir);
  uint64_t request_id = 1;
  for (const Message& message : Samples()) {
    std::ofstream out(dir / (std::string(NameOf(message)) + ".msgpack"), std::ios::binary | std::ios::trunc);
    out << MustEncode(message, request_id++);
    REQUIRE(out.good());
  }
}
