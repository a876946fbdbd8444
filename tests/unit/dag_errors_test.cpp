// What a user sees for a broken DAG file: every case is a small DAG written
// inline and the exact "file:line:col: error: message" lines it must produce.
// Also the file as an attack or an accident: alias bombs, deep nesting,
// huge files, NUL bytes, and every truncation of a real DAG.

#include <doctest/doctest.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/dag/dag_load.h"
#include "tests/unit/test_files.h"

using receta::LoadDagText;
using receta::LoadedDag;
using receta::MemoryFileSystem;
using receta::ParseOptions;
using receta::testing::TempDir;

namespace {

/// The files every case's workspace holds.
MemoryFileSystem Workspace() {
  MemoryFileSystem fs;
  for (const char* path : {"src/prepare.py", "src/train.py", "data/raw.csv", "data/labels.csv"}) {
    fs.AddFile(path);
  }
  return fs;
}

/// Cases are written as R"(...)" starting on the line after the opening
/// quote, so line numbers in the expectations match the text as read.
std::string Dedent(const char* text) {
  std::string yaml = text;
  if (!yaml.empty() && yaml.front() == '\n') yaml.erase(0, 1);
  return yaml;
}

LoadedDag Load(const std::string& yaml, const ParseOptions& options = {}) {
  return LoadDagText(yaml, "bad.yaml", options, Workspace());
}

struct ErrorCase {
  const char* name;
  const char* yaml;
  /// The whole of Diagnostics::Format(): one line per error, sorted by position.
  const char* expected_errors;
  std::vector<std::pair<std::string, std::string>> param_overrides = {};
};

const std::vector<ErrorCase>& ErrorCases() {
  static const std::vector<ErrorCase> kCases = {
      // --- the shape of the file -----------------------------------------
      {"TwoYamlDocuments", R"(
steps:
  a: {run: echo a, inputs: [data/raw.csv]}
---
steps:
  b: {run: echo b}
)",
       "bad.yaml:4:1: error: the file holds more than one YAML document (a second starts here, "
       "after '---'); put each DAG in its own file\n"},
      {"TabIndentation", "steps:\n  a:\n\trun: echo a\n",
       "bad.yaml:3:2: error: invalid YAML: end of map not found; line 3 is indented with a tab, "
       "and YAML indentation must use spaces\n"},
      {"GlobInInputs", R"(
steps:
  a:
    run: cat data/*.csv
    inputs: [data/*.csv]
)",
       "bad.yaml:4:14: error: `inputs` of step 'a': 'data/*.csv' is a glob, and receta does not "
       "expand globs in inputs and outputs; list each file, or name the directory that holds "
       "them\n"},
      {"UndefinedParamsInAlertTemplates", R"(
params: {date: today}
alerts:
  - on: [failure]
    webhook: "http://hooks.local/x?d={{params.dat}}"
steps:
  a:
    run: echo a
    inputs: [data/raw.csv]
    alerts:
      - on: [failure]
        command: "notify {{parms.x}}"
)",
       "bad.yaml:4:38: error: `webhook` of an alert in the DAG's `alerts` uses {{params.dat}}, but "
       "the DAG has no param 'dat' (did you mean 'date'?); declare it under `params:` with a "
       "default\n"
       "bad.yaml:11:26: error: `command` of an alert in `alerts` of step 'a': unknown template "
       "variable 'parms.x'; use params.NAME, run.id or step.name (did you mean 'params.x'?)\n"},
      {"DurationSpelledOut", R"(
steps:
  a:
    run: echo a
    inputs: [data/raw.csv]
    timeout: 30 minutes
)",
       "bad.yaml:5:16: error: `timeout` of step 'a': '30 minutes': remove the spaces; write a "
       "duration without them, e.g. 30m\n"},
      {"EmptyFile", "",
       "bad.yaml:1:1: error: the DAG is empty; write at least `steps:` with one step (`receta dag "
       "schema` prints the format)\n"},
      {"OnlyAComment", R"(
# TODO: write the pipeline
)",
       "bad.yaml:1:1: error: the DAG is empty; write at least `steps:` with one step (`receta dag "
       "schema` prints the format)\n"},
      {"FileIsAList", R"(
- prepare
- train
)",
       "bad.yaml:1:1: error: a DAG file must be a map with `steps:` (and optionally name, params, "
       "defaults, alerts), got a list\n"},
      {"MissingSteps", R"(
name: iris
description: no steps yet
)",
       "bad.yaml:1:1: error: the DAG has no `steps:`; add at least one step, e.g. steps: {hello: "
       "{run: echo hello}}\n"},
      {"EmptyStepsMap", R"(
name: iris
steps: {}
)",
       "bad.yaml:2:8: error: `steps` is empty; a DAG needs at least one step\n"},
      {"StepsWithNoValue", R"(
name: iris
steps:
)",
       "bad.yaml:3:1: error: `steps` is empty; a DAG needs at least one step\n"},
      {"StepsAsAList", R"(
steps:
  - run: echo
)",
       "bad.yaml:2:3: error: `steps` must be a map of step names to steps (name: {run: ...}), not "
       "a list\n"},
      {"UnknownTopLevelKeySuggestsSteps", R"(
stpes:
  hello: {run: echo hello}
)",
       // Both are true: the typo is unknown, and so the DAG has no steps.
       "bad.yaml:1:1: error: unknown key 'stpes' in the top level of the DAG; did you mean "
       "'steps'?\n"
       "bad.yaml:1:1: error: the DAG has no `steps:`; add at least one step, e.g. steps: {hello: "
       "{run: echo hello}}\n"},
      {"UnknownTopLevelKeyWithNothingCloseListsValidKeys", R"(
owner: ml-team
steps:
  hello: {run: echo hello}
)",
       "bad.yaml:1:1: error: unknown key 'owner' in the top level of the DAG; valid keys are: "
       "name, description, params, defaults, alerts, steps\n"},

      // --- YAML syntax ---------------------------------------------------
      {"UnclosedFlowListReportsWhereYamlNoticed", R"(
steps:
  prepare:
    run: echo
    inputs: [src/prepare.py
  train:
    run: echo
)",
       "bad.yaml:5:8: error: invalid YAML: end of sequence flow not found; close the list with "
       "']'\n"},
      {"BadIndentation", R"(
steps:
  prepare:
    run: echo
   retries: 1
)",
       "bad.yaml:4:4: error: invalid YAML: end of map not found; check the indentation of this "
       "line and the one above (use spaces, not tabs)\n"},
      {"UnterminatedQuoteSwallowingTheRestOfTheFile", R"(
steps:
  prepare:
    run: "python3 src/prepare.py
  train:
    run: echo
)",
       "bad.yaml:3:10: error: invalid YAML: this quoted string has no closing \", so it runs to "
       "the end of the file; add the closing quote\n"},
      {"TemplateInFlowListMustBeQuoted", R"(
params: {split: a}
steps:
  prepare:
    run: echo
    outputs: [data/{{params.split}}.csv]
)",
       "bad.yaml:5:20: error: invalid YAML: end of sequence flow not found; a value with {{...}} "
       "that starts with {{ or sits inside [...] must be quoted, e.g. "
       "[\"out/{{params.name}}.csv\"]\n"},
      {"UndefinedAlias", R"(
steps:
  prepare:
    run: echo
    env: *common_env
)",
       "bad.yaml:4:10: error: invalid YAML: the referenced anchor is not defined; define the "
       "anchor (&name) before the alias (*name) that uses it\n"},

      // --- steps and their keys -----------------------------------------
      {"DuplicateStepName", R"(
steps:
  train:
    run: python3 src/train.py
  train:
    run: python3 src/train.py --fast
)",
       "bad.yaml:4:3: error: 'train' appears twice in `steps` (first at line 2); remove or rename "
       "one of them\n"},
      {"DuplicateKeyInStep", R"(
steps:
  train:
    run: python3 src/train.py
    run: python3 src/train.py --fast
)",
       "bad.yaml:4:5: error: 'run' appears twice in step 'train' (first at line 3); remove or "
       "rename one of them\n"},
      {"UnknownStepKeySuggestsOutputs", R"(
steps:
  prepare:
    run: echo
    ouputs: [data/train.csv]
)",
       "bad.yaml:4:5: error: unknown key 'ouputs' in step 'prepare'; did you mean 'outputs'?\n"},
      {"MissingRun", R"(
steps:
  prepare:
    inputs: [src/prepare.py]
)",
       "bad.yaml:2:3: error: step 'prepare' has no `run:`; give the shell command it runs\n"},
      {"EmptyRun", R"(
steps:
  prepare:
    run: "  "
)",
       "bad.yaml:3:10: error: `run` of step 'prepare' is empty; give the shell command the step "
       "runs\n"},
      {"StepIsAStringNotAMap", R"(
steps:
  prepare: python3 src/prepare.py
)",
       "bad.yaml:2:12: error: step 'prepare' must be a map with at least `run:`, got 'python3 "
       "src/prepare.py'\n"},
      {"InvalidStepName", R"(
steps:
  -prepare: {run: echo}
)",
       "bad.yaml:2:3: error: step name '-prepare' may only use letters, digits, '_', '-' and '.', "
       "and must not start with '-' or '.'\n"},
      {"UnknownKindSuggestsTrain", R"(
steps:
  fit:
    kind: trian
    run: echo
)",
       "bad.yaml:3:11: error: `kind` of step 'fit' is 'trian' (did you mean 'train'?); use one "
       "of: data-prep, train, evaluate, deploy\n"},

      // --- wrong types ---------------------------------------------------
      {"RetriesAsWord", R"(
steps:
  train:
    run: echo
    retries: three
)",
       "bad.yaml:4:14: error: `retries` of step 'train' must be an integer from 0 to 100, got "
       "'three'\n"},
      {"RetryOnNotAnExitCode", R"(
steps:
  train:
    run: echo
    retry_on: [1, 256, oom]
)",
       "bad.yaml:4:19: error: '256' in `retry_on` of step 'train' is neither an exit code (1 to 255) "
       "nor `timeout`; write e.g. retry_on: [1, 137, timeout]\n"
       "bad.yaml:4:24: error: 'oom' in `retry_on` of step 'train' is neither an exit code (1 to 255) "
       "nor `timeout`; write e.g. retry_on: [1, 137, timeout]\n"},
      {"RetryOnInDefaultsAsMap", R"(
defaults:
  retry_on: {code: 1}
steps:
  train:
    run: echo
)",
       "bad.yaml:2:13: error: `retry_on` in `defaults` must be a list of strings, got a map\n"},
      {"InputsAsMap", R"(
steps:
  train:
    run: echo
    inputs: {data: data/raw.csv}
)",
       "bad.yaml:4:13: error: `inputs` of step 'train' must be a list of strings, got a map\n"},
      {"InputEntryAsMap", R"(
steps:
  train:
    run: echo
    inputs:
      - data/raw.csv
      - {path: data/labels.csv}
)",
       "bad.yaml:6:9: error: each entry of `inputs` of step 'train' must be a string, got a "
       "map\n"},
      {"RunAsList", R"(
steps:
  train:
    run: [python3, src/train.py]
)",
       "bad.yaml:3:10: error: `run` of step 'train' must be a string, got a list\n"},
      {"CacheMaybe", R"(
steps:
  train:
    run: echo
    cache: maybe
)",
       "bad.yaml:4:12: error: `cache` of step 'train' must be true or false, got 'maybe'\n"},
      {"NegativeCpus", R"(
steps:
  train:
    run: echo
    resources: {cpus: -1}
)",
       "bad.yaml:4:23: error: `cpus` in `resources` of step 'train' must be more than 0, got "
       "'-1'\n"},
      {"ZeroCpusInDefaults", R"(
defaults:
  resources: {cpus: 0}
steps:
  train: {run: echo}
)",
       "bad.yaml:2:21: error: `cpus` in `defaults.resources` must be more than 0, got '0'\n"},
      {"UnknownResourceKeySuggestsGpus", R"(
steps:
  train:
    run: echo
    resources: {gpu: 1}
)",
       "bad.yaml:4:17: error: unknown key 'gpu' in `resources` of step 'train'; did you mean "
       "'gpus'?\n"},
      {"TimeoutWithoutUnitAndUnknownUnit", R"(
steps:
  train:
    run: echo
    timeout: 10
    retry_backoff: 5x
)",
       "bad.yaml:4:14: error: `timeout` of step 'train': '10' has no unit; write 10s, 10m or "
       "10h\n"
       "bad.yaml:5:21: error: `retry_backoff` of step 'train': '5x': unknown unit 'x'; use ms, s, "
       "m, h or d\n"},
      {"ZeroTimeout", R"(
defaults:
  timeout: 0s
steps:
  train: {run: echo}
)",
       "bad.yaml:2:12: error: `timeout` in `defaults` must be longer than 0; leave it out for no "
       "timeout\n"},
      {"MemoryLots", R"(
steps:
  train:
    run: echo
    resources: {memory: lots}
)",
       "bad.yaml:4:25: error: `memory` in `resources` of step 'train': 'lots' is not a size; "
       "write a number with an optional unit, e.g. 512M or 2G\n"},
      {"BadEnvVarNames", R"(
steps:
  train:
    run: echo
    env: {1ST_TRY: x, GOOD_NAME: y, "LEARNING-RATE": z}
)",
       "bad.yaml:4:11: error: '1ST_TRY' in `env` of step 'train' is not a valid environment "
       "variable name; use letters, digits and '_', not starting with a digit\n"
       "bad.yaml:4:37: error: 'LEARNING-RATE' in `env` of step 'train' is not a valid environment "
       "variable name; use letters, digits and '_', not starting with a digit\n"},
      {"EnvValueIsAList", R"(
steps:
  train:
    run: echo
    env: {PATHS: [a, b]}
)",
       "bad.yaml:4:18: error: 'PATHS' in `env` of step 'train' must be a string or a number, got "
       "a list\n"},
      {"ParamDefaultIsAList", R"(
params:
  seeds: [1, 2, 3]
steps:
  train: {run: echo}
)",
       "bad.yaml:2:10: error: param 'seeds' must have a string, number or boolean default, got a "
       "list\n"},

      // --- edges and cycles ----------------------------------------------
      {"CycleOfThreeThroughFiles", R"(
steps:
  a:
    run: echo
    inputs: [c.txt]
    outputs: [a.txt]
  b:
    run: echo
    inputs: [a.txt]
    outputs: [b.txt]
  c:
    run: echo
    inputs: [b.txt]
    outputs: [c.txt]
)",
       "bad.yaml:2:3: error: the steps form a cycle: a -> b -> c -> a (b reads 'a.txt' from a; c "
       "reads 'b.txt' from b; a reads 'c.txt' from c); a step cannot wait for its own result, so "
       "remove one of these dependencies\n"},
      {"CycleThroughNeeds", R"(
steps:
  train:
    run: echo
    needs: [evaluate]
  evaluate:
    run: echo
    needs: [train]
)",
       "bad.yaml:2:3: error: the steps form a cycle: train -> evaluate -> train (evaluate needs; "
       "train needs); a step cannot wait for its own result, so remove one of these "
       "dependencies\n"},
      {"NeedsItself", R"(
steps:
  train:
    run: echo
    needs: [train]
)",
       "bad.yaml:4:13: error: step 'train' lists itself in `needs`; a step cannot wait for "
       "itself, remove it\n"},
      {"ReadsItsOwnOutput", R"(
steps:
  train:
    run: echo
    inputs: [model/last.pkl]
    outputs: [model]
)",
       "bad.yaml:4:14: error: step 'train' reads 'model/last.pkl', which it also writes as an "
       "output; a step cannot depend on itself: give the output another name or remove the "
       "input\n"},
      {"NeedsUnknownStepSuggests", R"(
steps:
  prepare:
    run: echo
  train:
    run: echo
    needs: [prepaer]
)",
       "bad.yaml:6:13: error: step 'train' needs 'prepaer', which is not a step (did you mean "
       "'prepare'?); the steps are defined under `steps:`\n"},

      // --- outputs and inputs --------------------------------------------
      {"TwoStepsWriteTheSameOutput", R"(
steps:
  train_a:
    run: echo
    outputs: [model/model.pkl]
  train_b:
    run: echo
    outputs: [./model//model.pkl]
)",
       "bad.yaml:7:15: error: steps 'train_a' and 'train_b' both write 'model/model.pkl'; each "
       "output must have one producer, so rename one (e.g. train_b/model/model.pkl)\n"},
      {"OutputListedTwiceInOneStep", R"(
steps:
  train:
    run: echo
    outputs: [model.pkl, model.pkl]
)",
       "bad.yaml:4:26: error: step 'train' lists output 'model.pkl' twice; remove one\n"},
      {"OutputInsideAnotherStepsDirectory", R"(
steps:
  prepare:
    run: echo
    outputs: [data/split]
  augment:
    run: echo
    outputs: [data/split/extra.csv]
)",
       "bad.yaml:7:15: error: output 'data/split/extra.csv' of step 'augment' lies inside output "
       "'data/split' of step 'prepare'; a directory output belongs to one step, so move one of "
       "them elsewhere\n"},
      {"OutputInsideItsOwnDirectoryOutput", R"(
steps:
  train:
    run: echo
    outputs: [model, model/model.pkl]
)",
       "bad.yaml:4:22: error: step 'train' lists output 'model/model.pkl' inside its own output "
       "'model'; list only 'model'\n"},
      {"InputNowhereSuggestsNearbyFile", R"(
steps:
  prepare:
    run: echo
    inputs: [data/raw.cvs]
)",
       "bad.yaml:4:14: error: input 'data/raw.cvs' of step 'prepare' is neither a file in the "
       "workspace nor an output of any step (did you mean 'data/raw.csv'?); create it, fix the "
       "path, or add the step that writes it\n"},
      {"InputNowhereSuggestsUpstreamOutput", R"(
steps:
  prepare:
    run: echo
    outputs: [data/train.csv]
  train:
    run: echo
    inputs: [data/trian.csv]
)",
       "bad.yaml:7:14: error: input 'data/trian.csv' of step 'train' is neither a file in the "
       "workspace nor an output of any step (did you mean 'data/train.csv'?); create it, fix the "
       "path, or add the step that writes it\n"},
      {"AbsolutePath", R"(
steps:
  prepare:
    run: echo
    inputs: [/etc/passwd]
)",
       "bad.yaml:4:14: error: `inputs` of step 'prepare': '/etc/passwd' is absolute; paths must be "
       "relative to the DAG file's directory (the workspace), so the pipeline runs the same on "
       "every machine\n"},
      {"DotDotLeavesTheWorkspace", R"(
steps:
  prepare:
    run: echo
    outputs: [data/../../secrets.txt]
)",
       "bad.yaml:4:15: error: `outputs` of step 'prepare': 'data/../../secrets.txt' leads outside "
       "the workspace through '..'; steps may only read and write inside the DAG file's "
       "directory\n"},
      {"HomePath", R"(
steps:
  prepare:
    run: echo
    inputs: [~/data.csv]
)",
       "bad.yaml:4:14: error: `inputs` of step 'prepare': '~/data.csv' starts with ~, which "
       "receta does not expand; use a path relative to the DAG file's directory\n"},
      {"PathNamingTheWholeWorkspace", R"(
steps:
  prepare:
    run: echo
    outputs: [./]
)",
       "bad.yaml:4:15: error: `outputs` of step 'prepare': './' names the whole workspace; name "
       "the files or directories inside it\n"},

      // --- gates and metrics ---------------------------------------------
      {"GateSyntaxErrorAtTheBadToken", R"(
steps:
  evaluate:
    run: echo
    outputs: [eval/metrics.json]
    metrics: eval/metrics.json
    gate: accuracy >= 0.9 and and f1 > 0.8
)",
       "bad.yaml:6:31: error: `gate` of step 'evaluate' is not a valid gate: expected a metric "
       "name or '(' after 'and', got 'and'\n"},
      {"GateSyntaxErrorInQuotedGate", R"(
steps:
  evaluate:
    run: echo
    outputs: [eval/metrics.json]
    metrics: eval/metrics.json
    gate: "accuracy >= high"
)",
       "bad.yaml:6:24: error: `gate` of step 'evaluate' is not a valid gate: expected a number "
       "after '>=', got 'high'\n"},
      {"GateWithoutMetrics", R"(
steps:
  evaluate:
    run: echo
    gate: accuracy >= 0.9
)",
       "bad.yaml:4:11: error: step 'evaluate' has a `gate` but no `metrics`; add `metrics: PATH` "
       "naming the JSON file the step writes, with the metrics the gate reads\n"},
      {"MetricsNotAmongOutputs", R"(
steps:
  evaluate:
    run: echo
    outputs: [eval/report.html]
    metrics: eval/metrics.json
)",
       "bad.yaml:5:14: error: `metrics` of step 'evaluate' is 'eval/metrics.json', which is not "
       "among its outputs; add it to `outputs` so receta collects it\n"},

      // --- params and templates ------------------------------------------
      {"UndefinedParamSuggests", R"(
params: {seed: 42}
steps:
  train:
    run: python3 src/train.py --seed {{params.seeed}}
)",
       "bad.yaml:4:38: error: `run` of step 'train' uses {{params.seeed}}, but the DAG has no "
       "param 'seeed' (did you mean 'seed'?); declare it under `params:` with a default\n"},
      {"UnknownTemplateNamespace", R"(
params: {x: 1}
steps:
  train:
    run: echo {{parms.x}}
)",
       "bad.yaml:4:15: error: `run` of step 'train': unknown template variable 'parms.x'; use "
       "params.NAME, run.id or step.name (did you mean 'params.x'?)\n"},
      {"RunIdInOutputPath", R"(
steps:
  train:
    run: echo
    outputs: ["model/{{run.id}}/model.pkl"]
)",
       "bad.yaml:4:22: error: `outputs` of step 'train': paths cannot use {{run.id}}, because a "
       "path that changes every run can never be cached or found by the next step; use "
       "{{params.NAME}} or a fixed path\n"},
      {"UndefinedParamInEnv", R"(
steps:
  train:
    run: echo
    env: {SEED: "{{params.seed}}"}
)",
       "bad.yaml:4:18: error: 'SEED' in `env` of step 'train' uses {{params.seed}}, but the DAG "
       "has no param 'seed'; declare it under `params:` with a default\n"},
      {"OverrideOfWrongType",
       R"(
params: {seed: 42}
steps:
  train:
    run: echo {{params.seed}}
)",
       "bad.yaml: error: -p seed=abc: param 'seed' is an integer, and 'abc' is not; give an "
       "integer like its default, -p seed=42\n",
       {{"seed", "abc"}}},
      {"UnknownOverrideSuggests",
       R"(
params: {seed: 42}
steps:
  train:
    run: echo {{params.seed}}
)",
       "bad.yaml: error: -p sede=7: the DAG has no param 'sede'; did you mean 'seed'?\n",
       {{"sede", "7"}}},
      {"OverrideWhenTheDagHasNoParams",
       R"(
steps:
  train:
    run: echo
)",
       "bad.yaml: error: -p seed=7: the DAG has no param 'seed'; it declares no params (add them "
       "under `params:`)\n",
       {{"seed", "7"}}},
      {"StepParamsListLeavesOutAReferencedParam", R"(
params: {seed: 42, lr: 0.1}
steps:
  train:
    run: python3 src/train.py --seed {{params.seed}} --lr {{params.lr}}
    params: [seed]
)",
       "bad.yaml:5:13: error: step 'train' uses {{params.lr}} but its `params` list leaves 'lr' "
       "out; add it, so changing it reruns the step\n"},
      {"StepParamsListNamesAnUnknownParam", R"(
params: {seed: 42}
steps:
  train:
    run: echo
    params: [sed]
)",
       "bad.yaml:5:14: error: `params` of step 'train' lists 'sed', which is not a DAG param (did "
       "you mean 'seed'?); declare it under the top-level `params:`\n"},

      // --- alerts --------------------------------------------------------
      {"AlertWithUnknownEvent", R"(
alerts:
  - on: [failure, gate_fail]
    webhook: http://127.0.0.1:9000/hook
steps:
  train: {run: echo}
)",
       "bad.yaml:2:19: error: 'gate_fail' is not an alert event (did you mean 'gate_failed'?); use "
       "one of: failure, retry, gate_failed, success, worker_lost, timeout\n"},
      {"AlertWithNeitherWebhookNorCommand", R"(
alerts:
  - on: [failure]
steps:
  train: {run: echo}
)",
       "bad.yaml:2:5: error: an alert in the DAG's `alerts` needs exactly one of `webhook:` (a "
       "URL) or `command:` (a shell command)\n"},
      {"StepAlertWithBothSinksAndNoEvents", R"(
steps:
  train:
    run: echo
    alerts:
      - webhook: https://hooks.example.com/x
        command: notify-send failed
)",
       "bad.yaml:5:9: error: an alert in `alerts` of step 'train' has no `on:`; list the events "
       "that raise it, e.g. on: [failure, gate_failed]\n"
       "bad.yaml:5:9: error: an alert in `alerts` of step 'train' needs exactly one of `webhook:` "
       "(a URL) or `command:` (a shell command)\n"},
      {"AlertWebhookNotHttp", R"(
alerts:
  - on: [failure]
    webhook: ftp://example.com/hook
steps:
  train: {run: echo}
)",
       "bad.yaml:3:14: error: `webhook` of an alert in the DAG's `alerts` is "
       "'ftp://example.com/hook', which is not an http:// or https:// URL; give the URL that "
       "receives the alert as JSON\n"},

      // --- many mistakes at once -----------------------------------------
      {"MultipleErrorsAreAllReported", R"(
name: demo
stpes: 1
params: {seed: 42}
steps:
  prepare:
    kind: trian
    run: echo {{params.sed}}
    retries: many
    outputs: [/tmp/out.csv]
  train:
    ouputs: [model.pkl]
    needs: [prepair]
    timeout: 5x
)",
       "bad.yaml:2:1: error: unknown key 'stpes' in the top level of the DAG; did you mean "
       "'steps'?\n"
       "bad.yaml:6:11: error: `kind` of step 'prepare' is 'trian' (did you mean 'train'?); use "
       "one of: data-prep, train, evaluate, deploy\n"
       "bad.yaml:7:15: error: `run` of step 'prepare' uses {{params.sed}}, but the DAG has no "
       "param 'sed' (did you mean 'seed'?); declare it under `params:` with a default\n"
       "bad.yaml:8:14: error: `retries` of step 'prepare' must be an integer from 0 to 100, got "
       "'many'\n"
       "bad.yaml:9:15: error: `outputs` of step 'prepare': '/tmp/out.csv' is absolute; paths must "
       "be relative to the DAG file's directory (the workspace), so the pipeline runs the same on "
       "every machine\n"
       "bad.yaml:10:3: error: step 'train' has no `run:`; give the shell command it runs\n"
       "bad.yaml:11:5: error: unknown key 'ouputs' in step 'train'; did you mean 'outputs'?\n"
       "bad.yaml:12:13: error: step 'train' needs 'prepair', which is not a step (did you mean "
       "'prepare'?); the steps are defined under `steps:`\n"
       "bad.yaml:13:15: error: `timeout` of step 'train': '5x': unknown unit 'x'; use ms, s, m, h "
       "or d\n"},
  };
  return kCases;
}

}  // namespace

TEST_CASE("DagErrors.ReportsExactLinesForEveryMalformedDag") {
  CHECK(ErrorCases().size() >= 30);
  for (const ErrorCase& error_case : ErrorCases()) {
    SUBCASE(error_case.name) {
      ParseOptions options;
      options.param_overrides = error_case.param_overrides;
      LoadedDag loaded = Load(Dedent(error_case.yaml), options);
      INFO("case " << std::string(error_case.name));
      CHECK_FALSE(loaded.ok());
      CHECK(loaded.diagnostics.Format() == error_case.expected_errors);
    }
  }
}

TEST_CASE("DagErrors.EveryMessageSaysWhatToDo") {
  // DESIGN.md "Errors": what was wrong, where, and what to do. A message
  // either gives the fix after "; " or states what is expected instead.
  for (const ErrorCase& error_case : ErrorCases()) {
    std::istringstream lines(error_case.expected_errors);
    for (std::string line; std::getline(lines, line);) {
      INFO(std::string(error_case.name) << ": " << line);
      CHECK(line.rfind("bad.yaml", 0) == 0);
      std::string message = line.substr(line.find(": error: ") + 9);
      CHECK((message.find("; ") != std::string::npos ||
             message.find(" must ") != std::string::npos ||
             message.find("expected ") != std::string::npos ||
             message.find(" needs ") != std::string::npos));
    }
  }
}

// --- robustness: hostile or broken files ---------------------------------

namespace {

long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(RECETA_SOURCE_DIR) + "/" + relative, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << relative);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TEST_CASE("DagErrors.RejectsAliasBombQuicklyInLittleMemory") {
  // "Billion laughs": 10 levels of 10 aliases each expand to 10^10 nodes.
  std::string yaml = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 9; ++level) {
    std::string previous = "*a" + std::to_string(level - 1);
    yaml += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", " : "") + previous;
    yaml += "]\n";
  }
  yaml += "steps:\n  x:\n    run: echo\n    env: *a9\n";
  REQUIRE(yaml.size() < 1024);

  long rss_before_kb = PeakRssKb();
  auto start = std::chrono::steady_clock::now();
  LoadedDag loaded = Load(yaml);
  auto elapsed = std::chrono::steady_clock::now() - start;

  CHECK(loaded.diagnostics.Format() ==
        "bad.yaml: error: the document expands to more than 4000000 nodes (a YAML alias "
        "bomb?); a DAG this large cannot be right, so receta refuses it\n");
  CHECK_FALSE(loaded.dag.has_value());
  // Generous bounds: the walk stops after 4M nodes (well under a second in
  // a release build); expanding it would take hours and terabytes.
  CHECK(elapsed < std::chrono::seconds(20));
  CHECK(PeakRssKb() - rss_before_kb < 64 * 1024);
}

TEST_CASE("DagErrors.AliasLimitComesFromParseOptions") {
  ParseOptions options;
  options.limits.max_expanded_nodes = 50;
  std::string yaml =
      "x: &x [a, b, c, d, e, f, g, h, i, j]\ny: [*x, *x, *x, *x, *x, *x]\n"
      "steps: {s: {run: echo}}\n";
  CHECK(Load(yaml, options).diagnostics.Format() ==
        "bad.yaml: error: the document expands to more than 50 nodes (a YAML alias bomb?); a "
        "DAG this large cannot be right, so receta refuses it\n");
  CHECK(Load(yaml).diagnostics.Format() ==
        "bad.yaml:1:1: error: unknown key 'x' in the top level of the DAG; valid keys are: name, "
        "description, params, defaults, alerts, steps\n"
        "bad.yaml:2:1: error: unknown key 'y' in the top level of the DAG; valid keys are: name, "
        "description, params, defaults, alerts, steps\n");
}

TEST_CASE("DagErrors.RejectsDeepNestingWithoutCrashing") {
  const int kDepth = 10'000;
  std::vector<std::pair<std::string, std::string>> documents = {
      {"flow sequences", std::string(kDepth, '[') + std::string(kDepth, ']') + "\n"},
      {"unclosed flow sequences", "steps: " + std::string(kDepth, '[') + "\n"},
      {"flow maps",
       [&] {
         std::string text = "steps: ";
         for (int i = 0; i < kDepth; ++i) text += "{a: ";
         return text + "1" + std::string(kDepth, '}') + "\n";
       }()},
      {"block sequences",
       [&] {
         std::string text;
         for (int i = 0; i < kDepth; ++i) text += "- ";
         return text + "x\n";
       }()},
  };
  for (const auto& [what, yaml] : documents) {
    INFO(what);
    LoadedDag loaded = Load(yaml);
    REQUIRE(loaded.diagnostics.size() == 1);
    CHECK(loaded.diagnostics.items()[0].message.find("nested") != std::string::npos);
    CHECK_FALSE(loaded.dag.has_value());
  }
}

TEST_CASE("DagErrors.RejectsBlockNestingDeeperThanTheLimit") {
  std::string yaml;
  for (int i = 0; i < 100; ++i) yaml += std::string(2 * i, ' ') + "k" + std::to_string(i) + ":\n";
  CHECK(Load(yaml).diagnostics.Format() ==
        "bad.yaml: error: the document is nested deeper than 64 levels; a DAG is never this "
        "deep, check the indentation\n");
}

TEST_CASE("DagErrors.RejectsTextLargerThanTheLimit") {
  ParseOptions options;
  options.limits.max_bytes = 64;
  std::string yaml = "steps:\n  hello:\n    run: echo hello\n";
  CHECK(Load(yaml, options).ok());
  yaml += "    description: " + std::string(64, 'x') + "\n";
  CHECK(Load(yaml, options).diagnostics.Format() ==
        "bad.yaml: error: the file is " + std::to_string(yaml.size()) +
            " bytes, more than the 64 a DAG may have; is this the right file?\n");
}

TEST_CASE("DagErrors.RejectsFileLargerThanTheLimitBeforeReadingIt") {
  TempDir dir;
  std::string path = dir.Write(
      "large.yaml", "steps:\n  hello:\n    run: echo hello\n# " + std::string(200, 'x') + "\n");
  ParseOptions options;
  options.limits.max_bytes = 100;
  LoadedDag loaded = receta::LoadDagFile(path, options);
  CHECK(loaded.diagnostics.Format() ==
        path +
            ": error: the file is 239 bytes, more than the 100 a DAG may have; is this the "
            "right file?\n");
}

TEST_CASE("DagErrors.RejectsNulBytes") {
  std::string yaml = "steps:\n  hello:\n    run: echo hello\n";
  yaml.insert(10, 1, '\0');
  CHECK(Load(yaml).diagnostics.Format() ==
        "bad.yaml: error: the file contains NUL bytes, so it is not YAML text; is this the right "
        "file?\n");
}

TEST_CASE("DagErrors.TruncatedIrisNeverCrashes") {
  // As ninja's BuildLogTest.Truncate: every prefix of a real file must load
  // or fail cleanly; which it does is not the point.
  std::string iris = ReadSourceFile("dags/iris/iris.yaml");
  MemoryFileSystem workspace;
  for (const char* script : {"prepare", "train", "evaluate", "deploy", "iris_common"}) {
    workspace.AddFile(std::string("src/") + script + ".py");
  }
  size_t loaded_ok = 0;
  for (size_t length = 0; length <= iris.size(); ++length) {
    LoadedDag loaded = LoadDagText(iris.substr(0, length), "iris.yaml", {}, workspace);
    if (loaded.ok()) {
      ++loaded_ok;
      CHECK(loaded.graph.order.size() == loaded.dag->steps.size());
    } else {
      CHECK_FALSE(loaded.diagnostics.empty());
    }
  }
  // At least the whole file loads (and prefixes cut inside its last value).
  CHECK(loaded_ok >= 1);
  CHECK(LoadDagText(iris, "iris.yaml", {}, workspace).ok());
}

TEST_CASE("DagErrors.MergeKeysShareStepSettings") {
  LoadedDag loaded = Load(Dedent(R"(
defaults: &defaults
  retries: 2
  timeout: 10m
steps:
  prepare: &prepare
    <<: *defaults
    run: python3 src/prepare.py
    inputs: [src/prepare.py]
    retries: 5
  prepare_again:
    <<: *prepare
    outputs: [data/again.csv]
  train:
    <<: [*defaults, {kind: train, labels: [gpu]}]
    run: python3 src/train.py
)"));
  REQUIRE_MESSAGE(loaded.ok(), loaded.diagnostics.Format());
  const receta::Dag& dag = *loaded.dag;
  const receta::Step& prepare = dag.steps[dag.FindStep("prepare")];
  CHECK(prepare.retries == 5);  // written in the step: wins over the merge
  CHECK(prepare.timeout_ms == 600'000);
  const receta::Step& again = dag.steps[dag.FindStep("prepare_again")];
  CHECK(again.run == "python3 src/prepare.py");  // `run` arrives through `<<`
  CHECK(again.retries == 5);
  CHECK(again.inputs == std::vector<std::string>{"src/prepare.py"});
  CHECK(again.outputs == std::vector<std::string>{"data/again.csv"});
  const receta::Step& train = dag.steps[dag.FindStep("train")];
  CHECK(train.kind == receta::StepKind::kTrain);
  CHECK(train.retries == 2);
  CHECK(train.labels == std::vector<std::string>{"gpu"});
}

TEST_CASE("DagErrors.RetryOnIsInheritedFromDefaultsAndReadAsCodesAndTimeout") {
  receta::LoadedDag loaded = Load(R"(
defaults:
  retries: 2
  retry_on: [3, timeout]
steps:
  a:
    run: echo
  b:
    run: echo
    retry_on: 137
  c:
    run: echo
    retries: 1
)");
  REQUIRE_MESSAGE(loaded.ok(), loaded.diagnostics.Format());
  const receta::Dag& dag = *loaded.dag;
  CHECK(dag.steps[0].retry_on == receta::RetryOn{{3}, true});
  CHECK(dag.steps[1].retry_on == receta::RetryOn{{137}, false});
  CHECK(dag.steps[2].retry_on == receta::RetryOn{{3}, true});
  CHECK(dag.steps[2].retries == 1);
  CHECK(receta::RetryOn{}.any());
}

TEST_CASE("DagErrors.MergeKeysInAlertsCountTowardsRequiredKeys") {
  LoadedDag loaded = Load(Dedent(R"(
alerts:
  - &page {on: [failure], command: page-oncall}
  - <<: *page
    on: [gate_failed]
steps:
  train: {run: echo}
)"));
  REQUIRE_MESSAGE(loaded.ok(), loaded.diagnostics.Format());
  REQUIRE(loaded.dag->alerts.size() == 2);
  CHECK(loaded.dag->alerts[1].on == std::vector<std::string>{"gate_failed"});
  CHECK(loaded.dag->alerts[1].command == "page-oncall");
}

TEST_CASE("DagErrors.MergeKeyMustReferToAMap") {
  CHECK(Load(Dedent(R"(
steps:
  base: &base
    run: echo
    labels: [a]
  train:
    <<: [*base, plain]
)"))
            .diagnostics.Format() ==
        "bad.yaml:6:17: error: a merge key (<<) in step 'train' must refer to a map, got "
        "'plain'\n");
}
