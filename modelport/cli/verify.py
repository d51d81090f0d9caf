"""`modelport verify SOURCE CANDIDATE`: the CI gate."""

from __future__ import annotations

import typer

from modelport.cli.options import command
from modelport.cli.render import render_with_locate

EPILOG = """\
Examples:\n
  modelport verify model.pt2 model.onnx\n
  modelport verify model.keras model.onnx --atol 1e-5 --rtol 1e-4\n
  modelport verify clf.skops clf.onnx --data holdout.npz --json -\n
  modelport verify a.onnx b.onnx --tol logits=1e-3,1e-2\n
  modelport verify model.pt2 model.onnx --locate          # where do they start to differ?\n
  modelport verify models:/fraud@production models:/fraud/4   # two MLflow registry versions
"""


@command("verify", "page", "signed", "signature", "inputs", "task", "data", "int_range", "tolerance", "trust",
         render=render_with_locate)
def verify(
    opts,
    source: str = typer.Argument(..., metavar="SOURCE", help="Reference model."),
    candidate: str = typer.Argument(..., metavar="CANDIDATE", help="Model that must compute the same."),
    from_format: str = typer.Option(None, "--from", metavar="FORMAT", help="Format of SOURCE."),
    candidate_format: str = typer.Option(None, "--candidate-from", metavar="FORMAT", help="Format of CANDIDATE."),
    locate: bool = typer.Option(False, "--locate", help="When outputs differ, find the first layer whose own "
                                                        "error jumps (named in SOURCE's terms)."),
):
    """Run two models on the same inputs and compare every output. Exit 0 if all match, 1 if not."""
    from modelport.commands.verify import verify as run

    opts.session.check_json(source, candidate)
    return run(source, candidate, reference_format=from_format, candidate_format=candidate_format,
               inputs=opts.input_specs(), trust=opts.trust, imports=opts.imports, check=opts.verify_options(),
               locate=locate, task=opts.task, progress=opts.session.progress)
