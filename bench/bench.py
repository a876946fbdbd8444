"""The peer benchmark (issue 5): receta against make, ninja, snakemake, doit,
dask and a bash floor on the same commands, in one session.

Run through bench/run.sh, which installs the peers and builds receta first.
Workloads:
  W1  200-step chain, cold            W2  1,000-step fan-out + join, cold
  W3  W2 again, nothing changed       W4  after W1, edit the source of step 100
  W5  a 1 GiB artifact made on worker w1 and read on w2 (receta, bash, cp)
  100k  scheduler RSS and time for a 100,000-step fan-out of `true`
Each rep gets a fresh workspace per tool and new source content (a nonce),
so a cold run is cold for receta's content-keyed cache too.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import environment
import report
import verify
import workloads
from cluster import RecetaCluster
from peers import Dask, Floor, Receta, make_peers

ALL_WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "100k"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True, type=Path, help="receta build dir")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 rep: a smoke run")
    p.add_argument("--only", default="", help="comma-separated subset of " + ",".join(ALL_WORKLOADS))
    p.add_argument("--no-100k", action="store_true", help="skip the 100,000-step DAG")
    p.add_argument("--results", type=Path, required=True, help="directory for raw timings and the report")
    a = p.parse_args()
    a.workloads = set(a.only.upper().replace("100K", "100k").split(",")) if a.only else set(ALL_WORKLOADS)
    unknown = a.workloads - set(ALL_WORKLOADS)
    if unknown:
        p.error(f"unknown workloads {sorted(unknown)}; choose from {ALL_WORKLOADS}")
    if a.no_100k:
        a.workloads.discard("100k")
    if a.quick:
        a.reps = 1
    return a


class Session:
    """Holds everything one benchmark run measures."""

    def __init__(self, args, tmp: Path):
        self.args = args
        self.tmp = tmp
        q = args.quick
        self.chain_length = 20 if q else workloads.CHAIN_LENGTH
        self.fanout_width = 50 if q else workloads.FANOUT_WIDTH
        self.artifact_bytes = (64 << 20) if q else workloads.ARTIFACT_BYTES
        self.big_width = 2_000 if q else 100_000
        self.nonce = uuid.uuid4().hex[:12]
        self.timings: dict[str, dict[str, list[float]]] = {}
        self.raw: list[tuple] = []
        self.problems: list[str] = []
        self.rss: dict[str, int] = {}
        self.w5: dict[str, list[float]] = {"receta": [], "bash": [], "cp": []}
        self.big: dict = {}

    def record(self, tool: str, workload: str, rep: int, seconds: float, problems: list[str]) -> None:
        self.timings.setdefault(tool, {}).setdefault(workload, []).append(seconds)
        self.raw.append((tool, workload, rep, f"{seconds:.6f}", "; ".join(problems)))
        for p in problems:
            self.problems.append(f"{tool} {workload} rep {rep}: {p}")
        print(f"  {workload} {tool:<10} {seconds:8.3f} s{'  PROBLEM: ' + '; '.join(problems) if problems else ''}",
              flush=True)


def run_file_tool(s: Session, tool, wl: workloads.Workload, rep: int, cold: str, rerun: str) -> None:
    """A tool that writes outputs into the workspace: cold run, then its rerun."""
    nonce = f"{s.nonce}-{rep}"
    ws = s.tmp / f"rep{rep}" / tool.name.replace(" ", "-") / wl.kind
    workloads.write_workspace(ws, wl, nonce)
    seconds = tool.run(ws)
    s.record(tool.name, cold, rep, seconds, verify.check_outputs(ws))
    if rerun not in s.args.workloads or not tool.reruns(rerun):
        return
    before = verify.output_mtimes(ws)
    if rerun == "W4":
        workloads.edit_chain_source(ws, wl, nonce)
        expected = {o for step in wl.steps[wl.edited:] for o in step.outputs}
    else:
        expected = set()
    seconds = tool.run(ws, partial=True)
    s.record(tool.name, rerun, rep, seconds, verify.check_reran(ws, before, expected) + verify.check_outputs(ws))


def run_receta(s: Session, receta: Receta, wl: workloads.Workload, rep: int, cold: str, rerun: str) -> None:
    """receta: outputs live in its store, so checks read the run's status."""
    cluster = receta.cluster
    nonce = f"{s.nonce}-{rep}"
    ws = s.tmp / f"rep{rep}" / "receta" / wl.kind
    workloads.write_workspace(ws, wl, nonce)
    n = len(wl.steps)
    seconds = receta.run(ws)
    problems = verify.check_receta_states(cluster.step_states(receta.last_run), {"succeeded": n})
    problems += check_receta_target(s, receta, ws, wl)
    if cold == "W2":
        s.rss.setdefault("scheduler_rss_after_w2_kb", []).append(cluster.scheduler_kb("VmRSS"))
    s.record("receta", cold, rep, seconds, problems)
    if rerun not in s.args.workloads:
        return
    if rerun == "W4":
        workloads.edit_chain_source(ws, wl, nonce)
        expected = {"succeeded": n - wl.edited, "cached": wl.edited}
    else:
        expected = {"cached": n}
    seconds = receta.run(ws)
    problems = verify.check_receta_states(cluster.step_states(receta.last_run), expected)
    s.record("receta", rerun, rep, seconds, problems)


def check_receta_target(s: Session, receta: Receta, ws: Path, wl: workloads.Workload) -> list[str]:
    """Downloads the run's final output and compares it with the expected bytes."""
    last = wl.steps[-1]
    out = subprocess.run([receta.cluster.cli, "artifacts", "get", receta.last_run, last.name, wl.target, "-o", "-"],
                         env=receta.cluster.env, capture_output=True)
    if out.returncode != 0:
        return [f"artifacts get {wl.target} failed: {out.stderr.decode()[-300:]}"]
    if out.stdout != verify.expected_outputs(ws)[wl.target]:
        return [f"{wl.target} has the wrong content"]
    return []


def run_artifact(s: Session, receta: Receta, rep: int) -> None:
    """W5: receta moving one big artifact between workers vs bash and cp."""
    nonce = f"{s.nonce}-{rep}"
    base = s.tmp / f"rep{rep}" / "artifact"
    ws = base / "receta"
    workloads.write_artifact_workspace(ws, nonce, s.artifact_bytes)
    # sync before each measurement: otherwise the GiBs the previous one left
    # dirty in the page cache throttle the next one's writes.
    os.sync()
    receta_s = receta.run(ws)
    problems = verify.check_receta_states(receta.cluster.step_states(receta.last_run), {"succeeded": 2})
    size = receta.cluster.receta("artifacts", "get", receta.last_run, "consume", "size.txt", "-o", "-", check=False)
    want = s.artifact_bytes + len(nonce) + 1
    if size.stdout.strip() != str(want):
        problems.append(f"consumer saw {size.stdout.strip()!r} bytes, expected {want}")

    floor_ws = base / "bash"
    workloads.write_artifact_workspace(floor_ws, nonce, s.artifact_bytes)
    os.sync()
    t0 = time.monotonic()
    subprocess.run(["bash", "floor.sh"], cwd=floor_ws, check=True)
    bash_s = time.monotonic() - t0
    os.sync()
    t0 = time.monotonic()
    subprocess.run(["cp", "big.bin", "copy.bin"], cwd=floor_ws, check=True)
    cp_s = time.monotonic() - t0
    shutil.rmtree(base)   # 2-3 GiB a rep; receta's copies stay in its store
    for name, value in (("receta", receta_s), ("bash", bash_s), ("cp", cp_s)):
        s.w5[name].append(value)
        s.raw.append((name, "W5", rep, f"{value:.6f}", "; ".join(problems) if name == "receta" else ""))
    s.problems += [f"receta W5 rep {rep}: {p}" for p in problems]
    gib = s.artifact_bytes / (1 << 30)
    moved = receta_s - bash_s
    print(f"  W5 receta {receta_s:.3f} s, bash {bash_s:.3f} s, cp {cp_s:.3f} s: "
          f"receta {gib / moved if moved > 0 else float('inf'):.2f} GiB/s, cp {gib / cp_s:.2f} GiB/s"
          f"{'  PROBLEM: ' + '; '.join(problems) if problems else ''}", flush=True)


def run_big_dag(s: Session, cluster: RecetaCluster) -> None:
    """A wide fan-out of `true`: how much the scheduler holds, and whether it copes."""
    ws = s.tmp / "big"
    ws.mkdir()
    lines = ["name: bench-big", "steps:"]
    for i in range(s.big_width):
        lines += [f"  s{i}:", "    run: 'true'"]
    (ws / "dag.yaml").write_text("\n".join(lines) + "\n")
    peak = [0]
    done = threading.Event()

    def sample():   # VmRSS every 100 ms while the run is in flight
        while not done.wait(0.1) and not cluster.dead_daemons():
            peak[0] = max(peak[0], cluster.scheduler_kb("VmRSS"))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    # --no-cache: every `true` step has the same cache key, so with the
    # cache on nearly all of them would be hits instead of runs.
    proc = subprocess.run([cluster.cli, "submit", "dag.yaml", "--wait", "--no-cache"], cwd=ws, env=cluster.env,
                          capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - t0
    done.set()
    sampler.join()
    dead = cluster.dead_daemons()
    if dead:
        raise RuntimeError(f"during the {s.big_width}-step DAG: " + "; ".join(dead))
    # The run's summary, not `status --json`: that lists every step, and for
    # 100,000 steps the document may not fit one reply.
    run = json.loads(cluster.receta("runs", "--dag", "bench-big", "--limit", "1", "--json").stdout)[0]
    states = {k: run[k] for k in ("state", "steps_total", "steps_done", "steps_failed")}
    s.big = {"steps": s.big_width, "seconds": seconds, "exit": proc.returncode, "states": states,
             "run_duration_ms": run["duration_ms"],
             "peak_rss_kb": max(peak[0], cluster.scheduler_kb("VmRSS")),
             "hwm_kb": cluster.scheduler_kb("VmHWM"),
             "completed": run["state"] == "succeeded" and run["steps_done"] == s.big_width}
    if not s.big["completed"] or proc.returncode != 0:
        s.problems.append(f"{s.big_width}-step DAG: submit --wait exit {proc.returncode} "
                          f"({proc.stderr.strip().splitlines()[-1][-300:] if proc.stderr.strip() else ''}), run {states}")
    print(f"  100k: {s.big_width} steps in {seconds:.1f} s (run itself {run['duration_ms'] / 1000:.1f} s), "
          f"scheduler peak RSS {s.big['peak_rss_kb'] / 1024:.0f} MB, run {states}, submit exit {proc.returncode}",
          flush=True)


def attempt(s: Session, cluster: RecetaCluster, what: str, fn, *args) -> None:
    """Runs one measurement; a failing tool is a reported problem, not the end
    of the session, unless a receta daemon died (the rest would be noise)."""
    try:
        fn(*args)
    except Exception as e:   # noqa: BLE001 - any failure is reported the same way
        s.problems.append(f"{what}: {type(e).__name__}: {str(e)[-500:]}")
        print(f"  {what}: FAILED: {str(e)[-500:]}", flush=True)
    dead = cluster.dead_daemons()
    if dead:
        raise RuntimeError("; ".join(dead))


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C so every `finally` below stops what it started.
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="receta-peer-bench."))
    s = Session(args, tmp)
    env = environment.describe(args.build)
    print(env["line"], flush=True)
    cluster = RecetaCluster(args.build, tmp)
    dask, receta, peers = None, None, []
    t_session = time.monotonic()
    try:
        cluster.start()
        receta = Receta(cluster)
        if args.workloads & {"W1", "W2", "W3", "W4"}:
            dask = Dask()
            peers = make_peers() + [dask, Floor()]
        chain = workloads.chain(s.chain_length)
        fanout = workloads.fanout(s.fanout_width)
        per_rep = args.workloads - {"100k"}
        for rep in range(args.reps if per_rep else 0):
            print(f"rep {rep + 1}/{args.reps}", flush=True)
            # Rotate the order so no tool always runs first (cold page cache,
            # a scheduler that has just finished a big run, ...).
            tools = [receta] + peers
            tools = tools[rep % len(tools):] + tools[:rep % len(tools)]
            for wl, cold, rerun in ((chain, "W1", "W4"), (fanout, "W2", "W3")):
                if not ({cold, rerun} & args.workloads):
                    continue
                for tool in tools:
                    attempt(s, cluster, f"{tool.name} {cold}/{rerun} rep {rep}",
                            run_receta if tool is receta else run_file_tool, s, tool, wl, rep, cold, rerun)
            if "W5" in args.workloads:
                attempt(s, cluster, f"receta W5 rep {rep}", run_artifact, s, receta, rep)
            # Why the reps' workspaces stay until the session ends: on ext4
            # without a journal, files deleted now slow every file created
            # in their block groups for the next minutes, and the next rep's
            # tools would pay for this one's cleanup, whichever got there.
        if per_rep:   # peaks of the workloads, before the big DAG dwarfs them
            s.rss["scheduler_hwm_kb"] = cluster.scheduler_kb("VmHWM")
            s.rss["worker_hwm_kb"] = max(cluster.worker_kb(w, "VmHWM") for w in cluster.WORKERS)
        if "100k" in args.workloads:
            attempt(s, cluster, "100k", run_big_dag, s, cluster)
    except BaseException as e:
        keep = args.results / "logs"
        keep.mkdir(parents=True, exist_ok=True)
        for log in tmp.glob("*.log"):
            shutil.copy(log, keep / log.name)
        print(f"bench: stopped early: {e!r}; daemon logs copied to {keep}", file=sys.stderr)
        if not isinstance(e, Exception):
            raise
        # A dead daemon: report what was measured before it.
        s.problems.append(f"session stopped early: {e}")
    finally:
        if dask:
            dask.close()
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    results = {
        "env": env, "reps": args.reps, "quick": args.quick, "workloads": sorted(args.workloads),
        "sizes": {"chain": s.chain_length, "fanout": s.fanout_width, "artifact_bytes": s.artifact_bytes,
                  "big": s.big_width},
        "labels": {t.name: t.label for t in [receta] + peers if t},
        "timings": s.timings, "w5": s.w5, "rss": s.rss, "big": s.big, "problems": s.problems,
        "session_seconds": time.monotonic() - t_session,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "results.json").write_text(json.dumps(results, indent=1))
    with open(args.results / "raw.tsv", "w") as f:
        f.write("tool\tworkload\trep\tseconds\tproblems\n")
        for row in s.raw:
            f.write("\t".join(map(str, row)) + "\n")
    text = report.render(results)
    (args.results / "report.md").write_text(text)
    print()
    print(text)
    print(f"raw timings and this report: {args.results}")
    return 1 if s.problems else 0


if __name__ == "__main__":
    sys.exit(main())
