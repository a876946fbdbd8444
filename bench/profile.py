"""Where the time goes: one receta run and one ninja run of a workload, traced.

    python3 bench/profile.py [--workload chain|fanout] [--build DIR]

Why: the ratios in the benchmark's table say how far receta is from ninja,
not why. This traces the kernel's scheduler events (perf, system-wide) for
one run of each tool on fresh workspaces, receta's cluster warm as in
run.sh, and splits the wall time into what a user can act on:

- steps: each step's shell from exec to exit (wall), the CPU time of the
  shell and its children, how often they were preempted (switched out while
  runnable) and moved between CPUs, and who took the CPU from them (the
  tool's own threads, other steps, the kernel's threads, anything else).
  A step that takes more CPU under one tool than under the other is being
  slowed by what runs beside it.
- gaps (chain): from a step's exit to the next step's exec, the
  orchestrator's own latency per step.
- refill (fan-out): from a step's exit to the next exec of a step started
  by the same process (ninja itself; a receta worker, one slot each), the
  time a slot stands empty between two steps that need not wait for each
  other.
- fixed: from the tool's exec to the first step's exec, and from the last
  step's exit to the tool's exit.
- receta's own CPU per step, by process (scheduler, workers without their
  steps, the CLI), from /proc and getrusage around the run.

Needs perf (Debian: apt-get install linux-perf) and root or
kernel.perf_event_paranoid <= -1. The build must exist (see run.sh).
"""
from __future__ import annotations

import argparse
import bisect
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import cluster
import peers
import workloads

EVENTS = ",".join(f"sched:{e}" for e in (
    "sched_process_exec", "sched_process_exit", "sched_process_fork", "sched_switch", "sched_migrate_task"))
LINE = re.compile(r"\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+(\d+\.\d+):\s+sched:(\w+):\s*(.*)")
SWITCH = re.compile(r"prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+)")
# The names of each tool's own threads, to tell them from steps and the kernel.
RECETA_THREADS = re.compile(r"receta|ZMQbg|rocksdb")
NINJA_THREADS = re.compile(r"ninja$")


def traced(data: Path, run) -> float:
    """Runs `run()` under a system-wide perf record into `data`; its wall time."""
    perf = subprocess.Popen(["perf", "record", "-q", "-a", "-o", str(data), "-e", EVENTS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # perf has opened its buffers
        t0 = time.monotonic()
        run()
        return time.monotonic() - t0
    finally:
        perf.send_signal(signal.SIGINT)
        perf.wait()


# Threads of the kernel's own (workers, softirqs, RCU, migration, idle).
KERNEL_THREAD = re.compile(r"(kworker|ksoftirqd|rcu_|migration|swapper|kcompactd|kswapd|khugepaged|kdamond|jbd2|"
                           r"irq/|watchdog|cpuhp|kthreadd)")


def preempter_kind(pid: int, comm: str, step_of: dict[int, int], own_comm: re.Pattern) -> str:
    """Who took the CPU from a running step: another step, the tool, the kernel, or anything else."""
    if pid in step_of:
        return "steps"
    if own_comm.match(comm):
        return "tool"
    return "kernel" if KERNEL_THREAD.match(comm) else "other"


def analyse(data: Path, tool_exe: str, own_comm: re.Pattern) -> dict:
    """analyse_trace() of the perf data in `data`."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,pid,tid,cpu,time,event,trace"],
                         capture_output=True, text=True, check=True).stdout
    return analyse_trace(out, tool_exe, own_comm)


def analyse_trace(out: str, tool_exe: str, own_comm: re.Pattern) -> dict:
    """Steps, gaps and fixed costs from `perf script` text; `tool_exe` names the exec of the
    tool, `own_comm` matches the names of its threads (to say who preempted the steps)."""
    step_of: dict[int, int] = {}      # pid of a step's shell or its child -> the shell's pid
    start: dict[int, float] = {}      # shell pid -> exec time
    end: dict[int, float] = {}        # shell pid -> exit time
    launcher_of: dict[int, int] = {}  # pid -> the process (not thread) that forked it
    running: dict[int, tuple[int, float]] = {}  # cpu -> (pid, since)
    cpu_time: dict[int, float] = {}
    preempted: dict[int, int] = {}
    preempted_by: dict[str, int] = {}
    migrated: dict[int, int] = {}
    tool = {"exec": None, "pid": None, "exit": None}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, tid, cpu = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        t, kind, rest = float(m.group(5)), m.group(6), m.group(7)
        if kind == "sched_process_exec":
            if tool["exec"] is None and re.search(r"filename=\S*" + re.escape(tool_exe) + r"\b", rest):
                tool["exec"], tool["pid"] = t, tid
            elif "filename=/bin/sh" in rest and tool["exec"] is not None and tid not in step_of:
                step_of[tid] = tid
                start[tid] = t
        elif kind == "sched_process_fork":
            parent = int(re.search(r" pid=(\d+)", rest).group(1))
            child = int(re.search(r"child_pid=(\d+)", rest).group(1))
            if parent in step_of:
                step_of[child] = step_of[parent]
            else:
                launcher_of[child] = pid
        elif kind == "sched_process_exit":
            if tid in start:
                end[tid] = t
            if tid == tool["pid"]:
                tool["exit"] = t
        elif kind == "sched_switch":
            sw = SWITCH.search(rest)
            prev, state, nxt_comm, nxt = int(sw.group(1)), sw.group(2), sw.group(3), int(sw.group(4))
            if cpu in running and running[cpu][0] == prev and prev in step_of:
                shell = step_of[prev]
                cpu_time[shell] = cpu_time.get(shell, 0.0) + t - running[cpu][1]
                if state.startswith("R"):
                    preempted[shell] = preempted.get(shell, 0) + 1
                    by = preempter_kind(nxt, nxt_comm, step_of, own_comm)
                    preempted_by[by] = preempted_by.get(by, 0) + 1
            running[cpu] = (nxt, t)
        elif kind == "sched_migrate_task":
            pid = int(re.search(r" pid=(\d+)", rest).group(1))
            if pid in step_of:
                migrated[step_of[pid]] = migrated.get(step_of[pid], 0) + 1
    steps = sorted((p for p in start if p in end), key=lambda p: start[p])
    if not steps:
        raise SystemExit(f"profile.py: no step of {tool_exe} was traced (is perf allowed to trace?)")
    gaps = [start[b] - end[a] for a, b in zip(steps, steps[1:])]
    starts_by_launcher: dict[int | None, list[float]] = {}
    for p in steps:  # already in start order
        starts_by_launcher.setdefault(launcher_of.get(p), []).append(start[p])
    refills = []
    for p in steps:
        starts = starts_by_launcher[launcher_of.get(p)]
        i = bisect.bisect_right(starts, end[p])
        if i < len(starts):
            refills.append(starts[i] - end[p])
    return {
        "steps": len(steps),
        "wall_ms": 1e3 * statistics.median(end[p] - start[p] for p in steps),
        "cpu_ms": 1e3 * statistics.median(cpu_time.get(p, 0.0) for p in steps),
        "preempted": sum(preempted.get(p, 0) for p in steps) / len(steps),
        # Over every traced step process, also one whose exit the trace missed: per step.
        "preempted_by": {k: n / len(steps) for k, n in preempted_by.items()},
        "migrated": sum(migrated.get(p, 0) for p in steps) / len(steps),
        "gap_ms": 1e3 * statistics.median(gaps) if gaps else 0.0,
        "gap_mean_ms": 1e3 * statistics.mean(gaps) if gaps else 0.0,
        "refill_ms": 1e3 * statistics.median(refills) if refills else 0.0,
        "refill_mean_ms": 1e3 * statistics.mean(refills) if refills else 0.0,
        "head_ms": 1e3 * (start[steps[0]] - tool["exec"]) if tool["exec"] else float("nan"),
        "tail_ms": 1e3 * (tool["exit"] - end[steps[-1]]) if tool["exit"] else float("nan"),
    }


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid` (not of its reaped children)."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", choices=["chain", "fanout"], default="chain")
    p.add_argument("--build", default=str(Path(__file__).resolve().parent.parent / "build"))
    args = p.parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("profile.py: perf is missing; install it (Debian: apt-get install linux-perf)")
    build = Path(args.build).resolve()
    if not (build / "cli" / "receta").exists():
        raise SystemExit(f"profile.py: {build} has no cli/receta; build first (bash bench/run.sh builds it)")
    workload = workloads.fanout() if args.workload == "fanout" else workloads.chain()
    root = Path(tempfile.mkdtemp(prefix="receta-profile-"))
    results = {}
    own_cpu = {}
    try:
        (root / "cluster").mkdir()
        c = cluster.RecetaCluster(build, root / "cluster")
        c.start()
        try:
            warm = root / "warm"
            workloads.write_workspace(warm, workload, uuid.uuid4().hex)
            peers.Receta(c).run(warm)
            ws = root / "receta"
            workloads.write_workspace(ws, workload, uuid.uuid4().hex)
            daemons = {"scheduler": c.scheduler.pid, **{f"worker {n}": w.pid for n, w in c.workers.items()}}
            before = {name: cpu_seconds(pid) for name, pid in daemons.items()}
            cli = []  # rusage of this process's children around the CLI alone (perf is one too)

            def run_receta():
                cli.append(resource.getrusage(resource.RUSAGE_CHILDREN))
                peers.Receta(c).run(ws)
                cli.append(resource.getrusage(resource.RUSAGE_CHILDREN))
                own_cpu.update({name: cpu_seconds(pid) - before[name] for name, pid in daemons.items()})

            wall = traced(root / "receta.data", run_receta)
            own_cpu["cli"] = (cli[1].ru_utime + cli[1].ru_stime) - (cli[0].ru_utime + cli[0].ru_stime)
            results["receta"] = dict(analyse(root / "receta.data", "cli/receta", RECETA_THREADS), wall=wall)
        finally:
            c.stop()
        ninja = next(t for t in peers.make_peers() if t.name == "ninja")
        ws = root / "ninja"
        workloads.write_workspace(ws, workload, uuid.uuid4().hex)
        wall = traced(root / "ninja.data", lambda: ninja.run(ws))
        results["ninja"] = dict(analyse(root / "ninja.data", "ninja", NINJA_THREADS), wall=wall)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    kind = "gap" if args.workload == "chain" else "refill"
    print(f"\n{args.workload}: one traced run each on fresh workspaces (wall times include perf's overhead)\n")
    print("| | wall s | steps | step wall ms (median) | step CPU ms | preempted /step | moved /step "
          f"| {kind} ms median / mean "
          "| exec to first step ms | last step to exit ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        gap = f"{r[kind + '_ms']:.3f} / {r[kind + '_mean_ms']:.3f}"
        print(f"| {name} | {r['wall']:.3f} | {r['steps']} | {r['wall_ms']:.3f} | {r['cpu_ms']:.3f} | "
              f"{r['preempted']:.2f} | {r['migrated']:.2f} | {gap} | {r['head_ms']:.1f} | {r['tail_ms']:.1f} |")
    print("\nwho preempted the steps, per step: " + "; ".join(
        f"{name}: " + ", ".join(f"{kind} {r['preempted_by'].get(kind, 0.0):.2f}"
                                for kind in ("tool", "steps", "kernel", "other"))
        for name, r in results.items()))
    steps = results["receta"]["steps"]
    print("\nreceta's own CPU per step (steps excluded): " +
          ", ".join(f"{name} {1e3 * s / steps:.3f} ms" for name, s in own_cpu.items()) +
          f"; total {1e3 * sum(own_cpu.values()) / steps:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
