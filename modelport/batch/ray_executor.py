"""The Ray executor: each task a Ray task, which runs it exactly as the pool does (a new process on the worker's
node, `python -m modelport.batch.worker`, with the same timeout and crash handling), so the same manifest
writes the same files either way.

Where: `--ray-address`, else `RAY_ADDRESS`, else a local Ray started for this run and stopped after it.
Shipped to workers: the task (plain data: paths, options) and nothing else; every worker must reach the
sources and outputs at the same paths (a shared file system), with modelport and the frameworks installed.
Resources per task: `num_cpus` (default 1) and `memory` (default six times the source's size, at least 1 GB,
capped at what the cluster has), from the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport.batch.manifest import source_file
from modelport.batch.plan import Task
from modelport.batch.pool import failed
from modelport.core.errors import MissingDependency, UsageError, one_line

GB = 1 << 30


def _on_worker(task_data: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """What a Ray worker runs for one task."""
    import tempfile

    from modelport.batch.pool import run_in_process, thread_env

    task = Task.from_dict(task_data)
    with tempfile.TemporaryDirectory(prefix="modelport-ray-") as scratch:
        return run_in_process(task, Path(scratch) / "task", thread_env(1, task.num_cpus), task.timeout or timeout)


def default_memory(task: Task) -> int:
    path = source_file(task.source)
    try:
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
    except OSError:
        size = 0
    return max(GB, 6 * size)


class RayExecutor:
    def __init__(self, address: str | None, timeout: float | None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise MissingDependency("ray", "ray", "run jobs on Ray (--executor ray)") from exc
        self.ray = ray
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.timeout = timeout

    def run(self, tasks: list[Task], started: Callable[[Task], None], done: Callable[[Task, dict], None]) -> None:
        ray = self.ray
        ours = not ray.is_initialized()
        if ours:
            self._start(ray)
        try:
            capacity = int(ray.cluster_resources().get("memory", 0)) or None
            remote = ray.remote(_on_worker)
            refs = {}
            for task in tasks:
                memory = task.memory or default_memory(task)
                if capacity:
                    memory = min(memory, capacity)
                ref = remote.options(num_cpus=task.num_cpus, memory=memory, max_retries=0).remote(
                    task.to_dict(), self.timeout)
                refs[ref] = task
                started(task)
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the worker process died, or Ray lost the node
                        result = failed(refs[ref], f"the Ray task failed ({one_line(exc)})")
                    done(refs[ref], result)
        except BaseException:
            for ref in list(refs) if "refs" in locals() else []:
                ray.cancel(ref, force=True)
            raise
        finally:
            if ours:
                ray.shutdown()

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
