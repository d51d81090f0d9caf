"""`modelport compress`: a smaller model through a quantize step, verified with the method's tolerances, with
size, latency and accuracy before and after.

ONNX -> ONNX: `dynamic-int8`, `static-int8`, `fp16`, or `auto` (both int8 methods run and are verified; the
measured latency decides, and within the timing noise the operator mix does). Keras / SavedModel -> TFLite:
`dynamic-range`, `fp16`, `int8`; PyTorch -> TFLite (modelport[litert]): `int8`. To TFLite, "before" is the
plain fp32 TFLite conversion of the same source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from modelport.commands.sources import local, version_uri
from modelport.core.artifact import TensorSpec
from modelport.core.errors import MissingDependency, UnsupportedError, UsageError
from modelport.core.formats import TARGET_EXTENSIONS, Format, detect
from modelport.core.registry import StepOptions, load_registry
from modelport.core.report import Report
from modelport.pipeline import Job, Measure, Stage, VerifyOptions, run
from modelport.pipeline.runner import sign_result

CALIBRATION = ("minmax", "entropy", "percentile")
# int4-weights: the next-token agreement (points below 100%) a decoder may lose without --max-accuracy-drop
DEFAULT_TOKEN_DROP = 10.0


def compress(
    model: str | Path,
    output: str | Path,
    *,
    method: str = "auto",
    calibration: str | Path | None = None,
    calibrate: str = "minmax",
    data: str | Path | None = None,
    tolerance: tuple[float | None, float | None, float | None] = (None, None, None),
    per_output: dict[str, tuple[float, float]] | None = None,
    samples: int | None = None,
    seed: int = 0,
    runs: int = 50,
    force: bool = False,
    external_data: bool = False,
    trust: bool = False,
    inputs: Sequence[TensorSpec | str] = (),
    locate: bool = False,
    keep_float: int | None = None,
    max_accuracy_drop: float | None = None,
    int4: dict | None = None,
    record: dict[str, str] | None = None,
    detail: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Quantize a model; verify it against its input with method-appropriate tolerances (given values win) and
    report size, latency, error and (with labelled --data) accuracy before and after."""
    registry = load_registry()
    name, model = model, local(model)
    if version_uri(name):  # the fixed version, not an alias that will move
        record = {**(record or {}), "source_uri": version_uri(name)}
    fmt = detect(model)
    target = TARGET_EXTENSIONS.get(Path(output).suffix.lower(), Format.ONNX)
    to_tflite = target is Format.TFLITE
    methods = registry.methods(fmt, target)
    if not methods:
        raise _no_methods(registry, fmt, target, model)
    if method != "auto" and method not in methods:
        what = "ONNX models" if target is Format.ONNX and fmt is Format.ONNX else f"{fmt} -> {target}"
        raise UnsupportedError(f"method '{method}' does not apply to {what}",
                               hint=f"methods: {', '.join([*methods, 'auto'])}")
    if calibrate not in CALIBRATION:
        raise UsageError(f"unknown --calibrate '{calibrate}'", hint=f"choose {', '.join(CALIBRATION)}")
    for path in (calibration, data):
        if path is not None and not Path(path).exists():
            raise UsageError(f"{path}: no such file")
    if method == "int4-weights":
        _check_decoder(model, fmt, target)
    # a decoder with a KV cache is judged by generation whatever the method: generated rows for its cache, mask
    # and positions would not be consistent, and its users see tokens
    generative = method == "int4-weights" or _cached_decoder(model, fmt, target)
    layered = (locate or keep_float or max_accuracy_drop is not None) and not generative
    if layered and target is not Format.ONNX:
        raise UnsupportedError("--locate, --keep-float and --max-accuracy-drop work on ONNX results",
                               hint="compress to .onnx, or leave those options out")
    if max_accuracy_drop is not None and data is None and not generative:
        raise UsageError("--max-accuracy-drop needs --data FILE.npz with inputs and labels")
    why, pick = None, "first"
    if target is Format.ONNX and method in ("auto", "dynamic-int8", "static-int8"):
        import onnx

        from modelport.passes.onnx_quant import int8_targets, preference

        graph = onnx.load(str(model), load_external_data=False)
        if not int8_targets(graph):
            if method != "auto":
                raise UnsupportedError(f"{method}: nothing to quantize: the graph has no Conv, MatMul-like or "
                                       "Gather operators (a scikit-learn graph's work is in ai.onnx.ml operators)",
                                       hint="--method fp16 halves its float weights")
            method, why = "fp16", "no Conv, MatMul-like or Gather operators for int8: fp16"
    if method == "auto" and generative:
        method, why = "dynamic-int8", "a decoder with a KV cache: dynamic-int8 (static calibration needs real " \
                                      "token sequences; --method int4-weights for 4-bit weights)"
    if method != "auto":
        chosen = [methods[method]]
    elif target is Format.OPENVINO:
        chosen, why = _openvino_auto(model, fmt, methods)
    elif target is not Format.ONNX:
        chosen = [next(iter(methods.values()))]  # TFLite: the first method needs no calibration data
    else:
        order, why = preference(graph)
        chosen, pick = [methods[m] for m in order], "fastest"
    step = chosen[0]
    if target is not Format.ONNX and step.missing():
        raise MissingDependency(step.missing(), step.extra or "all", f"compress {fmt} models to {target}")
    if step.method == "int8" and to_tflite and calibration is None:
        raise UsageError("--method int8 needs --calibration FILE.npz (a representative dataset)",
                         hint="or use --method dynamic-range, which needs none")
    # to another format, "before" is the plain float conversion of the same source
    plain = registry.chain(fmt, target) if fmt is not target else []
    baseline = plain[0].name if plain else None
    atol, rtol, mismatch = tolerance
    # without --data, the calibration rows are the real inputs at hand: generated ones can lie far outside the
    # ranges the int8 model was calibrated for (N(0, 1) pixels for a [0, 1] image model) and fail it for that
    check_data = data if data is not None or calibration is None else calibration
    int4_options = {f"int4_{k}": v for k, v in (int4 or {}).items()}
    job = Job("compress", str(model), str(output),
              [Stage("quantize", [s.name for s in chosen], pick=pick, forced=True,
                     options=StepOptions(calibration=str(calibration) if calibration else None, calibrate=calibrate,
                                         seed=seed, **int4_options))],
              source_format=fmt.value, inputs=[str(s) for s in inputs], trust=trust, force=force,
              external_data=external_data,
              verify=VerifyOptions(samples=samples, seed=seed, data=str(check_data) if check_data else None, atol=atol,
                                   rtol=rtol, max_mismatch=mismatch, per_output=dict(per_output or {}),
                                   enabled=not generative, detail=detail),  # int4: verified by generation, below
              measure=None if generative else Measure(runs=runs, baseline=baseline), record=dict(record or {}))
    from modelport.core.signature_policy import outputs_signed

    with outputs_signed(False if generative else None):  # judged by generation below, and signed after it
        report = run(job, registry=registry, progress=progress)
    if generative and report.output:
        from modelport.verify.generation import check_generation

        progress("comparing greedy generation with the input model")
        budget = 1.0 - (max_accuracy_drop if max_accuracy_drop is not None else DEFAULT_TOKEN_DROP) / 100
        result = check_generation(model, report.output, data=data, seed=seed, min_agreement=budget)
        report.details["generation"] = result.to_dict()
        report.ok = result.passed
        for attempt in report.attempts:
            attempt.reason = "verified by generation" if attempt.outcome == "ok" else attempt.reason
        progress("timing one decode step before and after")
        report.details.update(_decode_figures(Path(model), Path(report.output), runs))
        sign_result(report, job, {"method": "generation", **result.to_dict()})
    if check_data is not data and not generative:
        report.warnings.append(f"verified on the calibration rows ({calibration}): pass --data FILE.npz with rows "
                               "the model was not calibrated on")
    if layered and report.output:
        from modelport.commands.compress_layers import refine

        report = refine(job, report, keep=keep_float, budget=max_accuracy_drop, data=job.verify.data,
                        samples=samples, seed=seed, registry=registry, progress=progress)
    d = report.details
    d["method"] = report.route
    d["auto_reason"] = f"{why}; {d.get('decision')}" if why else None
    if baseline:
        d["baseline"] = "fp32 " + {Format.TFLITE: "TFLite", Format.OPENVINO: "OpenVINO IR",
                                   Format.EXECUTORCH: "ExecuTorch"}.get(target, str(target))
    if report.verification is not None:
        d["label_agreement"] = next((o.label_agreement for o in report.verification.outputs
                                     if o.label_agreement is not None), None)
    return report


def _decode_figures(before: Path, after: Path, runs: int) -> dict:
    """Size and per-token decode latency (one cached step), before and after, timed interleaved."""
    from modelport.core.io import size_of_path
    from modelport.pipeline import measure
    from modelport.verify.generation import decode_step

    timings = measure.interleaved({"before": decode_step(before), "after": decode_step(after)}, runs=runs)
    figures = {key: {"size_bytes": size_of_path(path), "p50_ms": timings[key].median,
                     "spread_ms": timings[key].spread, "accuracy": None}
               for key, path in (("before", before), ("after", after))}
    return {**figures, "latency_is": "one decode step after 16 cached tokens",
            "size_ratio": figures["after"]["size_bytes"] / figures["before"]["size_bytes"],
            "latency_ratio": figures["after"]["p50_ms"] / figures["before"]["p50_ms"]}


def _cached_decoder(model, fmt: Format, target: Format) -> bool:
    from modelport.verify.generation import is_cached_decoder

    return fmt is Format.ONNX and target is Format.ONNX and is_cached_decoder(model)


def _check_decoder(model, fmt: Format, target: Format) -> None:
    if not _cached_decoder(model, fmt, target):
        raise UnsupportedError("int4-weights is for ONNX decoders with a KV cache (input_ids and past_key_values.* "
                               "in, logits out): their verdict is generation, not elementwise",
                               hint="modelport convert llama-dir/ -o llama/ writes one; for other models use "
                                    "dynamic-int8")


def _no_methods(registry, fmt: Format, target: Format, model) -> UnsupportedError:
    onnx_methods = ", ".join([*registry.methods(Format.ONNX, Format.ONNX), "auto"])
    if target is Format.TFLITE:
        return UnsupportedError(f"compressing {fmt} to TFLite is not available",
                                hint="sources: Keras, SavedModel, PyTorch (modelport[litert])")
    if target is Format.OPENVINO:
        return UnsupportedError(f"compressing {fmt} to OpenVINO IR is not available",
                                hint=f"convert first (modelport convert {model} -o model.xml), then compress the IR "
                                     "with --method ov-int8|ov-weights-int8|ov-fp16")
    if target is Format.EXECUTORCH:
        return UnsupportedError(f"compressing {fmt} to an ExecuTorch program is not available",
                                hint="pte-int8 starts from the PyTorch source (.pt2, file.py:factory, Hugging Face "
                                     "folder)")
    return UnsupportedError(
        f"compress works on ONNX models, not {fmt} (methods for ONNX: {onnx_methods})",
        hint=f"convert first (modelport convert {model} -o model.onnx), or compress to TFLite from the "
             "source: -o model.tflite --method dynamic-range|fp16|int8")


def _openvino_auto(model, fmt: Format, methods: dict) -> tuple[list, str]:
    """`auto` to OpenVINO: full int8 (ov-int8) for graphs with convolutions or matrix products; fp16 weights for the
    rest (nothing for int8 kernels to speed up)."""
    if fmt is Format.ONNX:
        import onnx

        from modelport.passes.onnx_quant import int8_targets

        heavy = int8_targets(onnx.load(str(model), load_external_data=False)) > 0
    else:
        import xml.etree.ElementTree as ET

        kinds = {layer.get("type") for layer in ET.parse(str(model)).getroot().iter("layer")}
        heavy = bool(kinds & {"Convolution", "GroupConvolution", "MatMul", "Gather"})
    if heavy:
        return [methods["ov-int8"]], "convolutions or matrix products: ov-int8"
    return [methods["ov-fp16"]], "no convolution or matrix product for int8: ov-fp16"
