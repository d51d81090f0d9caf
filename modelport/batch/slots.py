"""N slots taking a manifest's tasks, each slot keeping a warm worker of one framework as long as tasks of
that framework remain.

A slot asks the queue for a task of its worker's framework; when none is left it takes one of the framework
with the most tasks left, and its worker is replaced by one of that framework (a worker holds one framework's
imports, never two). A worker is also replaced when it is spent (its job count or memory bound reached) or
dead (a timeout killed it, a crash ended it). The pool's slots hold local worker processes, Ray's slots hold
actors; the rules are the same.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from modelport.batch.plan import Task


class Worker(Protocol):
    framework: str

    @property
    def spent(self) -> bool: ...

    def run(self, task: Task, timeout: float | None) -> dict[str, Any]: ...

    def close(self) -> None: ...


def framework_of(task: Task) -> str:
    """The framework a task's source needs imported ("other" when it cannot be told: the job will say why)."""
    from modelport.batch.manifest import module_ref
    from modelport.core.formats import detect

    if module_ref(task.source):
        return "torch"  # a `package.module:callable` factory returns a torch module
    try:
        return detect(task.source).framework
    except Exception:
        return "other"


class TaskQueue:
    """Tasks by framework, in manifest order within each."""

    def __init__(self, tasks: list[Task]) -> None:
        self._left: OrderedDict[str, deque[Task]] = OrderedDict()
        for task in tasks:
            self._left.setdefault(framework_of(task), deque()).append(task)
        self._lock = threading.Lock()

    def take(self, prefer: str | None) -> tuple[str, Task] | None:
        with self._lock:
            if prefer and self._left.get(prefer):
                return prefer, self._left[prefer].popleft()
            left = [(len(q), -i, fw) for i, (fw, q) in enumerate(self._left.items()) if q]
            if not left:
                return None
            framework = max(left)[2]
            return framework, self._left[framework].popleft()


def worker_for(worker: Worker | None, framework: str, make: Callable[[str], Worker]) -> Worker:
    """`worker` when it can take a job of `framework`; else a new one (`make`), the old one closed."""
    if worker is not None and (worker.framework != framework or worker.spent):
        worker.close()
        worker = None
    return worker if worker is not None else make(framework)


def run_slots(tasks: list[Task], slots: int, make: Callable[[str], Worker], timeout: float | None,
              started: Callable[[Task], None], done: Callable[[Task, dict], None],
              stopping: Callable[[], bool], on_interrupt: Callable[[], None]) -> None:
    """Run `tasks` on `slots` threads, each with its worker (`make(framework)`). `timeout`: a task's own wins.
    On any exception in the caller's thread (Ctrl-C), `on_interrupt` kills every worker and it re-raises."""
    queue = TaskQueue(tasks)

    def slot() -> None:
        worker: Worker | None = None
        try:
            while not stopping():
                got = queue.take(worker.framework if worker is not None else None)
                if got is None:
                    return
                framework, task = got
                worker = worker_for(worker, framework, make)
                started(task)
                result = worker.run(task, task.timeout or timeout)
                if not stopping():  # killed by Ctrl-C: not a result of the job
                    done(task, result)
        finally:
            if worker is not None:
                worker.close()

    count = max(1, min(slots, len(tasks)))
    pool = ThreadPoolExecutor(count)
    try:
        for future in [pool.submit(slot) for _ in range(count)]:
            future.result()
    except BaseException:
        on_interrupt()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
