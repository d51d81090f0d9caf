"""The local executor: N slots, each with a warm worker process (batch/warm.py) or, with `--isolation job`, a
new process per job (`python -m modelport.batch.worker`).

Either way a framework's crash stays in its process: a job over its timeout has its whole process group
killed and is recorded as failed; so is one whose process dies without a result (a segfault, the OOM killer),
with the last line it wrote on stderr. Each process gets its share of the cores for its math libraries'
threads (OMP_NUM_THREADS and friends), so N jobs do not fight over them. Ctrl-C kills every worker's process
group and re-raises.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from modelport.batch.plan import Task
from modelport.batch.slots import run_slots
from modelport.batch.warm import kill, make_worker

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "MODELPORT_THREADS")
# jobs a warm worker takes before it is replaced: measured (benchmarks/batch_fleet.py --many 200), a worker
# grows by at most 0.3 MiB a job, and replacing one costs its framework's import (TensorFlow ~5 s), about 7% of
# 200 small jobs' time (0.36 s each)
WORKER_JOBS = 200


def thread_env(jobs: int, cpus: float | None = None) -> dict[str, str]:
    """The environment of a task's process: its share of the cores (`cpus`, else cores / jobs) for threads."""
    share = str(max(1, int(cpus) if cpus else (os.cpu_count() or 1) // max(jobs, 1)))
    env = dict(os.environ)
    for var in THREAD_VARS:
        env.setdefault(var, share)
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    # a converter iterating over a set of names would order nodes by string hashes, which change per process:
    # a fixed seed keeps the same manifest writing the same bytes on every run and every executor
    env.setdefault("PYTHONHASHSEED", "0")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def default_worker_memory(jobs: int) -> int:
    """Resident memory past which a warm worker is replaced between jobs: half the machine's memory shared out
    between the workers, at least 2 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 << 30
    return max(2 << 30, total // 2 // max(jobs, 1))


class Pool:
    def __init__(self, jobs: int, timeout: float | None, isolation: str = "worker",
                 worker_jobs: int | None = WORKER_JOBS, worker_memory: int | None = None) -> None:
        self.jobs, self.timeout, self.isolation = max(1, jobs), timeout, isolation
        self.worker_jobs = worker_jobs
        self.worker_memory = worker_memory or default_worker_memory(self.jobs)
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def _track(self, proc: subprocess.Popen, running: bool) -> None:
        with self._lock:
            if running and self._stopping:  # started as Ctrl-C came: it goes too
                kill(proc)
            (self._running.add if running else self._running.discard)(proc)

    def run(self, tasks: list[Task], started: Callable[[Task], None], done: Callable[[Task, dict], None]) -> None:
        env = thread_env(self.jobs)
        with tempfile.TemporaryDirectory(prefix="modelport-batch-") as scratch:
            def make(framework: str):
                return make_worker(self.isolation, framework, env, Path(scratch), max_jobs=self.worker_jobs,
                                   max_rss=self.worker_memory, track=self._track)

            run_slots(tasks, self.jobs, make, self.timeout, started, done, lambda: self._stopping, self.kill_all)

    def kill_all(self) -> None:
        with self._lock:
            self._stopping = True
            for proc in list(self._running):
                kill(proc)
