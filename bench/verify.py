"""Checks that a tool did the work it was timed for, and only that work.

Outputs are compared with what the commands must produce (computed here from
the sources), and reruns are checked by which outputs' mtimes moved: a step
that ran rewrote its output, one that did not left it alone. Each check
returns a list of problems; empty means fine.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def _steps(ws: Path) -> list[dict]:
    return json.loads((ws / "steps.json").read_text())


def expected_outputs(ws: Path) -> dict[str, bytes]:
    content: dict[str, bytes] = {}
    for s in _steps(ws):   # steps.json is in dependency order
        data = b"".join(content[i] if i in content else (ws / i).read_bytes() for i in s["inputs"])
        for out in s["outputs"]:
            content[out] = data + b"x\n"
    return content


def check_outputs(ws: Path) -> list[str]:
    problems = []
    for path, want in expected_outputs(ws).items():
        f = ws / path
        if not f.exists():
            problems.append(f"{path} missing")
        elif f.read_bytes() != want:
            problems.append(f"{path} has the wrong content")
    return problems[:5]


def output_mtimes(ws: Path) -> dict[str, int]:
    return {o: os.stat(ws / o).st_mtime_ns for s in _steps(ws) for o in s["outputs"]}


def check_reran(ws: Path, before: dict[str, int], expected: set[str]) -> list[str]:
    """The outputs rewritten since `before` must be exactly `expected`."""
    after = output_mtimes(ws)
    changed = {o for o in after if after[o] != before.get(o)}
    problems = []
    if changed - expected:
        problems.append(f"{len(changed - expected)} outputs rewritten that should not be, "
                        f"e.g. {sorted(changed - expected)[:3]}")
    if expected - changed:
        problems.append(f"{len(expected - changed)} outputs not rewritten, e.g. {sorted(expected - changed)[:3]}")
    return problems


def check_receta_states(counts: dict[str, int], expected: dict[str, int]) -> list[str]:
    if counts != expected:
        return [f"step states {counts}, expected {expected}"]
    return []
