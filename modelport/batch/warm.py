"""A warm worker: one process that imports its framework once and runs job after job
(`python -m modelport.batch.worker --warm`), and the process-per-job worker `--isolation job` keeps.

The parent sends each task as one JSON line on the worker's stdin and reads the result as one JSON line from
a pipe the worker keeps for itself (the frameworks' own prints go to /dev/null, as with a process per job).
What a process per job gave stays:
- a job over its timeout kills the worker's whole process group; only that job is recorded as failed;
- a worker that dies is recorded against the job it held, with its signal and the last line it wrote on
  stderr while running that job;
- the next job gets a fresh worker in both cases.
Between jobs the worker resets the framework state a job leaves behind (batch/reset.py) and reports its
resident memory; it is replaced after `max_jobs` jobs or when that memory passes `max_rss` bytes.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport.batch.plan import Task

Track = Callable[[subprocess.Popen, bool], None]


def failed(task: Task, message: str, seconds: float = 0.0) -> dict[str, Any]:
    """The result of a task whose process gave none (timeout, crash)."""
    return {"name": task.name, "target": task.target, "status": "failed", "exit_code": 3, "seconds": seconds,
            "message": message, "steps": [s.entry("not run", 3) for s in task.steps]}


def sweep(task: Task) -> None:
    """A killed or crashed job's work folders (their locks died with it): nothing half-made stays behind."""
    from modelport.core.io import sweep_stale

    for step in task.steps:
        if Path(step.output).parent.is_dir():
            sweep_stale(Path(step.output))


def kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def last_line(path: Path, offset: int = 0) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")[:300]


def died(task: Task, proc: subprocess.Popen, err: Path, offset: int, seconds: float) -> dict[str, Any]:
    sweep(task)
    code = proc.wait()
    how = f"signal {-code}" if code < 0 else f"exit code {code}"
    last = last_line(err, offset)
    return failed(task, f"the job's process died ({how})" + (f": {last}" if last else ""), seconds)


class WarmWorker:
    """The parent's handle on one warm worker process."""

    def __init__(self, framework: str, env: dict[str, str], folder: Path, *, max_jobs: int | None = None,
                 max_rss: int | None = None, track: Track = lambda proc, running: None) -> None:
        self.framework, self.max_jobs, self.max_rss, self._track = framework, max_jobs, max_rss, track
        folder.mkdir(parents=True, exist_ok=True)
        self.err = folder / f"worker-{time.monotonic_ns()}.stderr"
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "modelport.batch.worker", "--warm"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env,
                                         start_new_session=True)
        track(self.proc, True)
        self.jobs, self.rss, self.dead = 0, 0, False
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def spent(self) -> bool:
        return self.dead or bool(self.max_jobs and self.jobs >= self.max_jobs) or \
            bool(self.max_rss and self.rss > self.max_rss)

    def run(self, task: Task, timeout: float | None) -> dict[str, Any]:
        start = time.perf_counter()
        offset = self.err.stat().st_size
        try:
            self.proc.stdin.write(json.dumps({"task": task.to_dict()}).encode() + b"\n")
            self.proc.stdin.flush()
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close(force=True)
            sweep(task)
            return failed(task, f"timed out after {timeout:g} s (the job's processes were killed)",
                          round(time.perf_counter() - start, 3))
        except OSError:  # the worker died before it read the task
            line = None
        if line is None:
            self.dead = True
            self._track(self.proc, False)
            return died(task, self.proc, self.err, offset, round(time.perf_counter() - start, 3))
        reply = json.loads(line)
        self.jobs += 1
        self.rss = int(reply.get("rss", 0))
        result = reply["result"]
        result["worker"] = {"pid": self.proc.pid, "job": self.jobs, "rss_mib": round(self.rss / 2**20, 1)}
        return result

    def close(self, force: bool = False) -> None:
        if self.proc.returncode is None and not force:
            try:
                self.proc.stdin.close()  # the worker's loop ends at end of input
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.returncode is None:
            kill(self.proc)
        self.dead = True
        self._track(self.proc, False)


def make_worker(isolation: str, framework: str, env: dict[str, str], folder: Path, *, max_jobs: int | None = None,
                max_rss: int | None = None, track: Track = lambda proc, running: None):
    """A worker of `framework`: warm, or with `isolation="job"` a new process per job."""
    if isolation == "job":
        return ProcessPerJob(framework, env, folder, track)
    return WarmWorker(framework, env, folder, max_jobs=max_jobs, max_rss=max_rss, track=track)


class ProcessPerJob:
    """`--isolation job`: each job in a new process (`python -m modelport.batch.worker TASK RESULT`)."""

    spent = True  # one job each

    def __init__(self, framework: str, env: dict[str, str], folder: Path,
                 track: Track = lambda proc, running: None) -> None:
        self.framework, self.env, self.folder, self._track = framework, env, folder, track

    def run(self, task: Task, timeout: float | None) -> dict[str, Any]:
        return run_in_process(task, self.folder / f"job-{time.monotonic_ns()}", self.env, timeout, self._track)

    def close(self) -> None:
        pass


def run_in_process(task: Task, folder: Path, env: dict[str, str], timeout: float | None,
                   track: Track = lambda proc, running: None) -> dict[str, Any]:
    """Run a task in a new process and return its result; a timeout or a process that dies without a result
    gives a failed result (and its work folders are swept)."""
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
            kill(proc)
            sweep(task)
            return failed(task, f"timed out after {timeout:g} s (the job's processes were killed)",
                          round(time.perf_counter() - start, 3))
        finally:
            track(proc, False)
    if result_file.exists():
        return json.loads(result_file.read_text())
    return died(task, proc, err_file, 0, round(time.perf_counter() - start, 3))
