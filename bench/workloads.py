"""Workspaces for the peer benchmark: one list of steps, written out for every tool.

A workload is a list of Step(name, cmd, inputs, outputs). `write_workspace`
turns it into a directory holding the source files and, for the SAME shell
commands, a Makefile, a build.ninja, a Snakefile, a dodo.py, a dask graph
(dask_graph.py), bash floor scripts and a receta dag.yaml. Every tool therefore
runs byte-identical commands on byte-identical inputs; only the orchestration
differs.

Source files carry a nonce so that every rep is new content: receta caches by
content, so a fresh directory with the same bytes as the previous rep would be
a cache hit, not a cold run. All tools get the same nonce, so they stay equal.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

CHAIN_LENGTH = 200
FANOUT_WIDTH = 1000


@dataclass
class Step:
    name: str
    cmd: str
    inputs: list[str]
    outputs: list[str]


@dataclass
class Workload:
    kind: str            # "chain" or "fanout"
    steps: list[Step]
    sources: list[str]   # workspace files the steps read, written with the nonce
    target: str          # the final output; what make/ninja/snakemake are asked for
    # W4 edits the source of step `edited` of the chain; it and every later
    # step must rerun, and no earlier one.
    edited: int = 0


def _cat_step(name: str, inputs: list[str], out: str) -> Step:
    # The command every tool runs: concatenate the inputs, append a line.
    cmd = f"cat {' '.join(inputs)} > {out}; echo x >> {out}"
    return Step(name, cmd, inputs, [out])


def chain(length: int = CHAIN_LENGTH) -> Workload:
    steps = []
    for i in range(length):
        inputs = [f"src/{i}.txt"] + ([f"out/{i - 1}.txt"] if i > 0 else [])
        steps.append(_cat_step(f"s{i}", inputs, f"out/{i}.txt"))
    return Workload("chain", steps, [f"src/{i}.txt" for i in range(length)],
                    f"out/{length - 1}.txt", edited=length // 2)


def fanout(width: int = FANOUT_WIDTH) -> Workload:
    steps = [_cat_step(f"s{i}", [f"in/{i}.txt"], f"out/{i}.txt") for i in range(width)]
    steps.append(_cat_step("join", [f"out/{i}.txt" for i in range(width)], "all.txt"))
    return Workload("fanout", steps, [f"in/{i}.txt" for i in range(width)], "all.txt")


def source_text(path: str, nonce: str) -> str:
    return f"{path} {nonce}\n"


def edit_chain_source(root: Path, wl: Workload, nonce: str) -> None:
    """W4's edit: new content (still unique to this rep) for step `edited`'s source."""
    src = wl.sources[wl.edited]
    (root / src).write_text(f"{src} {nonce} edited\n")


def write_workspace(root: Path, wl: Workload, nonce: str) -> None:
    """Creates `root` with the sources and every tool's build file."""
    root.mkdir(parents=True)
    for d in {os.path.dirname(p) for p in wl.sources + [o for s in wl.steps for o in s.outputs]}:
        if d:
            (root / d).mkdir(exist_ok=True)
    for src in wl.sources:
        (root / src).write_text(source_text(src, nonce))
    producer = {o: s.name for s in wl.steps for o in s.outputs}
    (root / "steps.json").write_text(json.dumps(
        [{"name": s.name, "cmd": s.cmd, "inputs": s.inputs, "outputs": s.outputs,
          "deps": [producer[i] for i in s.inputs if i in producer]} for s in wl.steps]))
    (root / "Makefile").write_text(_makefile(wl))
    (root / "build.ninja").write_text(_ninja(wl))
    (root / "Snakefile").write_text(_snakefile(wl))
    (root / "dodo.py").write_text(_dodo(wl))
    (root / "dask_graph.py").write_text(_dask_graph(wl))
    (root / "dag.yaml").write_text(_receta_dag(wl))
    (root / "floor.sh").write_text(_floor(wl.steps))
    if wl.kind == "chain":
        (root / "floor_partial.sh").write_text(_floor(wl.steps[wl.edited:]))


def _makefile(wl: Workload) -> str:
    lines = [f".PHONY: all\nall: {wl.target}\n"]
    for s in wl.steps:
        lines.append(f"{' '.join(s.outputs)}: {' '.join(s.inputs)}\n\t{s.cmd}\n")
    return "\n".join(lines)


def _ninja(wl: Workload) -> str:
    # One rule per step keeps the command byte-identical to the others
    # ($in would expand to the same text, but this way nothing is inferred).
    lines = []
    for s in wl.steps:
        lines.append(f"rule r_{s.name}\n  command = {s.cmd}\n"
                     f"build {' '.join(s.outputs)}: r_{s.name} {' '.join(s.inputs)}\n")
    lines.append(f"default {wl.target}\n")
    return "\n".join(lines)


def _snakefile(wl: Workload) -> str:
    # Snakemake's idiomatic form: wildcard rules. "{input}" expands to the
    # inputs in the order given, so the shell command is the same bytes.
    if wl.kind == "chain":
        return f'''rule all:
    input: "{wl.target}"

rule step:
    input: lambda wc: ["src/" + wc.i + ".txt"] + (["out/%d.txt" % (int(wc.i) - 1)] if int(wc.i) > 0 else [])
    output: "out/{{i}}.txt"
    wildcard_constraints: i="[0-9]+"
    shell: "cat {{input}} > {{output}}; echo x >> {{output}}"
'''
    width = len(wl.steps) - 1
    return f'''rule join:
    input: ["out/%d.txt" % i for i in range({width})]
    output: "all.txt"
    shell: "cat {{input}} > {{output}}; echo x >> {{output}}"

rule step:
    input: "in/{{i}}.txt"
    output: "out/{{i}}.txt"
    wildcard_constraints: i="[0-9]+"
    shell: "cat {{input}} > {{output}}; echo x >> {{output}}"
'''


def _dodo(wl: Workload) -> str:
    # file_dep/targets give doit the graph; 'md5' makes it decide by content.
    steps = [(s.name, s.cmd, s.inputs, s.outputs) for s in wl.steps]
    return f'''DOIT_CONFIG = {{"check_file_uptodate": "md5", "dep_file": ".doit.db",
               "backend": "json", "verbosity": 0, "default_tasks": ["step"]}}
STEPS = {steps!r}

def task_step():
    for name, cmd, inputs, outputs in STEPS:
        yield {{"name": name, "actions": [cmd], "file_dep": inputs, "targets": outputs}}
'''


def _dask_graph(wl: Workload) -> str:
    # Loaded by dask_peer.py into the benchmark process, which holds the warm
    # client; run(client) submits one future per step, each depending on the
    # futures of its producers, and waits for all of them.
    steps = [(s.name, s.cmd, [d for d in _deps(wl, s)]) for s in wl.steps]
    return f'''import os, subprocess
ROOT = os.path.dirname(os.path.abspath(__file__))
STEPS = {steps!r}

def sh(cmd, root, *upstream):
    subprocess.run(cmd, shell=True, cwd=root, check=True)
    return cmd

def run(client):
    from distributed import wait
    futures = {{}}
    for name, cmd, deps in STEPS:
        futures[name] = client.submit(sh, cmd, ROOT, *[futures[d] for d in deps],
                                      key=name + "-" + ROOT, pure=False)
    wait(list(futures.values()))
    for f in futures.values():
        f.result()   # raises if a step failed
'''


def _deps(wl: Workload, step: Step) -> list[str]:
    producer = {o: s.name for s in wl.steps for o in s.outputs}
    return [producer[i] for i in step.inputs if i in producer]


def _receta_dag(wl: Workload) -> str:
    # Edges are inferred from inputs that are another step's outputs.
    lines = [f"name: bench-{wl.kind}", "steps:"]
    for s in wl.steps:
        lines += [f"  {s.name}:", f"    run: {s.cmd}",
                  f"    inputs: [{', '.join(s.inputs)}]", f"    outputs: [{', '.join(s.outputs)}]"]
    return "\n".join(lines) + "\n"


def _floor(steps: list[Step]) -> str:
    # No orchestration at all: the commands, in order, one after the other.
    body = "\n".join(s.cmd for s in steps)
    return f'set -e\ncd "$(dirname "$0")"\n{body}\n'


# W5: one 1 GiB artifact made on worker w1 and read on worker w2.
ARTIFACT_BYTES = 1 << 30


def artifact_commands(nonce: str, size: int = ARTIFACT_BYTES) -> tuple[str, str]:
    # The nonce line makes the blob new each rep (the scheduler skips uploads
    # of blobs it already holds); the rest is zeros, written at disk speed.
    produce = f"echo {nonce} > big.bin; head -c {size} /dev/zero >> big.bin"
    consume = "wc -c < big.bin > size.txt"
    return produce, consume


def write_artifact_workspace(root: Path, nonce: str, size: int = ARTIFACT_BYTES) -> None:
    root.mkdir(parents=True)
    produce, consume = artifact_commands(nonce, size)
    (root / "dag.yaml").write_text(f"""name: bench-artifact
steps:
  produce:
    run: {produce}
    labels: [w1]
    outputs: [big.bin]
  consume:
    run: {consume}
    labels: [w2]
    inputs: [big.bin]
    outputs: [size.txt]
""")
    (root / "floor.sh").write_text(f'set -e\ncd "$(dirname "$0")"\n{produce}\n{consume}\n')
