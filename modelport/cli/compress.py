"""`modelport compress MODEL -o OUT --method M`: smaller models, with size, latency and error side by side."""

from __future__ import annotations

import typer

from modelport.cli import options as o

EPILOG = """\
Examples:\n
  modelport compress model.onnx -o model.int8.onnx                      # auto: measures candidates\n
  modelport compress cnn.onnx -o cnn.int8.onnx --method static-int8 --calibration calib.npz\n
  modelport compress bert.onnx -o bert.int8.onnx --method dynamic-int8 --data holdout.npz\n
  modelport compress model.onnx -o model.fp16.onnx --method fp16\n
  modelport compress model.keras -o model.tflite --method int8 --calibration calib.npz\n
  modelport compress model.pt2 -o model.tflite --method int8 --calibration calib.npz   # modelport[litert]
"""


def render(report, session) -> None:
    from rich.table import Table

    from modelport.cli.render import render as render_common

    d = report.details
    console = session.console()
    if report.attempts:
        table = Table(title="Candidates" + (f" (auto: {d['auto_reason']})" if d.get("auto_reason") else ""),
                      title_justify="left", show_edge=False)
        for col in ("method", "result", "size", "median ms", "accuracy"):
            table.add_column(col, justify="left" if col in ("method", "result") else "right")
        by_method = {c["method"]: c for c in d.get("candidates", [])}
        for a in report.attempts:
            c = by_method.get(a.route, {})
            acc = c.get("accuracy")
            table.add_row(a.route + (" *" if a.route == d.get("method") else ""), a.outcome + (
                f" ({a.reason})" if a.reason else ""), f"{c['size_bytes']:,} B" if c else "-",
                f"{c['p50_ms']:.3f}" if c else "-", "-" if acc is None else f"{acc:.2%}")
        console.print(table)
    if "before" in d:
        table = Table(title="Before / after", title_justify="left", show_edge=False)
        for col in ("", "size", "median latency", "accuracy"):
            table.add_column(col, justify="left" if not col else "right")
        for key in ("before", "after"):
            r = d[key]
            table.add_row(key, f"{r['size_bytes']:,} B", f"{r['p50_ms']:.3f} ms",
                          "-" if r["accuracy"] is None else f"{r['accuracy']:.2%}")
        table.add_row("ratio", f"{d['size_ratio']:.2f}x", f"{d['latency_ratio']:.2f}x",
                      f"{d['accuracy_delta_pt']:+.2f} pt" if "accuracy_delta_pt" in d else "-")
        console.print(table)
    saved_attempts, report.attempts = report.attempts, []
    render_common(report, session)
    report.attempts = saved_attempts
    if report.output:
        console.print(f"wrote {report.output} via {report.route} "
                      f"({'verified' if report.ok else 'verification FAILED'})")


def compress(
    model: str = typer.Argument(..., metavar="MODEL", help="ONNX model."),
    output: str = typer.Option(..., "--output", "-o", metavar="OUT", help="Compressed ONNX file."),
    method: str = typer.Option("auto", "--method", "-m", help="auto, dynamic-int8, static-int8 or fp16."),
    calibration: str = typer.Option(None, "--calibration", metavar="FILE.npz",
                                    help="static-int8: real inputs to calibrate on (arrays named like inputs)."),
    calibrate: str = typer.Option("minmax", "--calibrate", help="minmax, entropy or percentile."),
    data: str = typer.Option(None, "--data", metavar="FILE.npz",
                             help="Inputs (+ `labels`) to verify on; with labels, top-1 accuracy before/after."),
    atol: float = typer.Option(None, "--atol", help="Absolute tolerance (default: the method's)."),
    rtol: float = typer.Option(None, "--rtol", help="Relative tolerance (default: the method's)."),
    max_mismatch: float = typer.Option(None, "--max-mismatch", help="Share of elements allowed off "
                                                                   "(default: 0.02 for int8, 0 for fp16)."),
    tol: list[str] = o.TolOpt,
    samples: int = o.SamplesOpt,
    seed: int = o.SeedOpt,
    runs: int = typer.Option(50, "--runs", help="Timed runs for each latency figure."),
    inputs: list[str] = o.InputOpt,
    trust: bool = o.TrustOpt,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite OUT if it exists."),
    json_path: str = o.JsonOpt,
    quiet: bool = o.QuietOpt,
    debug: bool = o.DebugOpt,
) -> None:
    """Quantize an ONNX model (int8 or fp16), verified, with size/latency/error before and after."""
    from pathlib import Path

    from modelport.cli.guard import Session, finish, guarded

    session = Session(json_path, quiet, debug)
    with guarded(session, "compress", render):
        from modelport import api

        session.check_json(model, output)
        per = o.parse_tols(tol, atol or 0.0, rtol or 0.0).per_output  # also validates the numbers
        if max_mismatch is not None and not 0 <= max_mismatch <= 1:
            from modelport.core.errors import UsageError

            raise UsageError("--max-mismatch is a share between 0 and 1")
        report = api.compress(model, output, method=method, calibration=Path(calibration) if calibration else None,
                              calibrate=calibrate, data=Path(data) if data else None,
                              tolerance=(atol, rtol, max_mismatch), per_output=per, samples=samples, seed=seed,
                              runs=runs, force=force, trust=trust, inputs=o.parse_inputs(inputs),
                              progress=session.progress)
        finish(session, report, render)
