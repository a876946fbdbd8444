"""A/B comparison of receta builds against ninja, in one drift-free session.

Why: this machine's speed drifts by 20-30% within an hour, so two builds
measured in separate runs of bench/run.sh compare nothing. Here each build
gets its own warm cluster (started once, like run.sh's) and every round runs
ninja and every build back to back on fresh workspaces, the order reversed
each round; the report is the median per tool and its ratio to ninja, and
for each build the CPU receta itself spent per step of the first workload
(scheduler and workers, every thread, and the CLI; the steps not included).
That number moves by a few percent between identical runs where the wall
time moves by 10-20%: a change that removes some of receta's own work shows
there first.

    python3 bench/ab.py --workload chain --rounds 8 BUILD_A BUILD_B
    python3 bench/ab.py --workload fanout --rounds 4 build-perf /tmp/base/build

chain: W1 (chain of 200, clean) then W4 (its rerun from step 100) per round.
fanout: W2 (1,000 + join, clean) then W3 (the no-op rerun) per round.
A build may carry environment variables for its daemons after '+', e.g.
build-perf+RECETA_SOME_SWITCH=1, to compare a switch within one build.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import cluster
import peers
import workloads


def parse_build(spec: str) -> tuple[Path, dict[str, str]]:
    path, *assignments = spec.split("+")
    env = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            raise SystemExit(f"ab.py: '{assignment}' in '{spec}' is not NAME=VALUE")
        env[name] = value
    build = Path(path).resolve()
    if not (build / "scheduler" / "receta-scheduler").exists():
        raise SystemExit(f"ab.py: {build} has no scheduler/receta-scheduler; build it first "
                         f"(ninja -C {build} cli/receta scheduler/receta-scheduler worker/receta-worker)")
    return build, env


def cli_cpu_seconds() -> float:
    """CPU of the waited-for children so far: around a receta run, its CLI."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("builds", nargs="+", help="receta build dirs, optionally +NAME=VALUE for their daemons")
    p.add_argument("--workload", choices=["chain", "fanout"], default="chain")
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args()
    if args.rounds < 1:
        raise SystemExit("ab.py: --rounds must be at least 1")
    fanout = args.workload == "fanout"
    names = ("W2", "W3") if fanout else ("W1", "W4")
    workload = workloads.fanout() if fanout else workloads.chain()

    root = Path(tempfile.mkdtemp(prefix="receta-ab-"))
    tools: dict[str, object] = {"ninja": next(t for t in peers.make_peers() if t.name == "ninja")}
    clusters: dict[str, cluster.RecetaCluster] = {}  # by build spec
    try:
        for i, spec in enumerate(args.builds):
            build, env = parse_build(spec)
            c = cluster.RecetaCluster(build, root / f"cluster{i}")
            (root / f"cluster{i}").mkdir()
            c.env.update(env)
            c.start()
            clusters[spec] = c
            tools[spec] = peers.Receta(c)
        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in tools}
        own_cpu_ms: dict[str, list[float]] = {spec: [] for spec in clusters}
        for r in range(args.rounds):
            order = list(tools) if r % 2 == 0 else list(reversed(tools))
            for name in order:
                ws = root / f"ws-{r}-{order.index(name)}"
                workloads.write_workspace(ws, workload, uuid.uuid4().hex)
                c = clusters.get(name)
                before = (c.daemon_cpu_seconds(), cli_cpu_seconds()) if c else None
                first = tools[name].run(ws)
                if c:
                    spent = c.daemon_cpu_seconds() - before[0] + cli_cpu_seconds() - before[1]
                    own_cpu_ms[name].append(1000 * spent / len(workload.steps))
                if not fanout:
                    workloads.edit_chain_source(ws, workload, uuid.uuid4().hex)
                second = tools[name].run(ws, partial=not fanout)
                times[name][0].append(first)
                times[name][1].append(second)
                shutil.rmtree(ws, ignore_errors=True)
            print(f"round {r + 1}: " + "  ".join(
                f"{n} {times[n][0][-1]:.3f}/{times[n][1][-1]:.3f}"
                + (f" ({own_cpu_ms[n][-1]:.3f} ms/step own CPU)" if n in own_cpu_ms else "") for n in tools),
                flush=True)
    finally:
        for c in clusters.values():
            c.stop()
        shutil.rmtree(root, ignore_errors=True)

    base = [statistics.median(times["ninja"][k]) for k in (0, 1)]
    print(f"\n| medians of {args.rounds} round(s) | {names[0]} s | x ninja | {names[1]} s | x ninja "
          f"| receta's own CPU per {names[0]} step, ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (a, b) in times.items():
        ma, mb = statistics.median(a), statistics.median(b)
        cpu = f"{statistics.median(own_cpu_ms[name]):.3f}" if name in own_cpu_ms else "—"
        print(f"| {name} | {ma:.3f} | {ma / base[0]:.2f} | {mb:.3f} | {mb / base[1]:.2f} | {cpu} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
