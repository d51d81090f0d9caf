"""`modelport convert SRC -o OUT`: convert through the first route whose output verifies."""

from __future__ import annotations

import typer

from modelport.cli import options as o

EPILOG = """\
Examples:\n
  modelport convert model.pt2 -o model.onnx\n
  modelport convert net.ts -o net.onnx --input x:1,3,224,224\n
  modelport convert model.keras -o model.onnx --json report.json\n
  modelport convert clf.skops -o clf.onnx --atol 1e-5\n
  modelport convert build.py:make_model -o m.onnx --input x:1,16 --trust
"""


def convert(
    source: str = typer.Argument(..., metavar="SRC", help="Model file, SavedModel folder, or file.py:callable."),
    output: str = typer.Option(..., "--output", "-o", metavar="OUT", help="Output file (.onnx)."),
    to: str = typer.Option(None, "--to", help="Target format (default: from OUT's extension)."),
    from_format: str = typer.Option(None, "--from", metavar="FORMAT", help="Source format (default: detected)."),
    inputs: list[str] = o.InputOpt,
    opset: int = typer.Option(None, "--opset", help="ONNX opset (default: the route's own)."),
    static: bool = typer.Option(False, "--static", help="Freeze the batch dimension (dynamic by default)."),
    route: str = typer.Option(None, "--route", help="Force one route, no fallback (see `modelport routes`)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip verification (not recommended)."),
    atol: float = o.AtolOpt,
    rtol: float = o.RtolOpt,
    tol: list[str] = o.TolOpt,
    samples: int = o.SamplesOpt,
    seed: int = o.SeedOpt,
    int_range: str = o.IntRangeOpt,
    data: str = o.DataOpt,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite OUT if it exists."),
    trust: bool = o.TrustOpt,
    imports: list[str] = o.ImportOpt,
    json_path: str = o.JsonOpt,
    quiet: bool = o.QuietOpt,
    debug: bool = o.DebugOpt,
) -> None:
    """Convert a PyTorch, Keras/TensorFlow or scikit-learn model to ONNX, verified by default."""
    from modelport.cli.guard import Session, finish, guarded
    from modelport.cli.render import render

    session = Session(json_path, quiet, debug)
    with guarded(session, "convert", render):
        from modelport import api

        session.check_json(source, output)
        report = api.convert(
            source, output, from_format=from_format, to=to, inputs=o.parse_inputs(inputs), opset=opset,
            static=static, route=route, verify=not no_verify,
            check=o.verify_options(samples, seed, int_range, data, tol, atol, rtol),
            force=force, trust=trust, imports=imports or (), progress=session.progress,
        )
        finish(session, report, render)
