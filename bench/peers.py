"""How each tool is run on a workspace written by workloads.write_workspace.

Every runner's run(ws, partial) runs the workspace's build once and returns
the wall time in seconds (time.monotonic around the whole thing: process
start, graph loading, up-to-date checks and the steps). `partial` is only
meaningful for the floor, which has no up-to-date check of its own: it then
runs steps 100..199 by hand. reruns(workload) says whether a runner takes
part in W3 (no-op rerun) and W4 (partial rerun); dask, which keeps no record
between runs, takes part in neither.
"""
from __future__ import annotations

import runpy
import subprocess
import time
from pathlib import Path


def timed(argv: list[str], cwd: Path) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed in {cwd} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


class CommandTool:
    """A tool that is one command run in the workspace (make, ninja, ...)."""

    def __init__(self, name: str, argv: list[str], label: str):
        self.name, self.argv, self.label = name, argv, label

    def run(self, ws: Path, partial: bool = False) -> float:
        return timed(self.argv, ws)

    def reruns(self, workload: str) -> bool:
        return True


class Floor:
    """bash running the commands serially, no orchestration: the lower bound."""
    name, label = "bash floor", "bash, commands in order, serial"

    def run(self, ws: Path, partial: bool = False) -> float:
        return timed(["bash", "floor_partial.sh" if partial else "floor.sh"], ws)

    def reruns(self, workload: str) -> bool:
        return workload == "W4"   # a no-op rerun of nothing is not a measurement


class Dask:
    """dask.distributed on a LocalCluster started before timing (warm).

    2 worker processes x 1 thread. Each step is a task running the command
    through subprocess; its upstream futures are its arguments. dask keeps
    no record between runs, so it has no no-op or partial rerun.
    """
    name, label = "dask", "dask.distributed LocalCluster 2 procs x 1 thread, warm"

    def __init__(self):
        from distributed import Client, LocalCluster
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=None)
        self.client = Client(self.cluster)
        self.client.submit(sum, [1, 2], pure=False).result()   # workers up and warm

    def run(self, ws: Path, partial: bool = False) -> float:
        # Loaded before the clock starts: a warm client has its code in hand.
        # run_path's module is not importable by the workers, so cloudpickle
        # ships the task function by value.
        graph = runpy.run_path(str(ws / "dask_graph.py"))
        t0 = time.monotonic()
        graph["run"](self.client)
        return time.monotonic() - t0

    def reruns(self, workload: str) -> bool:
        return False

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


class Receta:
    """receta submit --wait against the warm cluster (see cluster.py)."""
    name = "receta"
    label = "scheduler + 2 workers x 1 slot on 127.0.0.1, warm, durable state (synced RocksDB writes)"

    def __init__(self, cluster):
        self.cluster = cluster
        self.last_run: str | None = None

    def run(self, ws: Path, partial: bool = False) -> float:
        t0 = time.monotonic()
        proc = self.cluster.receta("submit", "dag.yaml", "--wait", cwd=ws, check=False)
        elapsed = time.monotonic() - t0
        self.last_run = proc.stdout.strip()
        if proc.returncode != 0:
            raise RuntimeError(f"receta submit failed in {ws} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return elapsed


def make_peers() -> list[CommandTool]:
    return [
        CommandTool("make", ["make", "-j2", "-s"], "GNU make -j2"),
        CommandTool("ninja", ["ninja", "-j2"], "ninja -j2"),
        CommandTool("snakemake", ["snakemake", "--cores", "2", "--quiet"], "snakemake --cores 2"),
        # -P thread: doit's default process pool pickles the task objects;
        # threads suffice since every action is a shell command.
        CommandTool("doit", ["doit", "-n", "2", "-P", "thread"], "doit -n 2 -P thread, md5 file_dep checker"),
    ]
