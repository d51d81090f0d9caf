"""`modelport verify SOURCE CANDIDATE`: the CI gate."""

from __future__ import annotations

import typer

from modelport.cli import options as o

EPILOG = """\
Examples:\n
  modelport verify model.pt2 model.onnx\n
  modelport verify model.keras model.onnx --atol 1e-5 --rtol 1e-4\n
  modelport verify clf.skops clf.onnx --data holdout.npz --json -\n
  modelport verify a.onnx b.onnx --tol logits=1e-3,1e-2
"""


def verify(
    source: str = typer.Argument(..., metavar="SOURCE", help="Reference model."),
    candidate: str = typer.Argument(..., metavar="CANDIDATE", help="Model that must compute the same."),
    from_format: str = typer.Option(None, "--from", metavar="FORMAT", help="Format of SOURCE."),
    candidate_format: str = typer.Option(None, "--candidate-from", metavar="FORMAT", help="Format of CANDIDATE."),
    inputs: list[str] = o.InputOpt,
    atol: float = o.AtolOpt,
    rtol: float = o.RtolOpt,
    tol: list[str] = o.TolOpt,
    samples: int = o.SamplesOpt,
    seed: int = o.SeedOpt,
    int_range: str = o.IntRangeOpt,
    data: str = o.DataOpt,
    trust: bool = o.TrustOpt,
    imports: list[str] = o.ImportOpt,
    json_path: str = o.JsonOpt,
    quiet: bool = o.QuietOpt,
    debug: bool = o.DebugOpt,
) -> None:
    """Run two models on the same inputs and compare every output. Exit 0 if all match, 1 if not."""
    from modelport.cli.guard import Session, finish, guarded
    from modelport.cli.render import render

    session = Session(json_path, quiet, debug)
    with guarded(session, "verify", render):
        from modelport import api

        session.check_json(source, candidate)
        report = api.verify(
            source, candidate, reference_format=from_format, candidate_format=candidate_format,
            inputs=o.parse_inputs(inputs), trust=trust, imports=imports or (),
            check=o.verify_options(samples, seed, int_range, data, tol, atol, rtol), progress=session.progress,
        )
        finish(session, report, render)
