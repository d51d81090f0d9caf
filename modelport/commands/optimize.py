"""`modelport optimize`: a simpler ONNX graph, verified against its input, with before/after figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modelport.core.errors import UnsupportedError, UsageError
from modelport.core.formats import Format, detect
from modelport.core.registry import StepOptions
from modelport.core.report import Report
from modelport.pipeline import Job, Measure, Stage, VerifyOptions, run

ORT_LEVELS = ("basic", "extended", "all")


def optimize(
    model: str | Path,
    output: str | Path,
    *,
    allow_growth: bool = False,
    level: str | None = None,
    runs: int = 50,
    force: bool = False,
    external_data: bool = False,
    check: VerifyOptions | None = None,
    record: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Simplify an ONNX graph, verify it against the input, and report nodes, size and latency."""
    fmt = detect(model)
    if fmt is not Format.ONNX:
        raise UnsupportedError(f"optimize works on ONNX models, not {fmt}",
                               hint=f"convert first: modelport convert {model} -o model.onnx")
    if level and level not in ORT_LEVELS:
        raise UsageError(f"unknown --level '{level}'", hint=f"levels: {', '.join(ORT_LEVELS)}")
    job = Job("optimize", str(model), str(output),
              [Stage("optimize", ["onnx-simplify"], options=StepOptions(allow_growth=allow_growth, level=level))],
              source_format=fmt.value, force=force, external_data=external_data, verify=check or VerifyOptions(),
              measure=Measure(runs=runs), record=dict(record or {}))
    report = run(job, progress=progress)
    facts = report.step_facts.get("onnx-simplify", {})
    report.details.update(steps=facts.get("steps", []), skipped=facts.get("skipped", []))
    if report.ok:
        report.attempts = []  # one pass: its outcome is the verification table
    return report
