"""Before/after figures of a job (size, latency, nodes, accuracy) and the timed choice among candidates.

The "before" model is the job's source, or, when the source is in another format, a plain conversion of it
(`Measure.baseline`, e.g. fp32 TFLite before int8 TFLite), so both sides run in the same runtime. All timed
models run interleaved on the same inputs (`measure.interleaved`); the decision among candidates that passed
verification is `measure.decide`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.core.io import size_of_path
from modelport.pipeline import measure as m
from modelport.verify.accuracy import top1

if TYPE_CHECKING:
    from modelport.core.model import Model
    from modelport.pipeline.attempt import Outcome
    from modelport.pipeline.job import Job


def nodes(path: Path) -> int | None:
    if Path(path).suffix != ".onnx":
        return None
    import onnx

    return len(onnx.load(str(path), load_external_data=False).graph.node)


def _figures(path: Path, timing: m.Timing, model: Model, data: Path | None) -> dict[str, Any]:
    return {"size_bytes": size_of_path(path), "p50_ms": timing.median, "spread_ms": timing.spread,
            "accuracy": top1(model, data), "nodes": nodes(path)}


def measure_and_choose(job: Job, before_path: Path, outcomes: list[Outcome], feed: dict, preference: list[str],
                       progress) -> tuple[Outcome, dict[str, Any]]:
    """Time the source (or baseline) and every candidate that produced a runnable file, interleaved; choose
    among those that passed verification. Returns the choice and the report details."""
    from modelport.core.formats import detect
    from modelport.loaders import open_model

    spec = job.measure
    data = Path(job.verify.data) if job.verify.data else None
    before = open_model(before_path, detect(before_path), threads=spec.threads)
    runners = {"before": before}
    for o in outcomes:
        runners[o.step.label] = open_model(o.path, o.step.target, threads=spec.threads)
    passing = [o for o in outcomes if o.ok]
    progress("timing before and after" if len(outcomes) == 1 else "timing the candidates")
    timings = m.interleaved({name: (lambda r=r: r.run(feed)) for name, r in runners.items()}, runs=spec.runs,
                            compete=[o.step.label for o in passing] or None)
    if passing:
        choice = m.decide({o.step.label: timings[o.step.label] for o in passing}, preference,
                          {o.step.label: size_of_path(o.path) for o in passing})
        chosen = next(o for o in passing if o.step.label == choice.name)
    else:  # nothing passed: keep the first tried, flagged as failed
        chosen = outcomes[0]
        choice = m.Choice(chosen.step.label, "no candidate passed verification; kept the first tried")
    before_fig = _figures(before_path, timings["before"], before, data)
    candidates = []
    for o in outcomes:
        fig = _figures(o.path, timings[o.step.label], runners[o.step.label], data)
        candidates.append({"method": o.step.label, "passed": o.ok, **fig})
    after = next(c for c in candidates if c["method"] == chosen.step.label)
    after = {k: v for k, v in after.items() if k not in ("method", "passed")}
    details: dict[str, Any] = {
        "before": before_fig, "after": after, "decision": choice.reason,
        "size_ratio": after["size_bytes"] / before_fig["size_bytes"] if before_fig["size_bytes"] else None,
        "latency_ratio": after["p50_ms"] / before_fig["p50_ms"] if before_fig["p50_ms"] else None,
        "slower": m.slower(timings["before"], timings[chosen.step.label]),
    }
    if len(outcomes) > 1 or job.stages[-1].kind == "quantize":
        details["candidates"] = candidates
    if before_fig["accuracy"] is not None and after["accuracy"] is not None:
        details["accuracy_delta_pt"] = 100 * (after["accuracy"] - before_fig["accuracy"])
    return chosen, details
