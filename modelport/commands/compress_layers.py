"""`compress --locate / --keep-float N / --max-accuracy-drop PT`: which layers quantization damages most, and
what leaving the worst of them in float buys back.

The damage table compares every value the int8 graph shares with its float source (8 at a time) and ranks the
layers by the error each *adds* over its inputs. `--keep-float N` re-runs the same method with the N most
damaged layers excluded from quantization and reports the gain; `--max-accuracy-drop PT` (labelled --data)
searches the smallest N whose accuracy is within PT points of the float model.
"""

from __future__ import annotations

from modelport.core.report import Report
from modelport.pipeline import Job, run

QUANTIZED = ("Conv", "ConvInteger", "MatMul", "MatMulInteger", "Gemm", "QLinearConv", "QLinearMatMul",
             "DynamicQuantizeMatMul", "ConvTranspose", "Attention", "LSTM", "GRU")


def damage_rows(model: str, result: str, data: str | None, samples: int | None, seed: int) -> list[dict]:
    from modelport.pipeline.locate import damage
    from modelport.runtimes.onnx.model import OnnxModel
    from modelport.verify.inputs import default_rows, generate, load_npz

    source, candidate = OnnxModel(model), OnnxModel(result)
    rows = samples or default_rows(source.inputs)[0]
    feed = load_npz(data, source.inputs)[0] if data else generate(source.inputs, rows, seed)[0]
    feed = {k: v[:64] for k, v in feed.items()}
    return damage(source, candidate, feed, top=0)


def _summary(report: Report) -> dict:
    v = report.verification
    return {"max_abs_error": max((o.max_abs_error for o in v.outputs), default=0.0) if v else None,
            "passed": report.ok, "size_ratio": report.details.get("size_ratio"),
            "latency_ratio": report.details.get("latency_ratio"),
            "accuracy_delta_pt": report.details.get("accuracy_delta_pt")}


def refine(job: Job, report: Report, *, keep: int | None, budget: float | None, data: str | None, samples: int | None,
           seed: int, registry, progress) -> Report:
    """After the first compression: the damage table, then the same method with layers left in float."""
    progress("measuring per-layer damage")
    rows = damage_rows(job.source, report.output, data, samples, seed)
    worst = [r["node"] for r in rows if r["node_op"] in QUANTIZED and r["added"] > 0]
    first = _summary(report)
    if keep:
        counts = [min(keep, len(worst))]
    elif budget is not None and (first["accuracy_delta_pt"] or 0.0) < -budget:
        counts = list(range(1, len(worst) + 1))
    else:
        counts = []
    chosen = [s for s in job.stages[0].steps if registry.get(s).label == report.route] or job.stages[0].steps[:1]
    job.stages[0].steps, job.stages[0].pick, job.force = chosen, "first", True
    tried = []
    for n in counts:
        job.stages[0].options.keep_float = tuple(worst[:n])
        progress(f"compressing again with {n} layer(s) left in float")
        report = run(job, registry=registry, progress=progress)
        tried.append({"n": n, "nodes": worst[:n], **_summary(report)})
        if budget is None or (tried[-1]["accuracy_delta_pt"] or 0.0) >= -budget:
            break
    report.details["damage"] = rows[:10]
    if tried:
        met = budget is None or (tried[-1]["accuracy_delta_pt"] or 0.0) >= -budget
        report.details["keep_float"] = {"first": first, "tried": tried, "kept": tried[-1]["nodes"],
                                        "budget_pt": budget, "met": met}
        if not met:
            report.warnings.append(f"no number of float layers met --max-accuracy-drop {budget:g} (best: "
                                   f"{tried[-1]['accuracy_delta_pt']:+.2f} pt with all {len(worst)} left in float)")
    return report
