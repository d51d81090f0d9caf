"""`modelport optimize MODEL -o OUT`: a simpler ONNX graph, verified, with nodes/size/latency before and after."""

from __future__ import annotations

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  modelport optimize model.onnx -o model.opt.onnx\n
  modelport optimize model.onnx -o model.ort.onnx --level extended\n
  modelport optimize legacy.onnx -o small.onnx --allow-growth
"""


def render(report, session) -> None:
    from modelport.cli.render import before_after_table
    from modelport.cli.render import render as render_common

    d = report.details
    if "before" in d:
        session.console().print(before_after_table(d, "Optimization", nodes=True))
        for step in d.get("steps", []):
            session.console().print(f"  step: {step}")
    render_common(report, session)
    if report.output:
        session.console().print(f"wrote {report.output} ({'verified' if report.ok else 'verification FAILED'})")


@command("optimize", "page", "signed", "signature", "sign", "output", "data", "tolerance", render=render)
def optimize(
    opts,
    model: str = typer.Argument(..., metavar="MODEL", help="ONNX model."),
    level: str = typer.Option(None, "--level", help="Also run ONNX Runtime offline optimization: basic, "
                                                     "extended or all (the last two are ORT-only)."),
    allow_growth: bool = typer.Option(False, "--allow-growth", help="Keep constant folding that grows the file "
                                                                    "more than 1.5x."),
    runs: int = typer.Option(50, "--runs", help="Timed runs (at least) for the before/after latency."),
):
    """Simplify an ONNX graph (shape inference, constant folding, fusion, dead nodes) and prove it unchanged."""
    from modelport.commands.optimize import optimize as run

    opts.session.check_json(model, opts.output)
    return run(model, opts.output, allow_growth=allow_growth, level=level, runs=runs, force=opts.force,
               external_data=opts.external_data,
               check=opts.verify_options(), progress=opts.session.progress)
