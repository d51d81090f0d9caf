"""`batch --register`: each verified task's converted file becomes a version in the MLflow registry, from this
process (one writer for the store), after the tasks ran. A file whose model is already a version adds none."""

from __future__ import annotations

from collections.abc import Callable

from modelport.batch.plan import Task
from modelport.core.errors import ModelportError, UsageError, one_line


def check(tasks: list[Task], manifest: str) -> None:
    """Before any work: MLflow installed (exit 5), the store opens and every registered name is valid and
    names one task (exit 2)."""
    from modelport.commands.register import check_name
    from modelport.loaders.mlflow_store import client

    owners: dict[str, str] = {}
    for task in tasks:
        if not task.register:
            continue
        try:
            check_name(task.register)
        except UsageError as exc:
            raise UsageError(f"{manifest}: job {task.name!r}: {exc.message}",
                             hint="give the job a registered model name: register: NAME") from exc
        if task.register in owners and owners[task.register] != task.label:
            raise UsageError(f"{manifest}: jobs {owners[task.register]!r} and {task.label!r} would both register "
                             f"as {task.register!r}", hint="give one of them another 'register' name")
        owners[task.register] = task.label
        if task.steps[0].output.endswith("/"):
            raise UsageError(f"{manifest}: job {task.name!r}: its output is a folder (a Hugging Face model's files); "
                             "register takes one ONNX or TFLite file", hint="register: false for this job")
    client()


def register_all(tasks: list[Task], results: list[dict], progress: Callable[[str], None] = lambda _: None) -> None:
    """Register each task whose status is ok or up to date and that names a registered model: its convert
    step's file (optimized and compressed files are not registered). The outcome goes into its result under
    "registered" ({"uri", "version", "created"} or {"error"}); a failed registration makes the task failed
    (exit 3)."""
    from modelport.commands.register import register
    from modelport.loaders.mlflow_store import shown, tracking_uri

    todo = [(t, r) for t, r in zip(tasks, results) if t.register and r["status"] in ("ok", "up to date")]
    if todo:
        progress(f"registering {len(todo)} verified output(s) in {shown(tracking_uri())}")
    for task, res in todo:
        convert = res["steps"][0]
        tags = {**task.tags, "modelport.batch_job": task.name}
        try:  # an up-to-date step has no report: the file's provenance is logged instead
            out = register(convert["output"], task.register, report=convert.get("report"), tags=tags)
            d = out.details
            res["registered"] = {"uri": d["uri"], "version": d["version"], "created": d["created"]} if out.ok \
                else {"error": d.get("refused", "refused")}
        except ModelportError as exc:
            res["registered"] = {"error": exc.message}
        except Exception as exc:
            res["registered"] = {"error": f"internal error: {one_line(exc)}"}
        if "error" in res["registered"]:
            res.update(status="failed", exit_code=3, message=f"register: {res['registered']['error']}")
