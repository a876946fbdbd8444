#!/usr/bin/env bash
# Runs the example pipelines in dags/ without receta: every step's command, by
# hand, in dependency order, in a fresh copy of the example's directory (the
# workspace root). It checks that
#   - the commands below are exactly the DAG's `run:` lines with the params'
#     defaults filled in, in an order the DAG allows, so this test cannot drift
#     from the DAG (checked by a small python3 + PyYAML script, dagcheck.py);
#   - each step runs in a sandbox holding only its declared inputs, as a receta
#     worker runs it, and writes every declared output;
#   - every gate holds, accuracy >= 0.9, and the deploy manifest names the
#     deployed model's sha256;
#   - a second run of the data-prep and train steps, by hand in another fresh
#     copy, gives byte-identical data and model files (reproducibility).
# Needs python3 with scikit-learn and PyYAML (Debian: python3-sklearn python3-yaml).
# Env: RECETA_SOURCE_DIR (repo root; default: this script's ../..).
set -euo pipefail

SRC=${RECETA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RUN_ID="examples-test"   # what {{run.id}} renders as in this test
START=$SECONDS

fail() { echo "examples_test: FAIL: $*" >&2; exit 1; }
say() { echo "examples_test: $*"; }

# --- python3 with scikit-learn and PyYAML ------------------------------------
# The DAGs run `python3`. On a machine where `python3` is another interpreter
# (pyenv, a virtualenv) without scikit-learn, use the system one.
PY=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sklearn' 2>/dev/null; then
    PY=$(command -v "$candidate")
    break
  fi
done
[[ -n $PY ]] || fail "no python3 with scikit-learn (tried python3 and /usr/bin/python3);" \
  "install it: apt-get install -y python3-sklearn"
"$PY" -c 'import yaml' 2>/dev/null || fail "$PY cannot import yaml (PyYAML);" \
  "install it: apt-get install -y python3-yaml"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/receta-examples.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/bin"
printf '#!/bin/sh\nexec %q "$@"\n' "$PY" >"$TMP/bin/python3"
chmod +x "$TMP/bin/python3"
export PATH="$TMP/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1
say "python3 is $PY (scikit-learn $("$PY" -c 'import sklearn; print(sklearn.__version__)'))"

# --- dagcheck.py: reads a DAG the way receta will ----------------------------
cat >"$TMP/dagcheck.py" <<'PYEOF'
"""dagcheck.py COMMAND DAG ...: what examples_test.sh needs to know about a DAG.

  check DAG PLAN RUN_ID  validate the DAG; PLAN (lines "step<TAB>command") must
                         hold every step once, in an order the DAG's edges allow,
                         each command equal to the step's rendered `run:`
  io DAG STEP            the step's inputs ("in<TAB>path") and outputs ("out<TAB>path")
  steps DAG KIND...      names of the steps of these kinds
  outputs DAG [KIND...]  declared outputs (of the steps of these kinds)
  results DAG WS         after a run in WS: gates hold, accuracy >= 0.9, and each
                         deploy manifest.json names its model's sha256
"""
import hashlib, json, os, re, sys
import yaml

TOP_KEYS = {"name", "description", "params", "defaults", "alerts", "steps"}
STEP_KEYS = {"kind", "description", "run", "inputs", "outputs", "needs", "env", "resources",
             "labels", "retries", "retry_backoff", "timeout", "cache", "cache_version",
             "metrics", "gate", "params", "alerts"}
KINDS = {"data-prep", "train", "evaluate", "deploy"}
TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def die(msg):
    sys.exit(f"dagcheck: {msg}")


def load(path):
    # BaseLoader keeps every scalar as written: params render as their source text.
    with open(path) as f:
        dag = yaml.load(f, Loader=yaml.BaseLoader)
    where = os.path.basename(path)
    if not isinstance(dag, dict) or not isinstance(dag.get("steps"), dict):
        die(f"{where}: not a map with a `steps` map")
    if set(dag) - TOP_KEYS:
        die(f"{where}: unknown top-level keys {sorted(set(dag) - TOP_KEYS)}")
    for name, step in dag["steps"].items():
        if set(step) - STEP_KEYS:
            die(f"{where}: step {name}: unknown keys {sorted(set(step) - STEP_KEYS)}")
        if step.get("kind") not in KINDS:
            die(f"{where}: step {name}: kind must be one of {sorted(KINDS)}")
        if not step.get("run"):
            die(f"{where}: step {name}: no `run`")
        for key in ("inputs", "outputs", "needs", "params"):
            step[key] = [os.path.normpath(p) if key in ("inputs", "outputs") else p
                         for p in step.get(key, [])]
    return dag


def refs(text):
    return TEMPLATE.findall(text)


def render(dag, name, run_id):
    params = dag.get("params", {})

    def one(m):
        ref = m.group(1)
        if ref == "run.id":
            return run_id
        if ref == "step.name":
            return name
        if ref.startswith("params.") and ref[7:] in params:
            return params[ref[7:]]
        die(f"step {name}: `{m.group(0)}` names no param, run.id or step.name")
    return TEMPLATE.sub(one, dag["steps"][name]["run"].strip())


def producers(dag):
    out = {}
    for name, step in dag["steps"].items():
        for path in step["outputs"]:
            if path in out:
                die(f"output {path} is declared by both {out[path]} and {name}")
            out[path] = name
    return out


def upstream(dag, name, made_by):
    """Steps `name` depends on: its needs, and producers of (or under) its inputs."""
    deps = set(dag["steps"][name]["needs"])
    for path in dag["steps"][name]["inputs"]:
        for out, producer in made_by.items():
            if producer != name and (path == out or out.startswith(path + "/")
                                     or path.startswith(out + "/")):
                deps.add(producer)
    return deps


def check(dag_path, plan_path, run_id):
    dag, root = load(dag_path), os.path.dirname(os.path.abspath(dag_path))
    steps, made_by = dag["steps"], producers(dag)
    for name, step in steps.items():
        used = {r[7:] for r in refs(step["run"]) if r.startswith("params.")}
        if set(step["params"]) != used:
            die(f"step {name}: `params: {sorted(step['params'])}` must list exactly the "
                f"params its command uses, {sorted(used)}")
        for need in step["needs"]:
            if need not in steps:
                die(f"step {name}: needs unknown step {need}")
        for path in step["inputs"]:
            if not os.path.exists(os.path.join(root, path)) and path not in made_by:
                die(f"step {name}: input {path} is neither a workspace file nor an output")
        if "gate" in step and step.get("metrics") not in step["outputs"]:
            die(f"step {name}: a gate needs `metrics:` naming one of the step's outputs")
    with open(plan_path) as f:
        plan = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    done = []
    for name, command in plan:
        if name not in steps:
            die(f"the test runs step {name}, which the DAG does not have")
        if name in done:
            die(f"the test runs step {name} twice")
        missing = upstream(dag, name, made_by) - set(done)
        if missing:
            die(f"the test runs {name} before {sorted(missing)}, which it depends on")
        if command != render(dag, name, run_id):
            die(f"step {name}: the test runs\n  {command}\nbut the DAG's rendered command is\n"
                f"  {render(dag, name, run_id)}")
        done.append(name)
    if set(steps) - set(done):
        die(f"the test does not run the steps {sorted(set(steps) - set(done))}")
    print(f"dagcheck: {os.path.basename(dag_path)}: {len(steps)} steps valid; the test's "
          f"commands match the DAG and run in dependency order")


def gate_holds(gate, metrics):
    def value(name):
        v = metrics
        for part in name.split("."):
            if not isinstance(v, dict) or part not in v:
                die(f"gate `{gate}`: the metrics have no {name}")
            v = v[part]
        return repr(float(v))
    tokens = re.findall(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|[A-Za-z_][\w.]*|[<>=!]=|[<>()]|\S",
                        gate)
    words = {"and", "or", "not"}
    python = []
    for t in tokens:
        if re.fullmatch(r"[A-Za-z_][\w.]*", t):
            python.append(t if t in words else value(t))
        elif re.fullmatch(r"\d.*|[<>=!]=|[<>()]", t):
            python.append(t)
        else:
            die(f"gate `{gate}`: unexpected {t!r}")
    return eval(" ".join(python), {"__builtins__": {}}, {})


def results(dag_path, ws):
    dag = load(dag_path)
    for name, step in dag["steps"].items():
        if step.get("metrics"):
            with open(os.path.join(ws, step["metrics"])) as f:
                metrics = json.load(f)
            if "gate" in step and not gate_holds(step["gate"], metrics):
                die(f"step {name}: gate `{step['gate']}` fails on {step['metrics']}: "
                    f"accuracy {metrics.get('accuracy')}, macro_f1 {metrics.get('macro_f1')}")
            if not metrics.get("accuracy", 0) >= 0.9:
                die(f"step {name}: accuracy {metrics.get('accuracy')} < 0.9 in {step['metrics']}")
            print(f"dagcheck: {name}: {step['metrics']} accuracy {metrics['accuracy']}, "
                  f"macro_f1 {metrics.get('macro_f1')}; gate `{step.get('gate')}` holds")
        if step["kind"] == "deploy":
            manifests = [p for p in step["outputs"] if os.path.basename(p) == "manifest.json"]
            if not manifests:
                die(f"step {name}: a deploy step here must write a manifest.json")
            for path in manifests:
                with open(os.path.join(ws, path)) as f:
                    manifest = json.load(f)
                model = os.path.join(ws, os.path.dirname(path), manifest["model"])
                with open(model, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                if manifest.get("sha256") != digest or "accuracy" not in manifest.get("metrics", {}):
                    die(f"step {name}: {path} does not hold the model's sha256 {digest} "
                        f"and its metrics")
                print(f"dagcheck: {name}: {path} names {manifest['model']} sha256 {digest[:12]}")


def main(argv):
    if len(argv) < 3:
        die(__doc__)
    command, dag_path, rest = argv[1], argv[2], argv[3:]
    if command == "check":
        check(dag_path, *rest)
    elif command == "results":
        results(dag_path, *rest)
    else:
        dag = load(dag_path)
        for name, step in dag["steps"].items():
            if command == "io" and name == rest[0]:
                print("".join(f"in\t{p}\n" for p in step["inputs"]) +
                      "".join(f"out\t{p}\n" for p in step["outputs"]), end="")
            elif command == "steps" and step["kind"] in rest:
                print(name)
            elif command == "outputs" and (not rest or step["kind"] in rest):
                print("\n".join(step["outputs"]))


if __name__ == "__main__":
    main(sys.argv)
PYEOF
dagcheck() { "$PY" "$TMP/dagcheck.py" "$@"; }

# --- the examples' commands, as a scheduler would render them ------------------
# One line per step: `step NAME COMMAND`, in an order the DAG allows. These are
# the DAGs' run: lines with the params' defaults and run.id=$RUN_ID filled in;
# dagcheck.py fails the test if they differ.
iris_plan() {
  step prepare 'python3 src/prepare.py --test-size 0.2 --seed 2024 --train-out data/train.csv --test-out data/test.csv'
  step train 'python3 src/train.py --train data/train.csv --model-out model/model.pkl --n-estimators 100 --max-depth 0 --seed 2024'
  step evaluate 'python3 src/evaluate.py --model model/model.pkl --test data/test.csv --metrics-out eval/metrics.json'
  step deploy "python3 src/deploy.py --model model/model.pkl --metrics eval/metrics.json --out-dir deployed --run-id $RUN_ID"
}

sweep_plan() {
  step prepare 'python3 src/prepare.py --test-size 0.2 --val-size 0.2 --seed 42 --train-out data/train.csv --val-out data/val.csv --test-out data/test.csv'
  local c
  for c in 0_001 0_01 0_1 1 10; do
    step "train_c_$c" "python3 src/train.py --name train_c_$c --C ${c/_/.} --max-iter 5000 --train data/train.csv --val data/val.csv --model-out sweep/c_$c/model.pkl --metrics-out sweep/c_$c/metrics.json"
  done
  step select 'python3 src/select.py --metric macro_f1 --candidate sweep/c_0_001/metrics.json sweep/c_0_001/model.pkl --candidate sweep/c_0_01/metrics.json sweep/c_0_01/model.pkl --candidate sweep/c_0_1/metrics.json sweep/c_0_1/model.pkl --candidate sweep/c_1/metrics.json sweep/c_1/model.pkl --candidate sweep/c_10/metrics.json sweep/c_10/model.pkl --test data/test.csv --metrics-out best/metrics.json --model-out best/model.pkl'
  step deploy "python3 src/deploy.py --model best/model.pkl --metrics best/metrics.json --out-dir deployed --run-id $RUN_ID"
}

step() { printf '%s\t%s\n' "$1" "$2" >>"$PLAN"; }

# A fresh workspace: a copy of the example's directory less anything a step
# declares as an output (left there by someone running steps by hand).
fresh_workspace() {  # EXAMPLE DAG DEST
  cp -R "$SRC/dags/$1" "$3"
  local out
  while IFS= read -r out; do rm -rf "${3:?}/$out"; done < <(dagcheck outputs "$2")
}

# Runs one step as a worker would: in an empty sandbox holding copies of its
# declared inputs, then copies its declared outputs back into the workspace.
run_in_sandbox() {  # DAG WS STEP COMMAND
  local dag=$1 ws=$2 name=$3 command=$4 sandbox kind path t0=$SECONDS
  sandbox=$(mktemp -d "$TMP/sandbox.XXXXXX")
  while IFS=$'\t' read -r kind path; do
    [[ $kind == in ]] || continue
    [[ -e $ws/$path ]] || fail "step $name: input $path does not exist (has its producer run?)"
    mkdir -p "$sandbox/$(dirname "$path")"
    cp -R "$ws/$path" "$sandbox/$path"
  done < <(dagcheck io "$dag" "$name")
  (cd "$sandbox" && sh -c "$command") </dev/null >"$sandbox.log" 2>&1 || {
    cat "$sandbox.log" >&2
    fail "step $name failed: $command"
  }
  while IFS=$'\t' read -r kind path; do
    [[ $kind == out ]] || continue
    [[ -e $sandbox/$path ]] || fail "step $name did not write its declared output $path"
    mkdir -p "$ws/$(dirname "$path")"
    rm -rf "${ws:?}/$path"
    cp -R "$sandbox/$path" "$ws/$path"
  done < <(dagcheck io "$dag" "$name")
  say "  $name ($((SECONDS - t0))s): $(tail -n 1 "$sandbox.log")"
  rm -rf "$sandbox" "$sandbox.log"
}

test_example() {  # EXAMPLE YAML PLAN_FUNCTION
  local example=$1 dag=$SRC/dags/$1/$2 plan_fn=$3 t0=$SECONDS name command path
  say "== $example: $dag"
  [[ -f $dag ]] || fail "$dag does not exist"
  PLAN=$TMP/$example.plan
  : >"$PLAN"
  "$plan_fn"
  dagcheck check "$dag" "$PLAN" "$RUN_ID" || fail "$example: the test and $dag disagree (above)"

  # 1. The whole pipeline, each step in its own sandbox.
  local ws=$TMP/$example.ws
  fresh_workspace "$example" "$dag" "$ws"
  while IFS=$'\t' read -r name command; do
    run_in_sandbox "$dag" "$ws" "$name" "$command"
  done <"$PLAN"
  dagcheck results "$dag" "$ws" || fail "$example: wrong results (above)"

  # 2. Reproducibility: the data-prep and train steps again, by hand from the
  #    root of another fresh copy (another path), must give the same bytes.
  local again=$TMP/$example.again repro_steps compared=0
  fresh_workspace "$example" "$dag" "$again"
  repro_steps=" $(dagcheck steps "$dag" data-prep train | tr '\n' ' ') "
  while IFS=$'\t' read -r name command; do
    [[ $repro_steps == *" $name "* ]] || continue
    (cd "$again" && sh -c "$command") </dev/null >"$again.log" 2>&1 || {
      cat "$again.log" >&2
      fail "$example: rerun of step $name failed: $command"
    }
  done <"$PLAN"
  while IFS= read -r path; do
    cmp -s "$ws/$path" "$again/$path" ||
      fail "$example: $path differs between two runs of the same steps (not reproducible)"
    say "  reproducible: $path sha256 $(sha256sum <"$ws/$path" | cut -c1-12)"
    compared=$((compared + 1))
  done < <(dagcheck outputs "$dag" data-prep train)
  ((compared > 0)) || fail "$example: no data-prep or train outputs to compare"
  say "== $example: ok ($((SECONDS - t0))s)"
}

# The two examples are independent: run them side by side, report in order.
examples=("iris iris.yaml iris_plan" "sweep sweep.yaml sweep_plan")
pids=()
for example in "${examples[@]}"; do
  read -r name file plan_fn <<<"$example"
  (test_example "$name" "$file" "$plan_fn") >"$TMP/$name.out" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!examples[@]}"; do
  wait "${pids[$i]}" || failed=1
  cat "$TMP/${examples[$i]%% *}.out"
done
((failed == 0)) || fail "see above ($((SECONDS - START))s)"
say "PASS ($((SECONDS - START))s)"
