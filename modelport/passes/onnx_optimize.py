"""ONNX graph optimization: IR-3 repair, onnxslim (shape inference, constant folding, fusion, dead-node
removal), optional ONNX Runtime offline optimization, with a guard against file growth.

RECIPES: constant folding can materialise run-time-built weights (ConstantOfShape) and blow a 4 KB file up
to hundreds of MB; onnxoptimizer leaves IR-3 weights as graph inputs; ORT offline files of IR-3 models fail
to reload unless initializers are dropped from graph.input and IR >= 4; "extended"/"all" levels write
com.microsoft operators that only ONNX Runtime runs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.core.formats import Format
from modelport.core.logs import quiet
from modelport.core.onnx_files import save_onnx
from modelport.core.onnx_graph import repair_ir3
from modelport.core.registry import Step, StepOptions

MAX_GROWTH = 1.5
ORT_LEVELS = ("basic", "extended", "all")


@dataclass
class OptimizeResult:
    model: Any
    steps: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def size_of(model) -> int:
    return model.ByteSize()


def _slim(model, **kwargs):
    import onnxslim

    with quiet("onnxslim"):
        return onnxslim.slim(model, **kwargs)


def optimize(model, *, allow_growth: bool = False, level: str | None = None, held: int = 0) -> OptimizeResult:
    """`held`: bytes of weights kept out of `model` (onnx_weightless.py), counted in the growth guard."""

    from modelport.core.errors import require

    require("onnxslim", "optimize", "simplify ONNX graphs")
    original = size_of(model) + held  # a size, not a copy: a copy would hold the weights once more
    result = OptimizeResult(model)
    repair_ir3(model, result.steps)
    budget = int(original * MAX_GROWTH)
    slim = _slim(model)
    if size_of(slim) + held > budget and not allow_growth:
        grown = size_of(slim) + held
        # fold only tensors that fit in what growth the budget leaves, then none at all
        limited = _slim(model, size_threshold=max(1024, budget - original))
        if size_of(limited) + held > budget:
            limited = _slim(model, skip_optimizations=["constant_folding"])
            result.skipped.append(f"constant folding skipped: it grew the model {original:,} -> "
                                  f"{grown:,} bytes (> {MAX_GROWTH}x; --allow-growth to keep it)")
        else:
            result.skipped.append(f"large constants not folded: full folding grew the model to {grown:,} bytes "
                                  f"(> {MAX_GROWTH}x; --allow-growth to keep it)")
        slim = limited
    result.steps.append("onnxslim: shape inference, constant folding, fusion, dead-node elimination")
    result.model = slim
    if level:
        ort_model = ort_offline(slim, level)
        if size_of(ort_model) > budget and not allow_growth:
            result.skipped.append(f"ONNX Runtime offline optimization ({level}) skipped: it grew the model to "
                                  f"{size_of(ort_model):,} bytes (> {MAX_GROWTH}x; --allow-growth to keep it)")
            return result
        result.model = ort_model
        result.steps.append(f"ONNX Runtime offline optimization ({level})")
        if level != "basic":
            result.warnings.append(f"level '{level}' writes com.microsoft operators: the file runs only in "
                                   "ONNX Runtime")
    return result


def ort_offline(model, level: str):
    import onnx
    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    with tempfile.TemporaryDirectory(prefix="modelport-ort-") as tmp:
        src, dst = os.path.join(tmp, "in.onnx"), os.path.join(tmp, "out.onnx")
        save_onnx(model, src)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = levels[level]
        opts.optimized_model_filepath = dst
        opts.log_severity_level = 3
        ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])
        return onnx.load(dst)  # with its weights, wherever ORT put them


class Simplify(Step, name="onnx-simplify", kind="optimize", source=(Format.ONNX,), target=Format.ONNX,
               extra="optimize", requires=("onnxslim",), order=10,
               description="IR-3 repair, onnxslim (shape inference, constant folding, fusion, dead nodes), optional "
                           "ONNX Runtime offline level; 1.5x growth guard"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import onnx
        import onnxslim

        from modelport.core.errors import UsageError, one_line
        from modelport.passes.onnx_weightless import optimize_file, weights_on_disk

        if not options.level and weights_on_disk(Path(source.path)):

            facts = optimize_file(Path(source.path), out, lambda proto, held: optimize(
                proto, allow_growth=options.allow_growth, held=held))
            return {"converter": f"onnxslim {onnxslim.__version__}", **facts}
        try:
            proto = onnx.load(str(source.path))
        except Exception as exc:
            raise UsageError(f"{source.path}: cannot read ONNX model ({one_line(exc)})") from exc
        result = optimize(proto, allow_growth=options.allow_growth, level=options.level)
        save_onnx(result.model, out)
        return {"converter": f"onnxslim {onnxslim.__version__}", "steps": result.steps, "skipped": result.skipped,
                "warnings": result.skipped + result.warnings}
