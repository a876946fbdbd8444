// ParsedDagCache: a rerun of the same DAG text against the same workspace
// reuses the parse; anything the parse reads changes the key.
#include <doctest/doctest.h>

#include "scheduler/parsed_dag_cache.h"
#include "scheduler/run.h"

using namespace receta::scheduler;

namespace {

RunRecord Record(const std::string& yaml) {
  RunRecord record;
  record.run_id = "r-1";
  record.dag_file = "dags/train.yaml";
  record.dag_yaml = yaml;
  record.workspace = {{"data/in.csv", std::string(64, 'a'), 6, false}};
  return record;
}

const char* kDag =
    "name: train\n"
    "steps:\n"
    "  prep:\n    run: cat data/in.csv > clean.csv\n    inputs: [data/in.csv]\n    outputs: [clean.csv]\n"
    "  fit:\n    run: cat clean.csv > model.txt\n    inputs: [clean.csv]\n    outputs: [model.txt]\n";

}  // namespace

TEST_CASE("ParsedDagCacheTest.KeyChangesWithEverythingTheParseReads") {
  RunRecord base = Record(kDag);
  std::string key = ParsedDagCache::KeyOf(base);
  CHECK(key.size() == 64);
  CHECK(ParsedDagCache::KeyOf(Record(kDag)) == key);

  RunRecord other = base;
  other.run_id = "r-2";  // not read by the parse
  other.submitted_ms = 99;
  CHECK(ParsedDagCache::KeyOf(other) == key);

  other = base;
  other.dag_yaml += "  eval:\n    run: true\n";
  CHECK(ParsedDagCache::KeyOf(other) != key);
  other = base;
  other.dag_file = "dags/other.yaml";
  CHECK(ParsedDagCache::KeyOf(other) != key);
  other = base;
  other.params["lr"] = "0.1";
  CHECK(ParsedDagCache::KeyOf(other) != key);
  other = base;
  other.workspace.push_back({"data/more.csv", std::string(64, 'b'), 1, false});
  CHECK(ParsedDagCache::KeyOf(other) != key);
  // Parts cannot run into each other.
  RunRecord a = base, b = base;
  a.params["ab"] = "c";
  b.params["a"] = "bc";
  CHECK(ParsedDagCache::KeyOf(a) != ParsedDagCache::KeyOf(b));
}

TEST_CASE("ParsedDagCacheTest.RunsOfTheSameDagShareOneParse") {
  ParsedDagCache cache;
  auto first = Run::Create(Record(kDag), &cache);
  REQUIRE(first.ok());
  auto second = Run::Create(Record(kDag), &cache);
  REQUIRE(second.ok());
  CHECK(&(*first)->dag() == &(*second)->dag());
  CHECK((*second)->record().dag_name == "train");
  CHECK((*second)->record().step_count == 2);
  CHECK((*second)->FindStep("fit") == 1);

  // A different DAG is parsed (and checked) on its own and replaces the entry.
  auto broken = Run::Create(Record("steps: [1, 2]\n"), &cache);
  CHECK_FALSE(broken.ok());
  auto changed = Run::Create(Record(std::string(kDag) + "  eval:\n    run: cat model.txt\n    inputs: [model.txt]\n"),
                             &cache);
  REQUIRE(changed.ok());
  CHECK((*changed)->record().step_count == 3);
  CHECK(&(*changed)->dag() != &(*first)->dag());
}
