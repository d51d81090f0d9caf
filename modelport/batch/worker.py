"""Run one batch task in this process: its steps in order, each through modelport's Python API.

    python -m modelport.batch.worker TASK.json RESULT.json     (one task: `--isolation job`)
    python -m modelport.batch.worker --warm                     (a warm worker: tasks on stdin, see warm.py)

With one task, the process exits with the task's code (0 verified, 1 verification failed, else the failing
step's code). The result is plain data (see `run_task`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from modelport.batch.plan import StepSpec, Task
from modelport.core.errors import ModelportError, one_line


def run_task(task: Task) -> dict[str, Any]:
    """{"name", "target", "status", "exit_code", "seconds", "steps": [...]} where status is "ok",
    "up to date", "verification failed" or "failed", and each step says the same about its file."""
    start = time.perf_counter()
    steps = []
    code = 0
    for step in task.steps:
        if step.skip:
            steps.append(step.entry("up to date"))
            continue
        if code:  # a step failed or did not verify: the next ones would build on it
            steps.append(step.entry("not run", code, message=f"not run: the {steps[-1]['command']} step did not "
                                                             "succeed"))
            continue
        result = run_step(step)
        steps.append(result)
        code = result["exit_code"]
    status = "up to date" if all(s["status"] == "up to date" for s in steps) else \
        "ok" if code == 0 else "verification failed" if code == 1 else "failed"
    return {"name": task.name, "target": task.target, "status": status, "exit_code": code,
            "seconds": round(time.perf_counter() - start, 3), "steps": steps}


def run_step(step: StepSpec) -> dict[str, Any]:
    import modelport
    from modelport.core.signature_policy import outputs_signed
    from modelport.pipeline.job import VerifyOptions

    start = time.perf_counter()
    kwargs = dict(step.kwargs)
    sign = kwargs.pop("sign", None)
    if "check" in kwargs:
        kwargs["check"] = VerifyOptions(**kwargs["check"], detail=bool(step.page))
    elif step.page and step.command == "compress":
        kwargs["detail"] = True
    call = {"convert": modelport.convert, "optimize": modelport.optimize, "compress": modelport.compress}[step.command]
    out: dict[str, Any] = {}
    try:
        Path(step.output).parent.mkdir(parents=True, exist_ok=True)
        with outputs_signed(sign):
            report = call(step.source, step.output, force=True, record={"batch_digest": step.digest}, **kwargs)
        code = 0 if report.ok else 1
        out.update(status="ok" if report.ok else "verification failed", report=report.to_dict())
        if report.verification is not None:
            out["verification"] = report.verification.summary()
            out["table"] = verification_text(report.verification)
    except ModelportError as exc:
        code = exc.exit_code
        report = getattr(exc, "report", None)
        out.update(status="failed", message=exc.message, hint=exc.hint)
        if report is not None:
            out["report"] = report.to_dict()
    except Exception as exc:  # our bug, in one job: recorded, the others go on
        code = 70
        out.update(status="failed", message=f"internal error: {one_line(exc)}")
    if step.page and out.get("report") is not None:
        out.update(_page(out["report"], step.page))
    return step.entry(out.pop("status"), code, round(time.perf_counter() - start, 3), **out)


def _page(report: dict, path: str) -> dict[str, str]:
    """The step's report page (the manifest's `report`): {"page": path}, or why it was not written (the job's
    verdict stands either way)."""
    try:
        from modelport import html

        html.require()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        html.write(report, path)
    except ModelportError as exc:
        return {"page_error": exc.message}
    except Exception as exc:
        return {"page_error": f"internal error: {one_line(exc)}"}
    return {"page": path}


def verification_text(v) -> str:
    """The verification table as plain text (JUnit failure bodies, logs)."""
    rows = [("output", "shape", "max abs", "max rel", "mismatch", "atol/rtol", "result")]
    for o in v.outputs:
        result = "pass" if o.passed else "FAIL"
        if o.reason:
            result += f" ({o.reason})"
        rows.append((o.name, "x".join(map(str, o.shape)) or "-", f"{o.max_abs_error:.3g}", f"{o.max_rel_error:.3g}",
                     f"{o.mismatch_ratio:.1%}", f"{o.atol:g}/{o.rtol:g}", result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    head = f"{v.samples} samples, batch sizes {v.batch_sizes}, seed {v.seed}"
    return "\n".join([head, *lines, *(f"warning: {w}" for w in v.warnings)])


def serve() -> int:
    """The warm worker's loop: a task per stdin line, its result (and this process's resident memory, after
    the reset) as one line on the pipe that was stdout, which the frameworks no longer reach."""
    from modelport.batch.reset import Baseline

    replies = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    _watch_parent()
    baseline = Baseline()
    for line in sys.stdin:
        task = Task.from_dict(json.loads(line)["task"])
        result = run_task(task)
        baseline.reset()
        replies.write(json.dumps({"result": result, "rss": _rss()}, default=str) + "\n")
    return 0


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _watch_parent() -> None:
    """End this worker when its parent is gone (a Ray actor killed with its run): not left orphaned mid-job."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="modelport-parent-watch").start()


def main(argv: list[str]) -> int:
    if argv == ["--warm"]:
        serve()
        sys.stderr.flush()
        os._exit(0)  # at the end of its input, with nothing pending: the frameworks' teardown (TF 1.6 s) skipped
    task_path, result_path = Path(argv[0]), Path(argv[1])
    task = Task.from_dict(json.loads(task_path.read_text()))
    result = run_task(task)
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(result, default=str))
    tmp.replace(result_path)
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
