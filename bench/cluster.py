"""A receta cluster on loopback for the benchmark: one scheduler, two workers.

Each worker has one slot and a label equal to its name (w1, w2) so the
artifact workload can pin a step to each. State is durable (RocksDB synced
writes, the scheduler's default). Daemons get PR_SET_PDEATHSIG so they die
with the benchmark even if it is killed with SIGKILL; stop() ends them
politely first.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until(condition, what: str, timeout: float = 30.0, interval: float = 0.02):
    """Polls `condition` until it returns something truthy, or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def proc_status_kb(pid: int, field: str) -> int:
    """VmRSS / VmHWM of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class RecetaCluster:
    WORKERS = ("w1", "w2")

    def __init__(self, build: Path, root: Path):
        self.build = build
        self.root = root
        self.cli = str(build / "cli" / "receta")
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ)

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.root / log_name, "wb")
        # Own session: a Ctrl-C or a signal to the benchmark's process group
        # reaches only the benchmark, which then stops the daemons in order.
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                preexec_fn=_die_with_parent, start_new_session=True)

    def start(self) -> None:
        data = self.root / "scheduler"
        self.scheduler = self._spawn(
            [str(self.build / "scheduler" / "receta-scheduler"), "--data-dir", str(data),
             "--listen", "tcp://127.0.0.1:*"], "scheduler.log")
        endpoint_file = data / "scheduler.endpoint"
        wait_until(lambda: endpoint_file.exists() and endpoint_file.read_text().strip(),
                   "the scheduler's endpoint file")
        self.env["RECETA_SCHEDULER"] = endpoint_file.read_text().strip()
        for name in self.WORKERS:
            self.workers[name] = self._spawn(
                [str(self.build / "worker" / "receta-worker"), "--work-dir", str(self.root / name),
                 "--name", name, "--slots", "1", "--labels", name], f"{name}.log")
        wait_until(lambda: self._connected_workers() == len(self.WORKERS), "both workers to register")
        self.wait_until_settled()

    def wait_until_settled(self, window: float = 0.2, timeout: float = 30.0) -> None:
        """Waits until the daemons spend under 1% of a CPU over `window`.

        Why: a worker finishes starting in the background after it has
        registered (it makes its pool of spare files: ~0.9 s here), and a
        cluster timed during that is not the warm one the benchmark promises;
        the first rep of each workload ran 1.5x slower than the others.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.daemon_cpu_seconds()
            time.sleep(window)
            if self.daemon_cpu_seconds() - before < 0.01 * window:
                return

    def _connected_workers(self) -> int:
        out = subprocess.run([self.cli, "workers", "--json"], env=self.env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            return 0
        return sum(1 for w in json.loads(out.stdout) if w.get("connected"))

    def receta(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.cli, *args], env=self.env, capture_output=True, text=True, cwd=cwd)
        if check and proc.returncode != 0:
            raise RuntimeError(f"receta {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return proc

    def status(self, run_id: str) -> dict:
        return json.loads(self.receta("status", run_id, "--json").stdout)

    def step_states(self, run_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.status(run_id)["steps"]:
            counts[step["state"]] = counts.get(step["state"], 0) + 1
        return counts

    def dead_daemons(self) -> list[str]:
        """Daemons that have exited, with their exit status and last log line."""
        dead = []
        for name, p in [("scheduler", self.scheduler)] + list(self.workers.items()):
            if p is not None and p.poll() is not None:
                log = (self.root / f"{name}.log").read_text(errors="replace").strip().splitlines()
                dead.append(f"{name} exited with status {p.returncode}; its last log line: "
                            f"{log[-1] if log else '(none)'}")
        return dead

    def daemon_cpu_seconds(self) -> float:
        """CPU time the scheduler and workers have used so far, every thread
        (/proc/PID/task/*/schedstat, in ns), their steps not included (those
        are processes of their own).

        Why: on this machine a run's wall time moves by 10-20% between
        identical runs, so a change that removes a few percent of receta's
        own work is visible only in the CPU it spends.
        """
        total_ns = 0
        for p in [self.scheduler] + list(self.workers.values()):
            task_dir = Path(f"/proc/{p.pid}/task")
            for task in task_dir.iterdir():
                try:
                    total_ns += int((task / "schedstat").read_text().split()[0])
                except (FileNotFoundError, ProcessLookupError):
                    pass  # a thread that ended meanwhile
        return total_ns / 1e9

    def scheduler_kb(self, field: str) -> int:
        return proc_status_kb(self.scheduler.pid, field)

    def worker_kb(self, name: str, field: str) -> int:
        return proc_status_kb(self.workers[name].pid, field)

    def stop(self) -> None:
        procs = list(self.workers.values()) + ([self.scheduler] if self.scheduler else [])
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.workers.clear()
        self.scheduler = None
