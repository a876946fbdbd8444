#pragma once
// ParsedDagCache: the DAG the scheduler parsed last, shared by the runs made
// from it. Why: a rerun submits the same text against the same workspace,
// and parsing a 1,000-step file with yaml-cpp takes some 50 ms, a fifth of
// a fully cached rerun. One entry: reruns of the DAG just run are the case
// that matters, and a big DAG is not kept twice. Pure (no I/O).

#include <memory>
#include <string>

#include "common/dag/dag.h"
#include "common/dag/dag_graph.h"
#include "scheduler/records.h"

namespace receta::scheduler {

/// A DAG as parsed and checked, never changed after: runs share it.
struct ParsedDag {
  Dag dag;
  DagGraph graph;
};

class ParsedDagCache {
 public:
  /// A digest of everything a parse of `record`'s DAG reads: the file
  /// name, the text, the parameter overrides and the workspace's paths.
  static std::string KeyOf(const RunRecord& record);

  /// The DAG parsed under `key`, or nullptr.
  std::shared_ptr<const ParsedDag> Find(const std::string& key) const;
  void Remember(std::string key, std::shared_ptr<const ParsedDag> parsed);

 private:
  std::string key_;
  std::shared_ptr<const ParsedDag> parsed_;
};

}  // namespace receta::scheduler
