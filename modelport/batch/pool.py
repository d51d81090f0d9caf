"""The local executor: each task in its own process (`python -m modelport.batch.worker`), N at a time.

A process per task keeps a framework's crash, memory and thread pools to that task. A task over its timeout
has its whole process group killed and is recorded as failed; so is one whose process dies without a result
(a segfault, the OOM killer), with the last line it wrote on stderr. Each process gets its share of the
cores for its math libraries' threads (OMP_NUM_THREADS and friends), so N jobs do not fight over them.
Ctrl-C kills every running task's process group and re-raises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelport.batch.plan import Task

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "MODELPORT_THREADS")


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


def failed(task: Task, message: str, seconds: float = 0.0) -> dict[str, Any]:
    """The result of a task whose process gave none (timeout, crash)."""
    return {"name": task.name, "target": task.target, "status": "failed", "exit_code": 3, "seconds": seconds,
            "message": message, "steps": [s.entry("not run", 3) for s in task.steps]}


class Pool:
    def __init__(self, jobs: int, timeout: float | None) -> None:
        self.jobs, self.timeout = max(1, jobs), timeout
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def run(self, tasks: list[Task], started: Callable[[Task], None], done: Callable[[Task, dict], None]) -> None:
        env = thread_env(self.jobs)
        with tempfile.TemporaryDirectory(prefix="modelport-batch-") as scratch:
            def one(item: tuple[int, Task]) -> None:
                i, task = item
                if self._stopping:
                    return
                started(task)
                result = self._run_one(task, Path(scratch) / str(i), env)
                if not self._stopping:  # killed by Ctrl-C: not a result of the job
                    done(task, result)

            pool = ThreadPoolExecutor(self.jobs)
            try:
                for future in [pool.submit(one, item) for item in enumerate(tasks)]:
                    future.result()
            except BaseException:
                self._stopping = True
                self.kill_all()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)

    def _run_one(self, task: Task, folder: Path, env: dict[str, str]) -> dict[str, Any]:
        def track(proc: subprocess.Popen, running: bool) -> None:
            with self._lock:
                (self._running.add if running else self._running.discard)(proc)

        return run_in_process(task, folder, env, task.timeout or self.timeout, track)

    def kill_all(self) -> None:
        with self._lock:
            for proc in list(self._running):
                _kill(proc)


def run_in_process(task: Task, folder: Path, env: dict[str, str], timeout: float | None,
                   track: Callable[[subprocess.Popen, bool], None] = lambda proc, running: None) -> dict[str, Any]:
    """Run a task in a new process (`python -m modelport.batch.worker`) and return its result; a timeout or
    a process that dies without a result gives a failed result (and its work folders are swept)."""
    import time

    folder.mkdir(parents=True)
    task_file, result_file, err_file = folder / "task.json", folder / "result.json", folder / "stderr.txt"
    task_file.write_text(json.dumps(task.to_dict()))
    start = time.perf_counter()
    with open(err_file, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "modelport.batch.worker", str(task_file), str(result_file)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                start_new_session=True)
        track(proc, True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            _sweep(task)
            return failed(task, f"timed out after {timeout:g} s (the job's processes were killed)",
                          round(time.perf_counter() - start, 3))
        finally:
            track(proc, False)
    if result_file.exists():
        return json.loads(result_file.read_text())
    _sweep(task)
    how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
    last = next((ln for ln in reversed(err_file.read_text(errors="replace").splitlines()) if ln.strip()), "")
    return failed(task, f"the job's process died ({how})" + (f": {last.strip()[:300]}" if last else ""),
                  round(time.perf_counter() - start, 3))


def _sweep(task: Task) -> None:
    """A killed or crashed job's work folders (their locks died with it): nothing half-made stays behind."""
    from modelport.core.io import sweep_stale

    for step in task.steps:
        if Path(step.output).parent.is_dir():
            sweep_stale(Path(step.output))


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
