"""bench/report.py: the ratios and target verdicts a user reads off the report.

Synthetic sessions with known medians, so each verdict is decided by the
numbers given here: a ratio just under and just over a limit, a missing
peer, a failed W5, and the --quick caveat.
"""
from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import report  # noqa: E402


def session(timings: dict, quick: bool = False, w5: dict | None = None, rss: dict | None = None,
            big: dict | None = None) -> dict:
    return {
        "reps": 3, "quick": quick,
        "env": {"line": "test"},
        "sizes": {"chain": 200, "fanout": 1000, "artifact_bytes": 1 << 30},
        "labels": {tool: tool for tool in timings},
        "timings": timings,
        "w5": w5 or {"receta": [], "bash": [], "cp": []},
        "rss": rss or {},
        "big": big or {},
        "problems": [],
        "session_seconds": 1.0,
    }


def verdicts(r: dict) -> dict[str, bool | None]:
    return {name: ok for name, _, ok in report.targets(r)}


class TargetsTest(unittest.TestCase):
    def test_ratio_to_ninja_is_judged_on_medians(self):
        # Medians: receta 1.24 (under 1.25 x 1.0) in W1, 1.26 in W2; one slow
        # rep each must not move them.
        r = session({"receta": {"W1": [1.24, 1.2, 9.0], "W2": [1.26, 1.3, 0.1]},
                     "ninja": {"W1": [1.0, 1.0, 1.0], "W2": [1.0, 1.0, 1.0]}})
        v = verdicts(r)
        self.assertIs(v["W1: receta <= 1.25 x ninja"], True)
        self.assertIs(v["W2: receta <= 1.25 x ninja"], False)
        text = report.render(r)
        self.assertIn("| ninja | 1.24 | 1.26 | — | — |", text)

    def test_faster_than_peers_and_absent_peers(self):
        r = session({"receta": {"W1": [2.0]}, "doit": {"W1": [2.5]}, "snakemake": {"W1": [1.5]}})
        v = verdicts(r)
        self.assertIs(v["W1: receta faster than doit"], True)
        self.assertIs(v["W1: receta faster than snakemake"], False)
        # No dask and no ninja in this session: no verdict is made up for them.
        self.assertNotIn("W1: receta faster than dask", v)
        self.assertNotIn("W1: receta <= 1.25 x ninja", v)

    def test_noop_rerun_targets(self):
        r = session({"receta": {"W3": [0.2]}, "make": {"W3": [0.3]}, "snakemake": {"W3": [1.9]}})
        v = verdicts(r)
        self.assertIs(v["W3: receta < 0.25 s"], True)
        self.assertIs(v["W3: receta faster than make"], True)
        self.assertIs(v["W3: receta 10x faster than snakemake"], False)  # 2.0 s would be needed

    def test_artifact_throughput_subtracts_the_commands_own_time(self):
        # 1 GiB: receta 3.0 s of which the two commands alone take 1.0 s, so
        # moving it costs 2.0 s = 0.5 GiB/s; cp 1.0 s = 1 GiB/s: exactly half.
        r = session({"receta": {}}, w5={"receta": [3.0], "bash": [1.0], "cp": [1.0]})
        self.assertIs(verdicts(r)["W5: receta artifact throughput >= 0.5 x cp"], True)
        r = session({"receta": {}}, w5={"receta": [3.2], "bash": [1.0], "cp": [1.0]})
        self.assertIs(verdicts(r)["W5: receta artifact throughput >= 0.5 x cp"], False)

    def test_memory_targets(self):
        r = session({"receta": {}}, rss={"scheduler_rss_after_w2_kb": [40 * 1024, 51 * 1024]},
                    big={"steps": 100000, "seconds": 400.0, "run_duration_ms": 390000, "peak_rss_kb": 300 * 1024,
                         "hwm_kb": 310 * 1024, "completed": False, "states": {"running": 1}})
        v = verdicts(r)
        self.assertIs(v["scheduler RSS after W2 < 50 MB (largest rep)"], False)
        self.assertIs(v["100,000-step DAG: scheduler RSS < 1 GB and completes"], False)

    def test_quick_report_says_its_verdicts_are_not_the_targets(self):
        timings = {"receta": {"W1": [1.5]}, "ninja": {"W1": [1.0]}}
        self.assertIn("not the issue's targets", report.render(session(timings, quick=True)))
        self.assertNotIn("not the issue's targets", report.render(session(timings)))


if __name__ == "__main__":
    unittest.main()
