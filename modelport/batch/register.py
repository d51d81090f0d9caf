"""`batch --register`: each verified task's output becomes a version in the MLflow registry, from this process
(one writer for the store), after the tasks ran. An unchanged output adds no version (same sha256)."""

from __future__ import annotations

from collections.abc import Callable

from modelport.batch.plan import Task
from modelport.core.errors import ModelportError, one_line


def check() -> None:
    """MissingDependency (exit 5) before any work when MLflow is not installed."""
    from modelport.core.errors import require

    require("mlflow", "mlflow", "register models (batch --register)")


def register_all(tasks: list[Task], results: list[dict], progress: Callable[[str], None] = lambda _: None) -> None:
    """Register each task whose status is ok or up to date and that names a registered model; the outcome goes
    into its result under "registered" ({"uri", "version", "created"} or {"error"}), and a failed registration
    makes the task failed (exit 3)."""
    from modelport.commands.register import register
    from modelport.loaders.mlflow_store import tracking_uri

    todo = [(t, r) for t, r in zip(tasks, results) if t.register and r["status"] in ("ok", "up to date")]
    if todo:
        progress(f"registering {len(todo)} verified output(s) in {tracking_uri()}")
    for task, res in todo:
        convert = res["steps"][0]
        report = convert.get("report") or res
        tags = {**task.tags, "modelport.batch_job": task.name}
        try:
            out = register(convert["output"], task.register, report=report, tags=tags)
            d = out.details
            res["registered"] = {"uri": d["uri"], "version": d["version"], "created": d["created"]} if out.ok \
                else {"error": d.get("refused", "refused")}
        except ModelportError as exc:
            res["registered"] = {"error": exc.message}
        except Exception as exc:
            res["registered"] = {"error": f"internal error: {one_line(exc)}"}
        if "error" in res["registered"]:
            res.update(status="failed", exit_code=3, message=f"register: {res['registered']['error']}")
