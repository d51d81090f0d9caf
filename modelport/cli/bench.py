"""`modelport bench MODEL [MODEL ...]`: latency and throughput side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  modelport bench model.pt2 model.onnx model.int8.onnx\n
  modelport bench model.keras model.onnx model.tflite --batch 32 --threads 1\n
  modelport bench clf.skops clf.onnx --data holdout.npz --json -
"""


def render(report, session) -> None:
    from rich.table import Table

    from modelport.cli.render import size_text

    d = report.details
    table = Table(title=f"Latency (batch {d['batch']}, {d['runs']} runs after {d['warmup']} warm-up, "
                        f"threads {d['threads'] or 'default'}, inputs {d['inputs_from']})",
                  title_justify="left", show_edge=False)
    for col in ("model", "runtime", "p50 ms", "p90 ms", "p99 ms", "mean ms", "samples/s", "size", "x first"):
        table.add_column(col, justify="left" if col in ("model", "runtime") else "right")
    for r in d["rows"]:
        table.add_row(r["model"], r["runtime"], f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}",
                      f"{r['mean_ms']:.3f}", f"{r['throughput_per_s']:,.0f}", size_text(r['size_bytes']),
                      f"{r['ratio_p50']:.2f}")
    session.console().print(table)


@command("bench", "page", "signed", "signature", "inputs", "data", "trust", render=render)
def bench(
    opts,
    models: list[str] = typer.Argument(..., metavar="MODEL [MODEL ...]", help="Models taking the same inputs."),
    runs: int = typer.Option(100, "--runs", help="Timed runs per model."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed runs first."),
    batch: int = typer.Option(1, "--batch", help="Batch size of the generated (or --data) inputs."),
    threads: int = typer.Option(None, "--threads", help="Intra-op threads (ONNX Runtime, TFLite, PyTorch)."),
):
    """Time several models on the same inputs, interleaved: p50/p90/p99, mean, throughput, ratio to the first."""
    from modelport.commands.bench import bench as run
    from modelport.core.errors import UsageError

    opts.session.check_json(*models)
    if opts.data and not Path(opts.data).exists():
        raise UsageError(f"{opts.data}: no such file")
    return run(models, runs=runs, warmup=warmup, batch=batch, threads=threads, data=opts.data,
               inputs=opts.input_specs(), trust=opts.trust, seed=opts.seed, progress=opts.session.progress)
