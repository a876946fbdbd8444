#include "common/dag/dag_graph.h"

#include <algorithm>
#include <map>
#include <queue>
#include <set>

#include "common/dag/workspace_path.h"
#include "common/lang/did_you_mean.h"

namespace receta {
namespace {

std::string DescribeEdge(const Dag& dag, const DagEdge& edge) {
  if (edge.reason == DagEdge::Reason::kNeeds) return "needs";
  return "reads '" + edge.path + "' from " + dag.steps[edge.from].name;
}

// Reports one cycle through each strongly connected knot found by DFS, as
// "a -> b -> c -> a" with why each edge exists.
void ReportCycles(const Dag& dag, const DagGraph& graph, Diagnostics& diagnostics) {
  size_t n = dag.steps.size();
  enum Color { kWhite, kGrey, kBlack };
  std::vector<Color> color(n, kWhite);
  std::vector<const DagEdge*> via(n, nullptr);
  std::set<std::set<int>> reported;
  for (size_t start = 0; start < n; ++start) {
    if (color[start] != kWhite) continue;
    // Iterative DFS over downstream edges: (node, next edge index).
    std::vector<std::pair<int, size_t>> stack = {{static_cast<int>(start), 0}};
    color[start] = kGrey;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == graph.downstream[node].size()) {
        color[node] = kBlack;
        stack.pop_back();
        continue;
      }
      const DagEdge& edge = graph.downstream[node][next++];
      if (color[edge.to] == kWhite) {
        color[edge.to] = kGrey;
        via[edge.to] = &edge;
        stack.push_back({edge.to, 0});
      } else if (color[edge.to] == kGrey) {
        // Back edge: the cycle is edge.to -> ... -> node -> edge.to.
        std::vector<const DagEdge*> cycle = {&edge};
        for (int at = node; at != edge.to; at = via[at]->from) cycle.push_back(via[at]);
        std::reverse(cycle.begin(), cycle.end());
        std::set<int> members;
        for (const DagEdge* e : cycle) members.insert(e->to);
        if (!reported.insert(members).second) continue;
        std::string path = dag.steps[edge.to].name;
        for (const DagEdge* e : cycle) {
          path += " -> " + dag.steps[e->to].name;
        }
        std::string reasons;
        for (const DagEdge* e : cycle) {
          reasons +=
              (reasons.empty() ? "" : "; ") + dag.steps[e->to].name + " " + DescribeEdge(dag, *e);
        }
        diagnostics.Add(dag.steps[edge.to].location,
                        "the steps form a cycle: " + path + " (" + reasons +
                            "); a step cannot wait for its own result, so remove one of these "
                            "dependencies");
      }
    }
  }
}

}  // namespace

DagGraph BuildDagGraph(const Dag& dag, Diagnostics& diagnostics) {
  size_t n = dag.steps.size();
  DagGraph graph;
  graph.upstream.resize(n);
  graph.downstream.resize(n);
  graph.input_producers.resize(n);

  // Why an index of outputs: fan-outs of thousands of steps must not cost
  // steps x outputs comparisons per input.
  std::map<std::string, int> producer_of_output;
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& output : dag.steps[i].outputs) {
      producer_of_output.emplace(output, static_cast<int>(i));
    }
  }
  auto producers_of = [&](const std::string& input) {
    std::set<int> found;
    // An output equal to the input or a directory above it.
    for (size_t slash = input.size(); slash != std::string::npos;
         slash = slash == 0 ? std::string::npos : input.rfind('/', slash - 1)) {
      auto it = producer_of_output.find(input.substr(0, slash));
      if (it != producer_of_output.end()) found.insert(it->second);
      if (slash == 0) break;
    }
    // Outputs inside the input (the input is a directory holding them).
    std::string prefix = input + "/";
    for (auto it = producer_of_output.lower_bound(prefix);
         it != producer_of_output.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      found.insert(it->second);
    }
    return std::vector<int>(found.begin(), found.end());
  };

  std::vector<std::string> names;
  for (const Step& step : dag.steps) names.push_back(step.name);
  // Edges into step i are all added while step i is processed, so one set
  // of its upstream steps, reset per step, keeps each edge once.
  std::set<int> upstream_of_current;
  auto add_edge = [&](DagEdge edge) {
    if (!upstream_of_current.insert(edge.from).second) return;
    graph.upstream[edge.to].push_back(edge);
    graph.downstream[edge.from].push_back(edge);
  };

  for (size_t i = 0; i < n; ++i) {
    const Step& step = dag.steps[i];
    int to = static_cast<int>(i);
    upstream_of_current.clear();
    for (size_t k = 0; k < step.needs.size(); ++k) {
      const std::string& need = step.needs[k];
      SourceLocation at = k < step.need_locations.size() ? step.need_locations[k] : step.location;
      if (need == step.name) {
        diagnostics.Add(at, "step '" + step.name +
                                "' lists itself in `needs`; a step cannot "
                                "wait for itself, remove it");
        continue;
      }
      int from = dag.FindStep(need);
      if (from < 0) {
        diagnostics.Add(at, "step '" + step.name + "' needs '" + need + "', which is not a step" +
                                DidYouMeanSuffix(need, names) +
                                "; the steps are defined under "
                                "`steps:`");
        continue;
      }
      add_edge({from, to, DagEdge::Reason::kNeeds, ""});
    }
    graph.input_producers[i].resize(step.inputs.size());
    for (size_t k = 0; k < step.inputs.size(); ++k) {
      const std::string& input = step.inputs[k];
      for (int from : producers_of(input)) {
        if (from == to) {
          SourceLocation at =
              k < step.input_locations.size() ? step.input_locations[k] : step.location;
          diagnostics.Add(at, "step '" + step.name + "' reads '" + input +
                                  "', which it also writes as an output; a step cannot depend "
                                  "on itself: give the output another name or remove the input");
        }
        graph.input_producers[i][k].push_back(from);
        if (from == to) continue;
        add_edge({from, to, DagEdge::Reason::kInput, input});
      }
    }
  }

  // Kahn's algorithm; the min-heap on index keeps ties in file order.
  std::vector<int> pending(n, 0);
  for (size_t i = 0; i < n; ++i) pending[i] = static_cast<int>(graph.upstream[i].size());
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  }
  graph.layer.assign(n, 0);
  while (!ready.empty()) {
    int step = ready.top();
    ready.pop();
    graph.order.push_back(step);
    for (const DagEdge& edge : graph.downstream[step]) {
      graph.layer[edge.to] = std::max(graph.layer[edge.to], graph.layer[step] + 1);
      if (--pending[edge.to] == 0) ready.push(edge.to);
    }
  }
  graph.acyclic = graph.order.size() == n;
  if (!graph.acyclic) {
    ReportCycles(dag, graph, diagnostics);
    graph.order.clear();
    return graph;
  }

  graph.gated_by.resize(n);
  for (int step : graph.order) {
    std::set<int> gates;
    for (const DagEdge& edge : graph.upstream[step]) {
      gates.insert(graph.gated_by[edge.from].begin(), graph.gated_by[edge.from].end());
      if (dag.steps[edge.from].gate) gates.insert(edge.from);
    }
    graph.gated_by[step].assign(gates.begin(), gates.end());
  }
  return graph;
}

}  // namespace receta
