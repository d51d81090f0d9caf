"""`modelport optimize MODEL -o OUT`: a simpler ONNX graph, verified, with nodes/size/latency before and after."""

from __future__ import annotations

import typer

from modelport.cli import options as o

EPILOG = """\
Examples:\n
  modelport optimize model.onnx -o model.opt.onnx\n
  modelport optimize model.onnx -o model.ort.onnx --level extended\n
  modelport optimize legacy.onnx -o small.onnx --allow-growth
"""


def render(report, session) -> None:
    from rich.table import Table

    from modelport.cli.render import render as render_common

    d = report.details
    if "before" in d:
        table = Table(title="Optimization", title_justify="left", show_edge=False)
        for col in ("", "nodes", "size", "median latency"):
            table.add_column(col, justify="left" if not col else "right")
        for key in ("before", "after"):
            row = d[key]
            table.add_row(key, str(row["nodes"]), f"{row['size_bytes']:,} B", f"{row.get('p50_ms', 0):.3f} ms")
        table.add_row("ratio", f"{d['after']['nodes'] / max(d['before']['nodes'], 1):.2f}", f"{d['size_ratio']:.2f}",
                      f"{d['latency_ratio']:.2f}" if d.get("latency_ratio") else "-")
        session.console().print(table)
        for step in d.get("steps", []):
            session.console().print(f"  step: {step}")
    render_common(report, session)
    if report.output:
        session.console().print(f"wrote {report.output} ({'verified' if report.ok else 'verification FAILED'})")


def optimize(
    model: str = typer.Argument(..., metavar="MODEL", help="ONNX model."),
    output: str = typer.Option(..., "--output", "-o", metavar="OUT", help="Optimized ONNX file."),
    level: str = typer.Option(None, "--level", help="Also run ONNX Runtime offline optimization: basic, "
                                                     "extended or all (the last two are ORT-only)."),
    allow_growth: bool = typer.Option(False, "--allow-growth", help="Keep constant folding that grows the file "
                                                                    "more than 1.5x."),
    runs: int = typer.Option(50, "--runs", help="Timed runs for the before/after latency."),
    atol: float = o.AtolOpt,
    rtol: float = o.RtolOpt,
    tol: list[str] = o.TolOpt,
    samples: int = o.SamplesOpt,
    seed: int = o.SeedOpt,
    data: str = o.DataOpt,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite OUT if it exists."),
    json_path: str = o.JsonOpt,
    quiet: bool = o.QuietOpt,
    debug: bool = o.DebugOpt,
) -> None:
    """Simplify an ONNX graph (shape inference, constant folding, fusion, dead nodes) and prove it unchanged."""
    from modelport.cli.guard import Session, finish, guarded

    session = Session(json_path, quiet, debug)
    with guarded(session, "optimize", render):
        from modelport import api

        session.check_json(model, output)
        report = api.optimize(model, output, allow_growth=allow_growth, level=level, runs=runs, force=force,
                              check=o.verify_options(samples, seed, "0,10", data, tol, atol, rtol),
                              progress=session.progress)
        finish(session, report, render)
