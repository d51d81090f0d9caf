"""`modelport bench`: latency and throughput of several models on the same inputs, side by side."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from modelport.core.errors import UsageError
from modelport.core.formats import Format, detect
from modelport.core.io import size_of_path
from modelport.core.report import Report


def _open(path, fmt: Format, threads: int | None, trust: bool, inputs):
    """A runner with the thread count applied where the runtime allows it."""
    if fmt is Format.ONNX:
        from modelport.loaders.onnx import OnnxModel

        return OnnxModel(path, threads=threads)
    if fmt is Format.TFLITE:
        from modelport.loaders.tflite import TfliteModel

        return TfliteModel(path, threads=threads)
    if threads and fmt.framework == "torch":
        import torch

        torch.set_num_threads(threads)
    from modelport.loaders import open_model

    return open_model(path, fmt, trust=trust, input_specs=inputs)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench(
    models: Sequence[str],
    *,
    runs: int = 100,
    warmup: int = 10,
    batch: int = 1,
    threads: int | None = None,
    data: Path | None = None,
    inputs=(),
    trust: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    from modelport.core.artifact import TensorSpec
    from modelport.verify.inputs import generate, load_npz

    if runs < 1 or warmup < 0 or batch < 1:
        raise UsageError("--runs and --batch must be >= 1, --warmup >= 0")
    report = Report("bench", ok=True)
    rows = []
    feed = None
    for path in models:
        fmt = detect(path)
        progress(f"loading {Path(str(path)).name}")
        model = _open(path, fmt, threads, trust, list(inputs))
        if feed is None:  # the first model's inputs, at --batch, are fed to every model
            specs = [TensorSpec(s.name, tuple(batch if j == 0 and not isinstance(d, int) else d
                                              for j, d in enumerate(s.shape)), s.dtype) for s in model.inputs]
            if data:
                feed = {k: v[:batch] for k, v in load_npz(data, specs)[0].items()}
            else:
                feed = generate(specs, samples=batch, seed=seed)[0]
        progress(f"timing {Path(str(path)).name}")
        try:
            times = _time(lambda m=model, f=feed: m.run(f), runs, warmup)
        except Exception as exc:
            from modelport.core.errors import one_line

            raise UsageError(f"{path}: cannot run on the benchmark inputs ({one_line(exc)})",
                             hint="models compared must take the same inputs (--batch, --input)") from exc
        rows.append({
            "model": str(path), "format": fmt.value, "runtime": model.framework_version,
            "p50_ms": _percentile(times, 50), "p90_ms": _percentile(times, 90), "p99_ms": _percentile(times, 99),
            "mean_ms": statistics.fmean(times), "throughput_per_s": batch / (statistics.fmean(times) / 1000),
            "size_bytes": size_of_path(path),
        })
    base = rows[0]["p50_ms"]
    for row in rows:
        row["ratio_p50"] = row["p50_ms"] / base if base else None
    shape = {k: list(v.shape) for k, v in feed.items()}
    fed = len(next(iter(feed.values()))) if feed else batch
    if fed != batch:
        report.warnings.append(f"{fed} rows were fed, not --batch {batch} (fixed batch or short --data): "
                               "throughput is per fed row")
        for row in rows:
            row["throughput_per_s"] = fed / (row["mean_ms"] / 1000)
    report.details.update({"rows": rows, "runs": runs, "warmup": warmup, "batch": batch, "threads": threads,
                           "inputs": shape, "inputs_from": str(data) if data else "generated"})
    return report


def _time(fn, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times
