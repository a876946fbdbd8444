#include "cli/dag_view.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "common/dag/dag_render.h"
#include "common/json/json_writer.h"
#include "common/lang/quantity.h"

namespace receta::cli {

std::vector<StepView> BuildStepViews(const LoadedDag& loaded, const DigestFunction& digest_of) {
  const Dag& dag = *loaded.dag;
  const DagGraph& graph = loaded.graph;
  std::vector<StepView> views;
  for (int index : graph.order) {
    const Step& step = dag.steps[index];
    StepView view;
    view.step = &step;
    view.index = index;
    view.command = RenderStepCommand(dag, step, kRunIdUnrendered);
    view.env = RenderStepEnv(dag, step, kRunIdUnrendered);
    view.layer = graph.layer[index];
    for (const DagEdge& edge : graph.upstream[index]) {
      view.upstream.push_back(dag.steps[edge.from].name);
    }
    for (int gate : graph.gated_by[index]) view.gated_by.push_back(dag.steps[gate].name);
    std::map<std::string, std::string> digests;
    bool all_known = true;
    for (size_t k = 0; k < step.inputs.size(); ++k) {
      InputView input;
      input.path = step.inputs[k];
      for (int producer : graph.input_producers[index][k]) {
        input.producers.push_back(dag.steps[producer].name);
      }
      if (input.producers.empty()) {
        Result<std::string> digest = digest_of(input.path);
        if (digest.ok()) {
          input.digest = digest.value();
        } else {
          input.digest_error = digest.error();
          all_known = false;
        }
        digests[input.path] = input.digest.empty() ? "<unreadable>" : input.digest;
      } else {
        std::string from;
        for (const std::string& producer : input.producers)
          from += (from.empty() ? "" : ",") + producer;
        digests[input.path] = "<output of " + from + ">";
        all_known = false;
      }
      view.inputs.push_back(std::move(input));
    }
    view.key_inputs = StepCacheKeyInputs(dag, step, digests);
    if (all_known && step.cache) view.cache_key = ComputeCacheKey(view.key_inputs).ToHex();
    views.push_back(std::move(view));
  }
  return views;
}

namespace {

std::string Join(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// Continuation lines of a multi-line text (a `run: |` script) start under
// the first, `indent` columns in; a trailing newline is dropped.
std::string Indented(std::string text, size_t indent) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out.append(indent, ' ');
  }
  return out;
}

std::string FormatResources(const Resources& resources) {
  std::ostringstream out;
  out << "cpus " << resources.cpus;
  if (resources.memory_bytes > 0) out << ", memory " << FormatSizeBytes(resources.memory_bytes);
  if (resources.gpus > 0) out << ", gpus " << resources.gpus;
  return out.str();
}

// A param as the JSON value of its type; the text as written stays in "text".
void WriteParamValue(JsonWriter& json, const ParamValue& value) {
  switch (value.type) {
    case ParamValue::Type::kBool:
      json.Bool(value.text[0] == 't' || value.text[0] == 'T');
      return;
    case ParamValue::Type::kInt:
    case ParamValue::Type::kFloat: {
      char* end = nullptr;
      double number = std::strtod(value.text.c_str(), &end);
      if (value.type == ParamValue::Type::kInt && std::abs(number) < 9.0e15) {
        json.Int(static_cast<int64_t>(std::strtoll(value.text.c_str(), nullptr, 10)));
      } else {
        json.Double(number);
      }
      return;
    }
    case ParamValue::Type::kString:
      json.String(value.text);
      return;
  }
}

void WriteAlerts(JsonWriter& json, const std::vector<AlertSpec>& alerts) {
  json.Key("alerts").BeginArray();
  for (const AlertSpec& alert : alerts) {
    json.BeginObject().StringArray("on", alert.on);
    if (!alert.webhook.empty()) json.Field("webhook", alert.webhook);
    if (!alert.command.empty()) json.Field("command", alert.command);
    json.EndObject();
  }
  json.EndArray();
}

std::string DescribeAlerts(const std::vector<AlertSpec>& alerts) {
  std::string out;
  for (const AlertSpec& alert : alerts) {
    std::string on;
    for (const std::string& event : alert.on) on += (on.empty() ? "" : ", ") + event;
    out += "   alert:     on " + on + " -> " +
           (alert.webhook.empty() ? "command: " + alert.command : "webhook " + alert.webhook) +
           "\n";
  }
  return out;
}


}  // namespace

std::string FormatDagText(const LoadedDag& loaded, const std::vector<StepView>& views) {
  const Dag& dag = *loaded.dag;
  std::ostringstream out;
  out << "DAG " << dag.name << " (" << dag.file << "): " << dag.steps.size()
      << (dag.steps.size() == 1 ? " step\n" : " steps\n");
  if (!dag.description.empty()) out << "  " << Indented(dag.description, 2) << "\n";
  if (!dag.params.empty()) {
    out << "params:\n";
    for (const auto& [name, value] : dag.params) {
      out << "  " << name << " = " << value.text << " (" << ParamTypeName(value.type) << ")\n";
    }
  }
  if (!dag.alerts.empty()) out << "alerts (every step):\n" << DescribeAlerts(dag.alerts);
  int number = 0;
  for (const StepView& view : views) {
    const Step& step = *view.step;
    out << "\n" << ++number << ". " << step.name << "  [" << StepKindName(step.kind) << "]\n";
    if (!step.description.empty()) out << "   " << Indented(step.description, 3) << "\n";
    out << "   run:       " << Indented(view.command, 14) << "\n";
    out << "   after:     " << (view.upstream.empty() ? "-" : Join(view.upstream)) << "\n";
    for (const InputView& input : view.inputs) {
      out << "   input:     " << input.path;
      if (!input.producers.empty()) {
        out << "  (from " << Join(input.producers) << ")";
      } else if (!input.digest.empty()) {
        out << "  (workspace, sha256 " << input.digest.substr(0, 12) << ")";
      } else {
        out << "  (workspace, " << input.digest_error << ")";
      }
      out << "\n";
    }
    for (const std::string& output : step.outputs) out << "   output:    " << output << "\n";
    for (const auto& [name, value] : view.env)
      out << "   env:       " << name << "=" << value << "\n";
    out << "   resources: " << FormatResources(step.resources);
    if (!step.labels.empty()) out << "; labels " << Join(step.labels);
    out << "\n";
    out << "   retries:   " << step.retries;
    if (step.retries > 0) out << " (backoff " << FormatDurationMs(step.retry_backoff_ms) << ")";
    out << "; timeout " << (step.timeout_ms > 0 ? FormatDurationMs(step.timeout_ms) : "none")
        << "\n";
    if (step.gate)
      out << "   gate:      " << step.gate_text << "  (metrics " << step.metrics << ")\n";
    if (!view.gated_by.empty()) {
      out << "   runs only if the gate" << (view.gated_by.size() > 1 ? "s" : "") << " of "
          << Join(view.gated_by) << " pass" << (view.gated_by.size() > 1 ? "" : "es") << "\n";
    }
    out << DescribeAlerts(step.alerts);
    if (!step.cache) {
      out << "   cache:     off" << (step.kind == StepKind::kDeploy ? " (deploy step)" : "")
          << "\n";
      continue;
    }
    out << "   cache key: ";
    out << (view.cache_key ? *view.cache_key : "known when upstream outputs exist") << "\n";
    std::vector<std::string> params;
    for (const auto& [name, value] : view.key_inputs.params)
      params.push_back(name + "=" + value.text);
    std::vector<std::string> env_names;
    for (const auto& [name, value] : view.key_inputs.env) env_names.push_back(name);
    size_t input_count = view.key_inputs.input_digests.size();
    out << "     from command, env {" << Join(env_names) << "}, params {" << Join(params) << "}, "
        << input_count << " input digest" << (input_count == 1 ? "" : "s") << ", cache_version '"
        << view.key_inputs.cache_version << "'\n";
  }
  return out.str();
}


std::string FormatDagJson(const LoadedDag& loaded, const std::vector<StepView>& views) {
  const Dag& dag = *loaded.dag;
  JsonWriter json;
  json.BeginObject();
  json.Field("name", dag.name).Field("file", dag.file).Field("description", dag.description);
  json.Field("workspace", loaded.workspace_root);
  json.Key("params").BeginObject();
  for (const auto& [name, value] : dag.params) {
    json.Key(name).BeginObject();
    WriteParamValue(json.Key("value"), value);
    json.Field("text", value.text).Field("type", ParamTypeName(value.type)).EndObject();
  }
  json.EndObject();
  WriteAlerts(json, dag.alerts);
  json.Key("steps").BeginArray();
  for (const StepView& view : views) {
    const Step& step = *view.step;
    json.BeginObject();
    json.Field("name", step.name).Field("kind", StepKindName(step.kind));
    json.Field("description", step.description);
    json.Field("layer", view.layer);
    json.Field("run", step.run).Field("command", view.command);
    json.StringArray("upstream", view.upstream);
    json.Key("edges").BeginArray();
    for (const DagEdge& edge : loaded.graph.upstream[view.index]) {
      json.BeginObject().Field("from", dag.steps[edge.from].name);
      json.Field("reason", edge.reason == DagEdge::Reason::kNeeds ? "needs" : "input");
      if (edge.reason == DagEdge::Reason::kInput) json.Field("path", edge.path);
      json.EndObject();
    }
    json.EndArray();
    json.Key("inputs").BeginArray();
    for (const InputView& input : view.inputs) {
      json.BeginObject().Field("path", input.path);
      if (input.producers.empty()) {
        json.Field("source", "workspace");
        if (!input.digest.empty()) json.Field("digest", input.digest);
        if (!input.digest_error.empty()) json.Field("error", input.digest_error);
      } else {
        json.Field("source", "step").StringArray("producers", input.producers);
      }
      json.EndObject();
    }
    json.EndArray();
    json.StringArray("outputs", step.outputs);
    json.StringArray("needs", step.needs);
    json.Key("env").BeginObject();
    for (const auto& [name, value] : view.env) json.Field(name, value);
    json.EndObject();
    json.Key("resources").BeginObject();
    json.Key("cpus").Double(step.resources.cpus);
    json.Field("memory_bytes", step.resources.memory_bytes).Field("gpus", step.resources.gpus);
    json.EndObject();
    json.StringArray("labels", step.labels);
    json.Field("retries", step.retries).Field("retry_backoff_ms", step.retry_backoff_ms);
    json.Field("timeout_ms", step.timeout_ms);
    json.Field("cache", step.cache).Field("cache_version", step.cache_version);
    if (!step.metrics.empty()) json.Field("metrics", step.metrics);
    if (step.gate) json.Field("gate", step.gate_text);
    json.StringArray("gated_by", view.gated_by);
    json.StringArray("params", step.visible_params);
    WriteAlerts(json, step.alerts);
    json.Key("cache_key_inputs").BeginObject();
    json.Field("version", static_cast<int64_t>(kCacheKeyVersion));
    json.Field("command", view.key_inputs.command);
    json.Key("env").BeginObject();
    for (const auto& [name, value] : view.key_inputs.env) json.Field(name, value);
    json.EndObject();
    json.Key("params").BeginObject();
    for (const auto& [name, value] : view.key_inputs.params) json.Field(name, value.text);
    json.EndObject();
    json.Key("inputs").BeginObject();
    for (const auto& [path, digest] : view.key_inputs.input_digests) json.Field(path, digest);
    json.EndObject();
    json.Field("cache_version", view.key_inputs.cache_version);
    json.EndObject();
    if (view.cache_key) {
      json.Field("cache_key", *view.cache_key);
    } else {
      json.Key("cache_key").Null();
    }
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.str() + "\n";
}

}  // namespace receta::cli
