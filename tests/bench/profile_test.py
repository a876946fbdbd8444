"""bench/profile.py: what it reads off a scheduler trace (perf script text).

A synthetic trace of two steps started by one worker thread, with known
exec, exit, preemption and migration times, so every number the profile
prints for it is decided here.
"""
from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import profile as bench_profile  # noqa: E402

RECETA = bench_profile.RECETA_THREADS


def event(comm: str, pid: int, tid: int, cpu: int, t: float, kind: str, rest: str) -> str:
    return f"{comm:>16} {pid}/{tid} [{cpu:03d}] {t:.6f}: sched:{kind}: {rest}"


def switch(cpu: int, t: float, prev: tuple[str, int], state: str, nxt: tuple[str, int]) -> str:
    return event(prev[0], prev[1], prev[1], cpu, t, "sched_switch",
                 f"prev_comm={prev[0]} prev_pid={prev[1]} prev_prio=120 prev_state={state} ==> "
                 f"next_comm={nxt[0]} next_pid={nxt[1]} next_prio=120")


def trace() -> str:
    worker, attempt = 200, ("receta-worker", 201)
    lines = [
        event("receta", 100, 100, 0, 1.000, "sched_process_exec", "filename=/b/cli/receta pid=100 old_pid=100"),
        # step 300: exec at 1.010, runs on cpu 0, preempted once by the attempt
        # thread, once by a kernel thread, moved once, exits at 1.020
        event("receta-worker", worker, 201, 0, 1.009, "sched_process_fork",
              "comm=receta-worker pid=201 child_comm=receta-worker child_pid=300"),
        switch(0, 1.0095, ("swapper/0", 0), "R", ("sh", 300)),
        event("sh", 300, 300, 0, 1.010, "sched_process_exec", "filename=/bin/sh pid=300 old_pid=300"),
        switch(0, 1.012, ("sh", 300), "R+", attempt),
        switch(0, 1.013, attempt, "S", ("sh", 300)),
        switch(0, 1.015, ("sh", 300), "R", ("kworker/0:1", 9)),
        switch(0, 1.016, ("kworker/0:1", 9), "S", ("sh", 300)),
        event("sh", 300, 300, 0, 1.017, "sched_migrate_task", "comm=sh pid=300 prio=120 orig_cpu=0 dest_cpu=1"),
        event("sh", 300, 300, 0, 1.020, "sched_process_exit", "comm=sh pid=300 prio=120"),
        switch(0, 1.020, ("sh", 300), "X", ("swapper/0", 0)),
        # step 301: the same worker starts it 2 ms after 300's exit; never preempted
        event("receta-worker", worker, 201, 0, 1.021, "sched_process_fork",
              "comm=receta-worker pid=201 child_comm=receta-worker child_pid=301"),
        switch(0, 1.0215, ("swapper/0", 0), "R", ("sh", 301)),
        event("sh", 301, 301, 0, 1.022, "sched_process_exec", "filename=/bin/sh pid=301 old_pid=301"),
        event("sh", 301, 301, 0, 1.026, "sched_process_exit", "comm=sh pid=301 prio=120"),
        switch(0, 1.026, ("sh", 301), "X", ("swapper/0", 0)),
        event("receta", 100, 100, 1, 1.030, "sched_process_exit", "comm=receta pid=100 prio=120"),
    ]
    return "\n".join(lines) + "\n"


class AnalyseTrace(unittest.TestCase):
    def setUp(self):
        self.r = bench_profile.analyse_trace(trace(), "cli/receta", RECETA)

    def test_steps_and_their_times(self):
        self.assertEqual(self.r["steps"], 2)
        self.assertAlmostEqual(self.r["wall_ms"], (10.0 + 4.0) / 2, places=3)
        # gap: exit of 300 at 1.020 to exec of 301 at 1.022; refill the same (one launcher)
        self.assertAlmostEqual(self.r["gap_ms"], 2.0, places=3)
        self.assertAlmostEqual(self.r["refill_ms"], 2.0, places=3)
        # CPU: 300 ran 1.0095-1.012, 1.013-1.015, 1.016-1.020; 301 1.0215-1.026
        self.assertAlmostEqual(self.r["cpu_ms"], (8.5 + 4.5) / 2, places=3)
        self.assertAlmostEqual(self.r["head_ms"], 10.0, places=3)
        self.assertAlmostEqual(self.r["tail_ms"], 4.0, places=3)

    def test_preemptions_are_counted_and_attributed(self):
        self.assertAlmostEqual(self.r["preempted"], 1.0)  # two preemptions over two steps
        self.assertEqual(self.r["preempted_by"], {"tool": 0.5, "kernel": 0.5})
        self.assertAlmostEqual(self.r["migrated"], 0.5)

    def test_who_preempts(self):
        steps = {300: 300, 302: 300}
        kind = bench_profile.preempter_kind
        self.assertEqual(kind(302, "cat", steps, RECETA), "steps")
        self.assertEqual(kind(5, "ZMQbg/IO/0", steps, RECETA), "tool")
        self.assertEqual(kind(6, "receta-schedule", steps, RECETA), "tool")
        self.assertEqual(kind(7, "ksoftirqd/1", steps, RECETA), "kernel")
        self.assertEqual(kind(8, "python3", steps, RECETA), "other")
        self.assertEqual(kind(9, "ninja", steps, bench_profile.NINJA_THREADS), "tool")

    def test_a_trace_without_steps_says_so(self):
        with self.assertRaises(SystemExit) as caught:
            bench_profile.analyse_trace(trace().replace("/bin/sh", "/bin/bash"), "cli/receta", RECETA)
        self.assertIn("no step", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
