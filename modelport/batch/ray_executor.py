"""The Ray executor: long-lived actors, each holding a warm worker (batch/warm.py) of one framework on its node,
fed by the same slots as the pool (batch/slots.py), so the same manifest writes the same files either way. A
slot moving on to another framework hands its actor on, and the actor replaces its worker. With
`--isolation job` an actor runs each job in a new process instead.

The timeout and crash rules are the pool's: the actor's worker process is killed on a timeout, a worker that
dies is recorded against its job, and the actor starts a fresh worker for the next job; an actor that itself
dies (its node lost) is recorded against its job and replaced.

Where: `--ray-address`, else `RAY_ADDRESS`, else a local Ray started for this run and stopped after it.
Shipped to workers: the task (plain data: paths, options) and nothing else; every worker must reach the
sources and outputs at the same paths (a shared file system), with modelport and the frameworks installed.
Actors: `-j` of them (default: the cluster's CPUs over the largest `num_cpus` a job asks), each reserving the
largest `num_cpus` and `memory` the manifest's jobs ask (memory default: six times the source's size, at least
1 GB, capped at the cluster's share per actor).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport.batch.manifest import source_file
from modelport.batch.plan import Task
from modelport.batch.slots import run_slots, worker_for
from modelport.batch.warm import failed
from modelport.core.errors import MissingDependency, UsageError, one_line
from modelport.core.signature_policy import policy_environment

GB = 1 << 30


class Host:
    """What a Ray actor runs: a warm worker (or a process per job) on its node, replaced as the pool's are."""

    def __init__(self, isolation: str, worker_jobs: int | None, worker_memory: int | None, cpus: float) -> None:
        import tempfile

        from modelport.batch.pool import thread_env

        self.isolation = isolation
        self.worker_jobs, self.worker_memory = worker_jobs, worker_memory
        self.env = thread_env(1, cpus)
        self.folder = Path(tempfile.mkdtemp(prefix="modelport-ray-"))
        self.worker = None

    def run(self, task_data: dict[str, Any], timeout: float | None, framework: str) -> dict[str, Any]:
        from modelport.batch.warm import make_worker

        self.worker = worker_for(self.worker, framework, lambda fw: make_worker(
            self.isolation, fw, self.env, self.folder, max_jobs=self.worker_jobs, max_rss=self.worker_memory))
        return self.worker.run(Task.from_dict(task_data), timeout)

    def close(self) -> None:
        import shutil

        if self.worker is not None:
            self.worker.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def default_memory(task: Task) -> int:
    path = source_file(task.source)
    try:
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
    except OSError:
        size = 0
    return max(GB, 6 * size)


class _Slot:
    """The driver's side of one actor, for one framework: the slot's worker as batch/slots.py sees it. When the
    slot moves to another framework its actor is handed to the next slot, which replaces the actor's worker."""

    spent = False  # the actor replaces its own spent or dead worker

    def __init__(self, executor: RayExecutor, framework: str) -> None:
        self.executor, self.framework = executor, framework
        self.actor = executor.actor()

    def run(self, task: Task, timeout: float | None) -> dict[str, Any]:
        try:
            return self.executor.ray.get(self.actor.run.remote(task.to_dict(), timeout, self.framework))
        except Exception as exc:  # the actor died, or Ray lost its node: a fresh actor for the next job
            self.executor.drop(self.actor)
            self.actor = self.executor.actor()
            return failed(task, f"the Ray worker failed ({one_line(exc)})")

    def close(self) -> None:
        self.executor.idle(self.actor)


class RayExecutor:
    def __init__(self, address: str | None, timeout: float | None, jobs: int | None = None,
                 isolation: str = "worker", worker_jobs: int | None = None,
                 worker_memory: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise MissingDependency("ray", "ray", "run jobs on Ray (--executor ray)") from exc
        self.ray = ray
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.timeout, self.jobs, self.isolation = timeout, jobs, isolation
        self.worker_jobs, self.worker_memory = worker_jobs, worker_memory
        self._actors: set = set()
        self._idle: list = []
        self._lock = threading.Lock()
        self._stopping = False

    def run(self, tasks: list[Task], started: Callable[[Task], None], done: Callable[[Task, dict], None]) -> None:
        ray = self.ray
        ours = not ray.is_initialized()
        if ours:
            self._start(ray)
        try:
            resources = ray.cluster_resources()
            cpus = max(t.num_cpus for t in tasks)
            slots = self.jobs or max(1, int(resources.get("CPU", 1) // cpus))
            memory = max(t.memory or default_memory(t) for t in tasks)
            if resources.get("memory"):
                memory = min(memory, int(resources["memory"] // slots))
            self._options = {"num_cpus": cpus, "memory": memory, "max_restarts": 0, "max_task_retries": 0}
            env = policy_environment()  # --require-signature / --sign-key reach actors on a cluster's nodes too
            if env:
                self._options["runtime_env"] = {"env_vars": env}
            self.worker_memory = self.worker_memory or memory  # a worker past its actor's reservation is replaced
            self._remote = ray.remote(Host)
            run_slots(tasks, slots, lambda framework: _Slot(self, framework), self.timeout, started, done,
                      lambda: self._stopping, self.kill_all)
            self._close_all()
        finally:
            if ours:
                ray.shutdown()

    def actor(self):
        """An idle actor, else a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        handle = self._remote.options(**self._options).remote(self.isolation, self.worker_jobs, self.worker_memory,
                                                             self._options["num_cpus"])
        with self._lock:
            self._actors.add(handle)
        return handle

    def idle(self, actor) -> None:
        with self._lock:
            self._idle.append(actor)

    def drop(self, actor) -> None:
        with self._lock:
            self._actors.discard(actor)
        try:
            self.ray.kill(actor)
        except Exception:  # already gone
            pass

    def _close_all(self) -> None:
        """The run is over: each actor ends its worker (and its scratch folder), then goes."""
        with self._lock:
            actors, self._idle = list(self._actors), []
        try:
            self.ray.get([a.close.remote() for a in actors], timeout=60)
        except Exception:  # an actor already gone: nothing of it to close
            pass
        for actor in actors:
            self.drop(actor)

    def kill_all(self) -> None:
        self._stopping = True
        with self._lock:
            actors = list(self._actors)
        for actor in actors:  # the warm worker under each sees its parent gone and ends
            self.drop(actor)

    def _start(self, ray) -> None:
        import logging

        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                                  "configure_logging": True}
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
        except Exception as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            raise UsageError(f"cannot start {where} ({one_line(exc)})",
                             hint="check RAY_ADDRESS / --ray-address, or `ray status` on the head node") from exc
