// ResolveUpstreamInputs and Succeeded: how a speculative Dispatch's
// placeholder inputs (kind "upstream", named by path only) become the files
// its upstream attempt produced, and which results count as a success a
// downstream step may read; UpstreamMadeWhatACachedResultUsed: whether the
// upstream made what a cached result of the step was made from (the worker
// then drops the step unstarted); Settle, which of these a speculative
// dispatch becomes. Pure: messages in, messages out.
#include "worker/upstream_inputs.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/cache/upstream_manifest.h"
#include "common/hash/sha256.h"

namespace protocol = receta::protocol;
using receta::worker::ResolveUpstreamInputs;
using receta::worker::Succeeded;
using receta::worker::UpstreamMadeWhatACachedResultUsed;

namespace {

std::string DigestOf(const std::string& bytes) { return receta::HashBytes(bytes).ToHex(); }

// What the scheduler sends for "the upstream's files at or under `path`".
protocol::InputFile Upstream(const std::string& path) {
  return {path, "", std::string(protocol::kInputKindUpstream), 0, std::nullopt};
}

protocol::InputFile File(const std::string& path, const std::string& bytes) {
  return {path, DigestOf(bytes), std::string(protocol::kInputKindFile), bytes.size(), std::nullopt};
}

protocol::FileEntry Output(const std::string& path, const std::string& bytes,
                           bool executable = false) {
  return {path, DigestOf(bytes), bytes.size(), executable};
}

protocol::Dispatch SpeculativeDispatch(std::vector<protocol::InputFile> inputs) {
  protocol::Dispatch d;
  d.run_id = "r";
  d.step = "next";
  d.attempt_id = "r.1-1";
  d.after_attempt = "r.0-1";
  d.inputs = std::move(inputs);
  return d;
}

// A clean finish of r.0-1 with these outputs.
protocol::AttemptFinished Finished(std::vector<protocol::FileEntry> outputs) {
  protocol::AttemptFinished f;
  f.attempt_id = "r.0-1";
  f.outputs = std::move(outputs);
  return f;
}

// What the scheduler records (and sends in unless_upstream_made) for a cached
// result made from `outputs` at or under `paths`.
std::string Made(std::vector<std::string> paths, const std::vector<protocol::FileEntry>& outputs) {
  receta::Result<std::string> made = receta::UpstreamManifest(std::move(paths), outputs);
  REQUIRE_MESSAGE(made.ok(), made.error());
  return *made;
}

std::vector<std::string> PathsOf(const std::vector<protocol::InputFile>& inputs) {
  std::vector<std::string> paths;
  for (const protocol::InputFile& input : inputs) paths.push_back(input.path);
  return paths;
}

}  // namespace

TEST_CASE("UpstreamInputsTest.AFilePathBecomesThatOutputWithItsDigestAndSize") {
  protocol::Dispatch d = SpeculativeDispatch({Upstream("out/a.txt")});
  protocol::AttemptFinished upstream =
      Finished({Output("out/a.txt", "alpha\n"), Output("out/b.txt", "beta\n")});

  REQUIRE(ResolveUpstreamInputs(d, upstream).ok());

  // Only the named file: its sibling in the same directory is not asked for.
  REQUIRE(d.inputs.size() == 1);
  CHECK(d.inputs[0] == File("out/a.txt", "alpha\n"));
  // Resolved, the dispatch is an ordinary one: nothing left to wait for.
  CHECK_FALSE(d.after_attempt.has_value());
}

TEST_CASE(
    "UpstreamInputsTest.ADirectoryPathBecomesEveryOutputUnderItButNotASiblingSharingItsPrefix") {
  protocol::Dispatch d = SpeculativeDispatch({Upstream("data")});
  // "database.csv" and "data.csv" start with "data" but are not under the
  // directory "data".
  protocol::AttemptFinished upstream = Finished(
      {Output("data/x.csv", "x"), Output("database.csv", "db"), Output("data/sub/y.csv", "y"),
       Output("data.csv", "d"), Output("model/m.pkl", "m")});

  REQUIRE(ResolveUpstreamInputs(d, upstream).ok());

  CHECK(d.inputs ==
        std::vector<protocol::InputFile>{File("data/sub/y.csv", "y"), File("data/x.csv", "x")});
}

TEST_CASE("UpstreamInputsTest.KeepsOtherInputsAndSortsAllByPathWithNoPathTwice") {
  // Two placeholders that overlap ("data" covers "data/x.csv") and ordinary
  // inputs before and after them in path order.
  protocol::InputFile config = File("a/config.yaml", "cfg");
  protocol::InputFile script = File("z/train.py", "print(1)");
  protocol::InputFile tree{"lib", DigestOf("tree"), std::string(protocol::kInputKindDir), 4,
                           std::nullopt};
  protocol::Dispatch d =
      SpeculativeDispatch({script, Upstream("data"), tree, config, Upstream("data/x.csv")});
  protocol::AttemptFinished upstream =
      Finished({Output("data/x.csv", "x"), Output("data/y.csv", "y")});

  REQUIRE(ResolveUpstreamInputs(d, upstream).ok());

  CHECK(PathsOf(d.inputs) ==
        std::vector<std::string>{"a/config.yaml", "data/x.csv", "data/y.csv", "lib", "z/train.py"});
  CHECK(d.inputs[0] == config);
  CHECK(d.inputs[1] == File("data/x.csv", "x"));
  CHECK(d.inputs[2] == File("data/y.csv", "y"));
  CHECK(d.inputs[3] == tree);  // a dir input stays a dir input
  CHECK(d.inputs[4] == script);
  CHECK_FALSE(d.after_attempt.has_value());
}

TEST_CASE("UpstreamInputsTest.AnExecutableOutputIsPlacedExecutable") {
  protocol::Dispatch d = SpeculativeDispatch({Upstream("bin")});
  protocol::AttemptFinished upstream = Finished(
      {Output("bin/tool", "#!/bin/sh\n", /*executable=*/true), Output("bin/README", "read me")});

  REQUIRE(ResolveUpstreamInputs(d, upstream).ok());

  REQUIRE(PathsOf(d.inputs) == std::vector<std::string>{"bin/README", "bin/tool"});
  CHECK_FALSE(d.inputs[0].executable.value_or(false));
  CHECK(d.inputs[1].executable == true);
}

TEST_CASE("UpstreamInputsTest.AnUpstreamInputMatchingNoOutputIsAnErrorNamingItAndTheAttempt") {
  // "out" is a prefix of the output's path but not a directory above it.
  protocol::Dispatch d = SpeculativeDispatch({File("a.txt", "a"), Upstream("out")});
  protocol::AttemptFinished upstream = Finished({Output("output.txt", "o")});

  receta::Status s = ResolveUpstreamInputs(d, upstream);

  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("'out'") != std::string::npos);
  CHECK(s.message().find("r.0-1") != std::string::npos);
}

TEST_CASE("UpstreamInputsTest.OnlyACleanResultSucceeded") {
  protocol::AttemptFinished clean = Finished({Output("out/a.txt", "a")});
  CHECK(Succeeded(clean));
  // An explicit "not the system's fault" is still clean.
  clean.system_failure = false;
  CHECK(Succeeded(clean));

  protocol::AttemptFinished failed = clean;
  SUBCASE("a non-zero exit code") { failed.exit_code = 3; }
  SUBCASE("a signal") {
    failed.exit_code = -1;
    failed.signal = 9;
  }
  SUBCASE("a signal with exit code 0") { failed.signal = 15; }
  SUBCASE("a timeout") { failed.timed_out = true; }
  SUBCASE("an error, e.g. a missing declared output") {
    failed.error = "declared output 'out/b.txt' was not created by the step";
  }
  SUBCASE("a system failure") { failed.system_failure = true; }
  CHECK_FALSE(Succeeded(failed));
}

TEST_CASE(
    "UpstreamInputsTest."
    "MadeWhatACachedResultUsedWhenTheListHoldsTheManifestOfTheUpstreamPathsAndOutputs") {
  // Two upstream inputs, a file and a directory, between ordinary inputs.
  protocol::Dispatch d = SpeculativeDispatch(
      {File("a/config.yaml", "cfg"), Upstream("out/a.txt"), Upstream("data"), File("z.py", "z")});
  std::vector<protocol::FileEntry> outputs = {
      Output("out/a.txt", "alpha\n"), Output("data/x.csv", "x"), Output("data/sub/y.csv", "y"),
      Output("log.txt", "log")};
  // Listed among others, in whatever order the paths are given.
  d.unless_upstream_made = {Made({"out/elsewhere.txt"}, {Output("out/elsewhere.txt", "e")}),
                            Made({"out/a.txt", "data"}, outputs)};

  CHECK(UpstreamMadeWhatACachedResultUsed(d, Finished(outputs)));

  // Only files the step reads count: an upstream output under none of its
  // upstream inputs may differ, as may the ordinary inputs (not the
  // upstream's to make; the scheduler weighs them).
  std::vector<protocol::FileEntry> other_log = outputs;
  other_log[3] = Output("log.txt", "another log");
  CHECK(UpstreamMadeWhatACachedResultUsed(d, Finished(other_log)));
  protocol::Dispatch other_config = d;
  other_config.inputs[0] = File("a/config.yaml", "another config");
  CHECK(UpstreamMadeWhatACachedResultUsed(other_config, Finished(outputs)));
}

TEST_CASE("UpstreamInputsTest.MadeWhatACachedResultUsedOnlyForExactlyTheUpstreamInputPaths") {
  protocol::Dispatch d =
      SpeculativeDispatch({File("a/config.yaml", "cfg"), Upstream("out/a.txt"), Upstream("data")});
  std::vector<protocol::FileEntry> outputs = {Output("out/a.txt", "alpha\n"),
                                              Output("data/x.csv", "x")};

  SUBCASE("a manifest of some of them") { d.unless_upstream_made = {Made({"out/a.txt"}, outputs)}; }
  SUBCASE("a manifest of more of them") {
    d.unless_upstream_made = {Made({"out/a.txt", "data", "data/x.csv"}, outputs)};
  }
  SUBCASE("a manifest of a path above one") {
    d.unless_upstream_made = {Made({"out", "data"}, outputs)};
  }
  CHECK_FALSE(UpstreamMadeWhatACachedResultUsed(d, Finished(outputs)));
}

TEST_CASE("UpstreamInputsTest.NotMadeWhatACachedResultUsedWhenAnOutputDiffersInContent") {
  protocol::Dispatch d = SpeculativeDispatch({Upstream("out/a.txt"), Upstream("data")});
  std::vector<protocol::FileEntry> cached = {Output("out/a.txt", "alpha\n"),
                                             Output("data/x.csv", "x")};
  d.unless_upstream_made = {Made({"out/a.txt", "data"}, cached)};
  REQUIRE(UpstreamMadeWhatACachedResultUsed(d, Finished(cached)));

  std::vector<protocol::FileEntry> made = cached;
  SUBCASE("the named file") { made[0] = Output("out/a.txt", "ALPHA\n"); }
  SUBCASE("a file under the named directory") { made[1] = Output("data/x.csv", "y"); }
  SUBCASE("same size, other bytes") {
    made[0] = Output("out/a.txt", "alphA\n");
    REQUIRE(made[0].size_bytes == cached[0].size_bytes);
  }
  SUBCASE("one more file under the named directory") {
    made.push_back(Output("data/new.csv", "n"));
  }
  SUBCASE("a file under the named directory missing") { made[1] = Output("elsewhere/x.csv", "x"); }
  CHECK_FALSE(UpstreamMadeWhatACachedResultUsed(d, Finished(made)));
}

TEST_CASE("UpstreamInputsTest.NotMadeWhatACachedResultUsedWithoutAList") {
  protocol::Dispatch d = SpeculativeDispatch({Upstream("out/a.txt")});
  std::vector<protocol::FileEntry> outputs = {Output("out/a.txt", "alpha\n")};

  SUBCASE("absent") { d.unless_upstream_made.reset(); }
  SUBCASE("empty") { d.unless_upstream_made = std::vector<std::string>{}; }
  CHECK_FALSE(UpstreamMadeWhatACachedResultUsed(d, Finished(outputs)));
}

TEST_CASE("UpstreamInputsTest.NotMadeWhatACachedResultUsedWhenAnUpstreamInputMatchesNoOutput") {
  protocol::Dispatch d = SpeculativeDispatch({Upstream("out/a.txt"), Upstream("out/missing.txt")});
  std::vector<protocol::FileEntry> outputs = {Output("out/a.txt", "alpha\n"),
                                              Output("out/other.txt", "o")};
  // Everything the upstream did make for the step is listed: the manifest
  // of the path it made and of every output it made.
  d.unless_upstream_made = {Made({"out/a.txt"}, outputs), Made({"out"}, outputs)};

  CHECK_FALSE(UpstreamMadeWhatACachedResultUsed(d, Finished(outputs)));
  // Not dropped: ResolveUpstreamInputs then fails the step, naming the path.
  protocol::Dispatch resolved = d;
  receta::Status s = ResolveUpstreamInputs(resolved, Finished(outputs));
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("'out/missing.txt'") != std::string::npos);
}

TEST_CASE("UpstreamInputsTest.SettleWaitsOnAFailureDropsAPossibleCacheHitAndElseStartsOrFails") {
  using receta::worker::Settle;
  using receta::worker::Settlement;
  const std::vector<protocol::FileEntry> made = {Output("out/model.bin", "w")};

  protocol::AttemptFinished failed = Finished(made);
  failed.exit_code = 1;
  protocol::Dispatch waiting = SpeculativeDispatch({Upstream("out/model.bin")});
  CHECK(Settle(waiting, failed).kind == Settlement::kKeepWaiting);
  CHECK(waiting.after_attempt == "r.0-1");  // untouched: still waits for its kill

  protocol::Dispatch maybe_cached = SpeculativeDispatch({Upstream("out/model.bin")});
  maybe_cached.unless_upstream_made = std::vector<std::string>{Made({"out/model.bin"}, made)};
  Settlement dropped = Settle(maybe_cached, Finished(made));
  CHECK(dropped.kind == Settlement::kDrop);
  CHECK(dropped.why == "attempt r.0-1 made what a cached result of step next was made from");

  protocol::Dispatch starts = SpeculativeDispatch({Upstream("out/model.bin")});
  CHECK(Settle(starts, Finished(made)).kind == Settlement::kStart);
  CHECK_FALSE(starts.after_attempt.has_value());
  REQUIRE(starts.inputs.size() == 1);
  CHECK(starts.inputs[0].digest == DigestOf("w"));

  protocol::Dispatch fails = SpeculativeDispatch({Upstream("out/other.bin")});
  Settlement failure = Settle(fails, Finished(made));
  CHECK(failure.kind == Settlement::kFail);
  CHECK(failure.why ==
        "could not place the inputs: input 'out/other.bin': attempt r.0-1 produced no file at or "
        "under it");
}
