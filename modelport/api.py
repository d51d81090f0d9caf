"""The Python API behind the CLI: `convert` (route chain + verification) and `verify`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelport import __version__
from modelport.core.artifact import TensorSpec
from modelport.core.errors import (
    ConversionFailed,
    MissingDependency,
    ModelportError,
    UnsupportedError,
    UsageError,
    one_line,
)
from modelport.core.formats import Format, detect, target_format
from modelport.core.io import PendingOutput, sha256_of
from modelport.core.registry import Registry, Step, StepOptions, load_registry
from modelport.core.report import Attempt, Report
from modelport.verify.check import InputPlan, Reference, ReferenceFailed, verify_models
from modelport.verify.compare import Tolerance

Progress = Callable[[str], None]


@dataclass
class VerifyOptions:
    samples: int = 16
    seed: int = 0
    int_range: tuple[int, int] = (0, 10)
    data: Path | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)

    def plan(self) -> InputPlan:
        return InputPlan(self.samples, self.seed, self.int_range, self.data)


class RouteRejected(Exception):
    """A route produced a file, but not one we accept (checker failure, wrong inputs)."""


def _noop(_: str) -> None:
    pass


def _with_batch(specs: Sequence[TensorSpec], dynamic: bool) -> list[TensorSpec]:
    """User specs give concrete sizes; with a dynamic batch, dim 0 becomes symbolic."""
    out = []
    for spec in specs:
        if spec.shape and dynamic and isinstance(spec.shape[0], int):
            spec = TensorSpec(spec.name, ("batch",) + tuple(spec.shape[1:]), spec.dtype)
        elif spec.shape and not dynamic and not isinstance(spec.shape[0], int):
            spec = TensorSpec(spec.name, (1,) + tuple(spec.shape[1:]), spec.dtype)
        out.append(spec)
    return out


def convert(
    source: str | Path,
    output: str | Path,
    *,
    from_format: str | Format | None = None,
    to: str | None = None,
    inputs: Sequence[TensorSpec] = (),
    opset: int | None = None,
    static: bool = False,
    route: str | None = None,
    verify: bool = True,
    check: VerifyOptions | None = None,
    force: bool = False,
    trust: bool = False,
    imports: Sequence[str] = (),
    registry: Registry | None = None,
    progress: Progress = _noop,
) -> Report:
    """Convert `source` to `output` through the first route whose result verifies.

    Returns the report (ok=False when the only results failed verification: the file is kept).
    Raises ModelportError subclasses for everything else; `exc.report` carries the attempts.
    """
    check = check or VerifyOptions()
    report = Report("convert")
    src_fmt = detect(source, from_format)
    dst_fmt = target_format(output, to)
    if src_fmt is dst_fmt:
        raise UsageError(f"{source} is already {dst_fmt}", hint="use `modelport verify` or `optimize` instead")
    if src_fmt is Format.ONNX and dst_fmt is Format.TFLITE:
        raise UnsupportedError(
            "ONNX -> TFLite is not a supported route (onnx2tf rewrites its input and downgrades TensorFlow)",
            hint="convert from the source model instead, e.g. modelport convert model.keras -o model.tflite")
    chain = (registry or load_registry()).find(src_fmt, dst_fmt, route)
    with PendingOutput(output, force=force, source=source) as pending:
        progress(f"loading {src_fmt} model")
        from modelport.loaders import import_user_code, open_model

        import_user_code(imports, trust)
        model = open_model(source, src_fmt, trust=trust, input_specs=_with_batch(inputs, not static))
        if static:
            if src_fmt in (Format.TORCH_EXPORT, Format.TF_SAVEDMODEL):
                report.warnings.append(f"--static has no effect on {src_fmt}: its shapes are fixed by the file")
            else:
                model.inputs = _with_batch(model.inputs, False)
        report.source = model.info() | {"sha256": _digest(source, src_fmt), "framework": model.framework_version}
        reference = Reference(model, check.plan()) if verify else None
        options = StepOptions(opset=opset, dynamic_batch=not static, imports=tuple(imports))
        kept = None
        try:
            for step in chain:
                reason = None if route else step.skip_reason(model)
                if reason:
                    report.attempts.append(Attempt(step.name, "skipped", 0.0, reason))
                    continue
                result = _attempt(step, model, pending.path, dst_fmt, options, reference, check, progress)
                report.attempts.append(result.attempt)
                if result.attempt.outcome == "ok":
                    return _finish(report, pending, step, model, source, src_fmt, result)
                if result.attempt.outcome == "mismatch" and kept is None:
                    # a name outside discard()'s glob of the pending file, so later attempts keep it
                    aside = pending.final.parent / f".{pending.final.stem}.{os.getpid()}.kept{pending.final.suffix}"
                    kept = (aside, step, result)
                    os.replace(pending.path, aside)
                pending.discard()
            if kept is not None:
                os.replace(kept[0], pending.path)
                _finish(report, pending, kept[1], model, source, src_fmt, kept[2])
                report.ok = False
                report.warnings.append(f"verification failed; the file was kept at {report.output}")
                return report
        finally:
            if kept is not None and kept[0].exists():
                kept[0].unlink()
        raise _all_failed(report, chain, src_fmt, dst_fmt)


def _digest(source: str | Path, fmt: Format) -> str:
    """sha256 of the source; for a factory, of the Python file that defines it."""
    if fmt is Format.TORCH_PY:
        module = str(source).rpartition(":")[0]
        if not module.endswith(".py"):
            import importlib.util

            spec = importlib.util.find_spec(module)
            module = spec.origin if spec and spec.origin else None
        if module is None:
            import hashlib

            return hashlib.sha256(str(source).encode()).hexdigest()
        return sha256_of(module)
    return sha256_of(source)


@dataclass
class _Result:
    attempt: Attempt
    facts: dict
    verification: object = None
    proto: object = None  # the checked ONNX proto, reused to write provenance without reloading


def _attempt(step: Step, model, out: Path, dst_fmt: Format, options, reference, check, progress) -> _Result:
    missing = step.missing()
    if missing:
        return _Result(Attempt(step.name, "skipped", 0.0,
                               f"{missing} is not installed: pip install 'modelport[{step.extra}]'"), {})
    progress(f"converting with {step.name}")
    start = time.perf_counter()
    try:
        facts = step.run(model, out, options) or {}
        proto = _check_output(out, dst_fmt, model)
    except MissingDependency as exc:
        return _Result(Attempt(step.name, "skipped", time.perf_counter() - start, f"{exc.message}: {exc.hint}"), {})
    except (RouteRejected, ModelportError) as exc:
        return _Result(Attempt(step.name, "error", time.perf_counter() - start, str(exc),
                               getattr(exc, "hint", None)), {})
    except Exception as exc:  # a converter failing is an expected outcome of a chain
        from modelport.converters.common import first_line

        return _Result(Attempt(step.name, "error", time.perf_counter() - start, first_line(exc)), {})
    if reference is None:
        return _Result(Attempt(step.name, "ok", time.perf_counter() - start, "not verified (--no-verify)"), facts,
                       proto=proto)
    progress(f"verifying {step.name} output")
    from modelport.loaders import open_model

    try:
        candidate = open_model(out, dst_fmt)
        verification = verify_models(reference, candidate, check.tolerance)
    except ReferenceFailed:
        raise  # the source itself cannot run: no route can fix that
    except ModelportError as exc:
        return _Result(Attempt(step.name, "error", time.perf_counter() - start, exc.message), facts)
    except Exception as exc:
        from modelport.converters.common import first_line

        return _Result(Attempt(step.name, "error", time.perf_counter() - start,
                               f"converted model does not run: {first_line(exc)}"), facts)
    if verification.error:
        return _Result(Attempt(step.name, "error", time.perf_counter() - start,
                               f"converted model does not run: {verification.error}"), facts)
    outcome = "ok" if verification.passed else "mismatch"
    reason = None if verification.passed else verification.summary()
    return _Result(Attempt(step.name, outcome, time.perf_counter() - start, reason), facts, verification, proto)


LARGE_ONNX = 1 << 30  # above this the checker reads the file itself (protos are capped at 2 GB)


def _check_output(out: Path, dst_fmt: Format, model):
    """Reject a route's file that is empty, fails onnx.checker, or takes other inputs than the model.

    Returns the loaded proto (ONNX) so provenance can be added without loading the file again.
    """
    if not out.exists() or out.stat().st_size == 0:
        raise RouteRejected("the route wrote no file")
    if dst_fmt is not Format.ONNX:
        return None
    import onnx

    proto = onnx.load(str(out), load_external_data=False)
    try:
        onnx.checker.check_model(str(out) if out.stat().st_size > LARGE_ONNX else proto)
    except Exception as exc:
        raise RouteRejected(f"onnx.checker rejected the graph: {one_line(exc)}") from exc
    graph = proto.graph
    inits = {i.name for i in graph.initializer}
    got = [i.name for i in graph.input if i.name not in inits]
    want = [s.name for s in model.inputs]
    if sorted(got) != sorted(want):
        raise RouteRejected(f"graph inputs ({', '.join(got)}) differ from the model's ({', '.join(want)})")
    return proto


def _finish(report: Report, pending: PendingOutput, step: Step, model, source, src_fmt, result: _Result) -> Report:
    verification = result.verification
    facts = {
        "source_sha256": report.source["sha256"],
        "source_format": src_fmt.value,
        "source_name": Path(str(source)).name,
        "route": step.name,
        "modelport_version": __version__,
        "converter": result.facts.get("converter", ""),
        "framework": model.framework_version,
        "inputs": [s.to_dict() for s in model.inputs],
        "verification": "skipped" if verification is None else ("passed" if verification.passed else "failed"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if verification is not None:
        facts["max_abs_error"] = max((o.max_abs_error for o in verification.outputs), default=0.0)
    stored = "metadata_props"
    try:
        if result.proto is not None:
            from modelport.provenance import write_onnx

            write_onnx(pending.path, facts, result.proto)
        elif pending.path.suffix == ".tflite":
            from modelport.provenance import write_tflite

            stored = write_tflite(pending.path, facts)
    except Exception as exc:  # a verified model is worth keeping without its provenance
        stored = "none"
        report.warnings.append(f"provenance not written ({one_line(exc)})")
    report.output = str(pending.commit())
    if stored == "sidecar":
        from modelport.provenance import sidecar

        with PendingOutput(sidecar(report.output), force=True) as side:
            side.path.write_text(json.dumps(facts, indent=2))
            side.commit()
        report.warnings.append(f"provenance written beside the model to {side.final.name} (no TFLite schema tool)")
    report.route = step.name
    report.verification = verification
    report.ok = verification is None or verification.passed
    report.details["provenance"] = facts
    return report


def _all_failed(report: Report, chain: list[Step], src_fmt: Format, dst_fmt: Format) -> ModelportError:
    tried = [a for a in report.attempts if a.outcome != "skipped"]
    exc: ModelportError
    missing = next(((s, s.missing()) for s in chain if s.missing()), None)
    if not tried and missing:
        step, package = missing
        exc = MissingDependency(package, step.extra or "all", f"convert {src_fmt} to {dst_fmt}")
    elif not tried:
        reasons = "; ".join(f"{a.route}: {a.reason}" for a in report.attempts)
        exc = UnsupportedError(f"no route applies to this model ({reasons})", hint="--route NAME forces one route")
    else:
        reasons = "; ".join(f"{a.route}: {a.reason}" for a in tried)
        hint = next((a.hint for a in tried if a.hint), None) or (
            "other routes may work: see `modelport routes`" if len(chain) == 1
            else "each route's reason is listed above; --route NAME forces one route")
        exc = ConversionFailed(f"every route failed for {src_fmt} -> {dst_fmt}: {reasons}", hint=hint,
                               attempts=tried)
    exc.report = report
    return exc


def verify(
    reference: str | Path,
    candidate: str | Path,
    *,
    reference_format: str | Format | None = None,
    candidate_format: str | Format | None = None,
    inputs: Sequence[TensorSpec] = (),
    trust: bool = False,
    imports: Sequence[str] = (),
    check: VerifyOptions | None = None,
    progress: Progress = _noop,
) -> Report:
    """Run both models on the same inputs and compare every output. report.ok is the verdict."""
    from modelport.loaders import import_user_code, open_model

    check = check or VerifyOptions()
    report = Report("verify")
    ref_fmt = detect(reference, reference_format)
    cand_fmt = detect(candidate, candidate_format)
    specs = _with_batch(inputs, True)
    import_user_code(imports, trust)
    progress(f"loading {ref_fmt} model")
    ref_model = open_model(reference, ref_fmt, trust=trust, input_specs=specs)
    progress(f"loading {cand_fmt} model")
    cand_model = open_model(candidate, cand_fmt, trust=trust, input_specs=specs)
    report.source = ref_model.info() | {"framework": ref_model.framework_version}
    report.candidate = cand_model.info() | {"framework": cand_model.framework_version}
    progress("running both models")
    report.verification = verify_models(Reference(ref_model, check.plan()), cand_model, check.tolerance)
    report.ok = report.verification.passed
    return report


def inspect(
    model: str | Path,
    *,
    from_format: str | Format | None = None,
    inputs: Sequence[TensorSpec] = (),
    trust: bool = False,
    imports: Sequence[str] = (),
    progress: Progress = _noop,
) -> Report:
    """Describe a model file; report.details["model"] holds the facts (see docs/inspect.md)."""
    from modelport.describe import describe
    from modelport.loaders import import_user_code

    fmt = detect(model, from_format)
    import_user_code(imports, trust)
    progress(f"reading {fmt} model")
    report = Report("inspect", ok=True)
    report.details["model"] = describe(model, fmt, trust=trust, input_specs=_with_batch(inputs, True))
    return report


def optimize(
    model: str | Path,
    output: str | Path,
    *,
    allow_growth: bool = False,
    level: str | None = None,
    runs: int = 50,
    force: bool = False,
    check: VerifyOptions | None = None,
    progress: Progress = _noop,
) -> Report:
    """Simplify an ONNX graph, verify it against the input, and report nodes, size and latency."""
    import statistics

    import onnx

    from modelport.bench import _time
    from modelport.loaders.onnx import OnnxModel
    from modelport.passes.onnx_optimize import ORT_LEVELS, node_count
    from modelport.passes.onnx_optimize import optimize as run_optimize
    from modelport.provenance import read_onnx, write_onnx

    check = check or VerifyOptions()
    fmt = detect(model)
    if fmt is not Format.ONNX:
        raise UnsupportedError(f"optimize works on ONNX models, not {fmt}",
                               hint=f"convert first: modelport convert {model} -o model.onnx")
    if level and level not in ORT_LEVELS:
        raise UsageError(f"unknown --level '{level}'", hint=f"levels: {', '.join(ORT_LEVELS)}")
    report = Report("optimize")
    with PendingOutput(output, force=force, source=model) as pending:
        progress("loading the ONNX model")
        try:
            proto = onnx.load(str(model))
        except Exception as exc:
            raise UsageError(f"{model}: cannot read ONNX model ({one_line(exc)})") from exc
        before = {"nodes": node_count(proto), "size_bytes": Path(model).stat().st_size}
        facts = read_onnx(model, proto) | {"modelport_version": __version__}
        progress("optimizing")
        try:
            result = run_optimize(proto, allow_growth=allow_growth, level=level)
        except ModelportError:
            raise
        except Exception as exc:
            raise ConversionFailed(f"optimization failed: {one_line(exc)}", hint="--debug shows the details") from exc
        write_onnx(pending.path, facts | {"optimized": result.steps}, result.model)
        after = {"nodes": node_count(result.model), "size_bytes": pending.path.stat().st_size}
        progress("verifying against the input")
        reference_model, candidate = OnnxModel(model, threads=1), OnnxModel(pending.path, threads=1)
        reference = Reference(reference_model, check.plan())  # its outputs are computed once, used twice
        report.verification = verify_models(reference, candidate, check.tolerance)
        progress("timing before and after")
        feed, _ = reference.cases_for(candidate)
        for info, runner in ((before, reference_model), (after, candidate)):
            info["p50_ms"] = statistics.median(_time(lambda r=runner, f=feed[0]: r.run(f), runs, 5))
        report.details.update({"before": before, "after": after, "steps": result.steps, "skipped": result.skipped,
                               "latency_ratio": after["p50_ms"] / before["p50_ms"] if before["p50_ms"] else None,
                               "size_ratio": after["size_bytes"] / before["size_bytes"]})
        report.warnings += result.skipped + result.warnings
        if report.details["latency_ratio"] and report.details["latency_ratio"] > 1.02:
            report.warnings.append(f"the optimized model is slower here ({report.details['latency_ratio']:.2f}x "
                                   "median latency)")
        report.output = str(pending.commit())
        report.ok = report.verification.passed
    return report


def _accuracy(runner, data: Path | None) -> float | None:
    """Top-1 accuracy on --data holding inputs and `labels` (argmax of the first (N, C) output, or `label`)."""
    import numpy as np

    if data is None:
        return None
    arrays = dict(np.load(str(data), allow_pickle=False))
    if "labels" not in arrays:
        return None
    from modelport.verify.inputs import load_npz

    labels = np.asarray(arrays["labels"]).ravel()
    preds = []
    for case in load_npz(data, runner.inputs):
        out = runner.run(case)
        if "label" in out:  # a classifier's own label output first
            preds.append(np.asarray(out["label"]).ravel())
            continue
        scores = next((v for v in out.values() if v.ndim == 2 and v.shape[1] > 1 and v.dtype.kind == "f"), None)
        if scores is None:
            return None  # not a classifier: accuracy does not apply
        preds.append(np.argmax(scores, 1))
    pred = np.concatenate(preds)
    return float(np.mean(pred == labels[: len(pred)]))


def compress(
    model: str | Path,
    output: str | Path,
    *,
    method: str = "auto",
    calibration: Path | None = None,
    calibrate: str = "minmax",
    data: Path | None = None,
    tolerance: tuple[float | None, float | None, float | None] = (None, None, None),
    per_output: dict[str, tuple[float, float]] | None = None,
    samples: int = 16,
    seed: int = 0,
    runs: int = 50,
    force: bool = False,
    trust: bool = False,
    inputs: Sequence[TensorSpec] = (),
    progress: Progress = _noop,
) -> Report:
    """Quantize an ONNX model; verify it against the input with method-appropriate tolerances and report
    size, latency, error and (with labeled --data) accuracy before and after. `auto` measures candidates."""
    import statistics
    import tempfile

    from modelport.bench import _time
    from modelport.loaders.onnx import OnnxModel
    from modelport.passes import onnx_quant as q
    from modelport.provenance import read_onnx, write_onnx
    from modelport.verify.inputs import generate, load_npz

    fmt = detect(model)
    if Path(output).suffix.lower() == ".tflite":
        return _compress_tflite(model, fmt, output, method=method, calibration=calibration, data=data,
                                tolerance=tolerance, samples=samples, seed=seed, runs=runs, force=force,
                                progress=progress, trust=trust, inputs=inputs)
    if fmt is not Format.ONNX:
        raise UnsupportedError(
            f"compress works on ONNX models, not {fmt} (methods for ONNX: {', '.join(q.METHODS)})",
            hint=f"convert first (modelport convert {model} -o model.onnx), or compress to TFLite from the "
                 "source: -o model.tflite --method dynamic-range|fp16|int8")
    if method not in q.METHODS:
        raise UnsupportedError(f"method '{method}' does not apply to ONNX models",
                               hint=f"methods for ONNX: {', '.join(q.METHODS)}")
    if calibrate not in q.CALIBRATION:
        raise UsageError(f"unknown --calibrate '{calibrate}'", hint=f"choose {', '.join(q.CALIBRATION)}")
    for path in (calibration, data):
        if path is not None and not Path(path).exists():
            raise UsageError(f"{path}: no such file")
    import onnx

    report = Report("compress")
    with PendingOutput(output, force=force, source=model) as pending, \
            tempfile.TemporaryDirectory(prefix=".modelport-compress-", dir=str(pending.final.parent)) as tmp:
        reference_model = OnnxModel(model, threads=1)
        specs = reference_model.inputs
        candidates, why = ([method], "as asked") if method != "auto" else q.auto_order(onnx.load(str(model)))
        feeds: list[dict] = []
        if "static-int8" in candidates:
            if calibration:
                feeds = _typed([c for case in load_npz(calibration, specs) for c in _chunks(case, 16)], specs)
            else:
                feeds = generate(specs, samples=64, seed=seed + 1)
                report.warnings.append("static int8 was calibrated on generated inputs: its accuracy cannot be "
                                       "judged on synthetic data; pass --calibration FILE.npz with real inputs")
        plan = InputPlan(samples, seed, (0, 10), data)
        reference = Reference(reference_model, plan)
        feed = reference.cases_for(reference_model)[0][0]
        before = {"size_bytes": Path(model).stat().st_size,
                  "p50_ms": statistics.median(_time(lambda f=feed: reference_model.run(f), runs, 5)),
                  "accuracy": _accuracy(reference_model, data)}
        tried = []
        for m in candidates:
            progress(f"compressing with {m}")
            out = Path(tmp) / f"{m}.onnx"
            start = time.perf_counter()
            atol, rtol, mm = (given if given is not None else default
                              for given, default in zip(tolerance, q.DEFAULT_TOLERANCE[m]))
            try:
                q.run_method(m, Path(model), out, feeds, calibrate)
                cand = OnnxModel(out, threads=1)
            except MissingDependency:
                raise
            except Exception as exc:  # a method that fails or writes an unloadable file is one failed candidate
                report.attempts.append(Attempt(m, "error", time.perf_counter() - start,
                                               exc.message if isinstance(exc, ModelportError) else one_line(exc)))
                continue
            progress(f"verifying and timing {m}")
            v = verify_models(reference, cand, Tolerance(atol, rtol, per_output or {}, mm))
            if v.error:
                report.attempts.append(Attempt(m, "error", time.perf_counter() - start, v.error))
                continue
            info = {"method": m, "size_bytes": out.stat().st_size, "passed": v.passed,
                    "p50_ms": statistics.median(_time(lambda c=cand, f=feed: c.run(f), runs, 5)),
                    "accuracy": _accuracy(cand, data), "path": out, "verification": v}
            report.attempts.append(Attempt(m, "ok" if v.passed else "mismatch", time.perf_counter() - start,
                                           None if v.passed else v.summary()))
            tried.append(info)
        if not tried:
            raise ConversionFailed("every compression method failed: " + "; ".join(
                f"{a.route}: {a.reason}" for a in report.attempts))
        passing = [t for t in tried if t["passed"]]
        best = min(passing or tried[:1], key=lambda t: (t["p50_ms"], t["size_bytes"]))
        os.replace(best["path"], pending.path)
        write_onnx(pending.path, read_onnx(model) | {"compressed": best["method"], "modelport_version": __version__})
        after = {k: best[k] for k in ("size_bytes", "p50_ms", "accuracy")}
        after["size_bytes"] = pending.path.stat().st_size
        report.verification = best["verification"]
        report.route = best["method"]
        report.details.update({
            "method": best["method"], "auto_reason": why if method == "auto" else None,
            "before": before, "after": after,
            "size_ratio": after["size_bytes"] / before["size_bytes"],
            "latency_ratio": after["p50_ms"] / before["p50_ms"] if before["p50_ms"] else None,
            "candidates": [{k: v for k, v in t.items() if k not in ("path", "verification")} for t in tried],
            "label_agreement": next((o.label_agreement for o in best["verification"].outputs
                                     if o.label_agreement is not None), None),
        })
        if before["accuracy"] is not None:
            report.details["accuracy_delta_pt"] = 100 * (after["accuracy"] - before["accuracy"])
        if report.details["latency_ratio"] and report.details["latency_ratio"] > 1.0:
            report.warnings.append(f"the compressed model is SLOWER than its input here "
                                   f"({report.details['latency_ratio']:.2f}x median latency)")
        report.output = str(pending.commit())
        report.ok = best["passed"]
        if not report.ok:
            report.warnings.append(f"no method passed the tolerance; the file was kept at {report.output}")
    return report


def _typed(feeds: list[dict], specs) -> list[dict]:
    """Calibration arrays in each input's own dtype (np.savez keeps float64; calibrators refuse it)."""
    from modelport.loaders.base import cast_feed

    return [dict(zip([s.name for s in specs], cast_feed(feed, specs))) for feed in feeds]


def _chunks(case: dict, size: int) -> list[dict]:
    rows = len(next(iter(case.values())))
    return [{k: v[i:i + size] for k, v in case.items()} for i in range(0, rows, size)]


def _compress_tflite(model, fmt: Format, output, *, method, calibration, data, tolerance, samples, seed, runs,
                     force, progress, trust=False, inputs=()) -> Report:
    """Keras / SavedModel -> compressed TFLite, verified against the source model; before = plain fp32 TFLite."""
    import statistics
    import tempfile

    from modelport.bench import _time
    from modelport.loaders import open_model
    from modelport.loaders.tflite import TfliteModel
    from modelport.passes import onnx_quant, tflite_quant
    from modelport.provenance import write_tflite
    from modelport.verify.inputs import load_npz

    is_torch = fmt.framework == "torch"
    if fmt not in (Format.KERAS, Format.TF_SAVEDMODEL) and not is_torch:
        raise UnsupportedError(f"compressing {fmt} to TFLite is not available",
                               hint="sources: Keras, SavedModel, PyTorch (modelport[litert])")
    methods = tflite_quant.TORCH_METHODS if is_torch else tflite_quant.METHODS
    method = methods[0] if method == "auto" else method
    if method not in methods:
        raise UnsupportedError(f"method '{method}' does not apply to {fmt} -> TFLite",
                               hint=f"methods: {', '.join(methods)}, auto")
    if is_torch:
        from modelport.core.errors import require

        require("litert_torch", "litert", "compress PyTorch models to TFLite")
    if method == "int8" and calibration is None:
        raise UsageError("--method int8 needs --calibration FILE.npz (a representative dataset)",
                         hint="or use --method dynamic-range, which needs none")
    for path in (calibration, data):
        if path is not None and not Path(path).exists():
            raise UsageError(f"{path}: no such file")
    report = Report("compress")
    with PendingOutput(output, force=force, source=model) as pending, \
            tempfile.TemporaryDirectory(prefix="modelport-compress-") as tmp:
        progress(f"loading {fmt} model")
        source = open_model(model, fmt, trust=trust, input_specs=_with_batch(inputs, True))
        feeds = _typed(load_npz(calibration, source.inputs), source.inputs) if calibration else None
        write = tflite_quant.convert_torch if is_torch else tflite_quant.convert
        baseline = Path(tmp) / "fp32.tflite"
        progress("converting the fp32 baseline")
        write(source, None, baseline)
        progress(f"converting with {method}")
        start = time.perf_counter()
        write(source, method, pending.path, feeds)
        atol, rtol, mm = (given if given is not None else default for given, default in
                          zip(tolerance, onnx_quant.DEFAULT_TOLERANCE["fp16" if method == "fp16" else "static-int8"]))
        reference = Reference(source, InputPlan(samples, seed, (0, 10), data))
        before_model, cand = TfliteModel(baseline, threads=1), TfliteModel(pending.path, threads=1)
        progress("verifying against the source model")
        report.verification = verify_models(reference, cand, Tolerance(atol, rtol, {}, mm))
        feed = reference.cases_for(cand)[0][0]
        before = {"size_bytes": baseline.stat().st_size, "accuracy": _accuracy(before_model, data),
                  "p50_ms": statistics.median(_time(lambda f=feed: before_model.run(f), runs, 5))}
        after = {"size_bytes": pending.path.stat().st_size, "accuracy": _accuracy(cand, data),
                 "p50_ms": statistics.median(_time(lambda f=feed: cand.run(f), runs, 5))}
        report.attempts.append(Attempt(method, "ok" if report.verification.passed else "mismatch",
                                       time.perf_counter() - start,
                                       None if report.verification.passed else report.verification.summary()))
        report.details.update({
            "method": method, "auto_reason": None, "before": before, "after": after, "baseline": "fp32 TFLite",
            "size_ratio": after["size_bytes"] / before["size_bytes"],
            "latency_ratio": after["p50_ms"] / before["p50_ms"] if before["p50_ms"] else None,
            "candidates": [{"method": method, "size_bytes": after["size_bytes"], "p50_ms": after["p50_ms"],
                            "passed": report.verification.passed, "accuracy": after["accuracy"]}],
        })
        if before["accuracy"] is not None:
            report.details["accuracy_delta_pt"] = 100 * (after["accuracy"] - before["accuracy"])
        if report.details["latency_ratio"] and report.details["latency_ratio"] > 1.0:
            report.warnings.append(f"the compressed model is SLOWER than fp32 TFLite here "
                                   f"({report.details['latency_ratio']:.2f}x median latency)")
        write_tflite(pending.path, {"source_sha256": _digest(model, fmt), "source_format": fmt.value,
                                    "compressed": method, "modelport_version": __version__,
                                    "verification": "passed" if report.verification.passed else "failed"})
        report.output = str(pending.commit())
        report.route = method
        report.ok = report.verification.passed
    return report
