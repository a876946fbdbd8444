"""The machine and tool versions a result was measured with."""
from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path


def _first_line(argv: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def describe(build: Path) -> dict:
    repo = Path(__file__).resolve().parent.parent
    commit = _first_line(["git", "describe", "--always", "--dirty"], cwd=repo)
    import distributed
    versions = {
        "receta": f"{commit} ({_build_type(build)})",
        "make": _first_line(["make", "--version"]).replace("GNU Make ", ""),
        "ninja": _first_line(["ninja", "--version"]),
        "snakemake": _first_line(["snakemake", "--version"]),
        "doit": _first_line(["doit", "--version"]),
        "dask.distributed": distributed.__version__,
        "bash": _first_line(["bash", "-c", "echo $BASH_VERSION"]),
    }
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    line = (f"{os.cpu_count()} cores, load avg {load}, {date}; "
            + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return {"cores": os.cpu_count(), "loadavg": load, "date": date, "versions": versions, "line": line}


def _build_type(build: Path) -> str:
    try:
        for line in (build / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("CMAKE_BUILD_TYPE:"):
                return line.split("=", 1)[1] or "no build type"
    except OSError:
        pass
    return "?"
