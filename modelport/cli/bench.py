"""`modelport bench MODEL [MODEL ...]`: latency and throughput side by side."""

from __future__ import annotations

import typer

from modelport.cli import options as o

EPILOG = """\
Examples:\n
  modelport bench model.pt2 model.onnx model.int8.onnx\n
  modelport bench model.keras model.onnx model.tflite --batch 32 --threads 1\n
  modelport bench clf.skops clf.onnx --data holdout.npz --json -
"""


def render(report, session) -> None:
    from rich.table import Table

    d = report.details
    table = Table(title=f"Latency (batch {d['batch']}, {d['runs']} runs after {d['warmup']} warm-up, "
                        f"threads {d['threads'] or 'default'}, inputs {d['inputs_from']})",
                  title_justify="left", show_edge=False)
    for col in ("model", "runtime", "p50 ms", "p90 ms", "p99 ms", "mean ms", "samples/s", "size", "x first"):
        table.add_column(col, justify="left" if col in ("model", "runtime") else "right")
    for r in d["rows"]:
        table.add_row(r["model"], r["runtime"], f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}",
                      f"{r['mean_ms']:.3f}", f"{r['throughput_per_s']:,.0f}", f"{r['size_bytes'] / 1e6:.2f} MB",
                      f"{r['ratio_p50']:.2f}")
    session.console().print(table)


def bench(
    models: list[str] = typer.Argument(..., metavar="MODEL [MODEL ...]", help="Models taking the same inputs."),
    runs: int = typer.Option(100, "--runs", help="Timed runs per model."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed runs first."),
    batch: int = typer.Option(1, "--batch", help="Batch size of the generated (or --data) inputs."),
    threads: int = typer.Option(None, "--threads", help="Intra-op threads (ONNX Runtime, TFLite, PyTorch)."),
    data: str = o.DataOpt,
    inputs: list[str] = o.InputOpt,
    seed: int = o.SeedOpt,
    trust: bool = o.TrustOpt,
    json_path: str = o.JsonOpt,
    quiet: bool = o.QuietOpt,
    debug: bool = o.DebugOpt,
) -> None:
    """Time several models on the same inputs: p50/p90/p99, mean, throughput, ratio to the first."""
    from pathlib import Path

    from modelport.cli.guard import Session, finish, guarded

    session = Session(json_path, quiet, debug)
    with guarded(session, "bench", render):
        from modelport.bench import bench as run_bench
        from modelport.core.errors import UsageError

        session.check_json(*models)
        if data and not Path(data).exists():
            raise UsageError(f"{data}: no such file")
        report = run_bench(models, runs=runs, warmup=warmup, batch=batch, threads=threads,
                           data=Path(data) if data else None, inputs=o.parse_inputs(inputs), trust=trust,
                           seed=seed, progress=session.progress)
        finish(session, report, render)
