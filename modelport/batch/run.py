"""`modelport batch`: read the manifest, skip what is up to date, run the rest on an executor, tally.

Exit codes (the report's `exit_code`): 0 when every task verified (or was up to date), 1 when any failed
verification and none failed otherwise, 3 when any failed to convert (crash and timeout included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.batch import manifest as manifest_mod
from modelport.batch.plan import Task, tasks_for, up_to_date

EXECUTORS = ("pool", "ray")
ISOLATIONS = ("worker", "job")


@dataclass
class BatchResult:
    manifest: str
    executor: str
    jobs: int
    tasks: list[Task]
    results: list[dict[str, Any]] = field(default_factory=list)  # in task order
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        counts = {"ok": 0, "up to date": 0, "verification failed": 0, "failed": 0}
        for r in self.results:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts

    @property
    def exit_code(self) -> int:
        codes = [r["exit_code"] for r in self.results]
        if any(c not in (0, 1) for c in codes):
            return 3
        return 1 if 1 in codes else 0

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "executor": self.executor, "parallel": self.jobs,
                "seconds": round(self.seconds, 3), "counts": self.counts, "exit_code": self.exit_code,
                "jobs": [dict(r, tags=t.tags, source=t.source, **summary(r)) for t, r in zip(self.tasks, self.results)]}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """A task's line in the fleet: the route its conversion took, its largest verification error, the size of
    the last file it wrote, and the latency a compress step measured."""
    from modelport.core.io import size_of_path

    steps = result.get("steps") or []
    reports = [s.get("report") or {} for s in steps]
    errors = [o.get("max_abs_error") for r in reports for o in ((r.get("verification") or {}).get("outputs") or [])
              if isinstance(o.get("max_abs_error"), int | float)]
    written = [s["output"] for s in steps if s.get("output") and Path(s["output"].rstrip("/")).exists()]
    latency = next((r["after"].get("p50_ms") for r in reversed(reports) if isinstance(r.get("after"), dict)), None)
    return {"route": next((r.get("route") for r in reports if r.get("route")), None),
            "max_abs_error": max(errors) if errors else None,
            "size_bytes": size_of_path(written[-1].rstrip("/")) if written else None, "latency_ms": latency}


def plan(manifest: str | Path) -> list[Task]:
    """The manifest's tasks, checked (UsageError, exit 2, before any work)."""
    return tasks_for(manifest_mod.load(manifest), manifest)


def batch(manifest: str | Path, *, tasks: list[Task] | None = None, jobs: int | None = None, executor: str = "pool",
          ray_address: str | None = None, timeout: float | None = None, force: bool = False,
          isolation: str = "worker", worker_jobs: int | None = None, worker_memory: int | None = None,
          register: bool = False, progress: Callable[[str], None] = lambda _: None,
          started: Callable[[Task], None] = lambda t: None,
          done: Callable[[Task, dict], None] = lambda t, r: None) -> BatchResult:
    """Run a manifest's tasks (`tasks`: already planned from it, else planned here). `isolation`: "worker"
    (warm workers, each replaced after `worker_jobs` jobs or past `worker_memory` bytes) or "job" (a process
    per job). `register`: log each verified output to the MLflow registry afterwards (batch/register.py)."""
    import os

    from modelport.batch.pool import WORKER_JOBS, Pool
    from modelport.batch.worker import run_task

    tasks = plan(manifest) if tasks is None else tasks
    explicit = jobs is not None
    jobs = jobs or os.cpu_count() or 1
    if register:
        from modelport.batch.register import check, register_all

        check(tasks, str(manifest))  # exit 5 without MLflow, 2 for a bad store or name: before any work
    if executor == "ray":
        from modelport.batch.ray_executor import RayExecutor

        runner = RayExecutor(ray_address, timeout, jobs if explicit else None, isolation, worker_jobs or WORKER_JOBS,
                             worker_memory)  # exit 5 without Ray, before any work
    else:
        runner = Pool(jobs, timeout, isolation, worker_jobs or WORKER_JOBS, worker_memory)
    result = BatchResult(str(manifest), executor, jobs, tasks)
    by_task: dict[int, dict] = {}
    start = time.perf_counter()
    todo = []
    for i, task in enumerate(tasks):
        if not force and up_to_date(task):
            by_task[i] = run_task(task)  # every step marked up to date: nothing runs
            done(task, by_task[i])
        else:
            todo.append(task)
    index = {id(t): i for i, t in enumerate(tasks)}

    def finished(task: Task, res: dict) -> None:
        by_task[index[id(task)]] = res
        done(task, res)

    if todo:
        runner.run(todo, started, finished)
    result.results = [by_task[i] for i in range(len(tasks))]
    if register:
        register_all(tasks, result.results, progress)
    result.seconds = time.perf_counter() - start
    return result
