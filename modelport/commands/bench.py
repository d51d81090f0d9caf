"""`modelport bench`: latency and throughput of several models on the same inputs, side by side."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from modelport.commands.sources import local, version_uri
from modelport.core.artifact import TensorSpec, as_specs, with_batch
from modelport.core.errors import UsageError, one_line
from modelport.core.formats import detect
from modelport.core.io import size_of_path
from modelport.core.report import Report
from modelport.loaders import open_model
from modelport.pipeline.measure import interleaved
from modelport.verify.inputs import generate, load_npz


def bench(
    models: Sequence[str],
    *,
    runs: int = 100,
    warmup: int = 10,
    batch: int = 1,
    threads: int | None = None,
    data: Path | None = None,
    inputs: Sequence[TensorSpec | str] = (),
    trust: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Time several models on the same inputs (the first model's, at --batch): p50/p90/p99, mean, throughput,
    size and ratio to the first. The models run in turn, round after round, so load on the machine lands on
    all of them alike: quote the ratios rather than one absolute figure."""
    if runs < 1 or warmup < 0 or batch < 1:
        raise UsageError("--runs and --batch must be >= 1, --warmup >= 0")
    report = Report("bench", ok=True)
    loaded, feed = [], None
    for name in models:
        file = local(name)  # a models:/ version: its download
        fmt = detect(file)
        progress(f"loading {Path(str(file)).name}")
        model = open_model(file, fmt, trust=trust, input_specs=with_batch(as_specs(inputs), True), threads=threads)
        if feed is None:  # the first model's inputs, at --batch, are fed to every model
            specs = [TensorSpec(s.name, tuple(batch if j == 0 and not isinstance(d, int) else d
                                              for j, d in enumerate(s.shape)), s.dtype) for s in model.inputs]
            feed = {k: v[:batch] for k, v in load_npz(data, specs)[0].items()} if data else \
                generate(specs, samples=batch, seed=seed)[0]
        try:
            model.run(feed)
        except Exception as exc:
            raise UsageError(f"{name}: cannot run on the benchmark inputs ({one_line(exc)})",
                             hint="models compared must take the same inputs (--batch, --input)") from exc
        loaded.append((str(name), fmt, model, file))
    progress(f"timing {len(loaded)} model(s), interleaved")
    timings = interleaved({str(i): (lambda m=m: m.run(feed)) for i, (_, _, m, _) in enumerate(loaded)}, runs=runs,
                          warmup=warmup, max_runs=runs)
    rows = []
    for i, (name, fmt, model, file) in enumerate(loaded):
        timing = timings[str(i)]
        mean = statistics.fmean(timing.samples)
        rows.append({
            "model": name, "format": fmt.value, "runtime": model.framework_version,
            **({"version_uri": version_uri(name)} if version_uri(name) else {}),
            "p50_ms": timing.median, "p90_ms": timing.percentile(90), "p99_ms": timing.percentile(99),
            "mean_ms": mean, "spread_ms": timing.spread, "throughput_per_s": batch / (mean / 1000),
            "size_bytes": size_of_path(file),
            "quantiles_ms": [timing.percentile(q) for q in range(0, 101, 5)],  # the whole distribution
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

