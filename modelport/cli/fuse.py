"""`modelport fuse M1 M2 ... -o OUT --strategy S`: one ONNX ensemble from models of any framework."""

from __future__ import annotations

import typer

from modelport.cli.options import SamplesOpt, SeedOpt, command, pairs
from modelport.core.errors import UsageError

EPILOG = """\
Examples:\n
  modelport fuse clf.skops net.pt2 -o ens.onnx --strategy mean --input x:1,4\n
  modelport fuse a.onnx b.onnx c.onnx -o ens.onnx --strategy weighted --weights 0.5,0.3,0.2\n
  modelport fuse a.skops b.keras c.pt2 -o vote.onnx --strategy vote --softmax 2\n
  modelport fuse a.onnx b.onnx -o stack.onnx --strategy stack --fit-meta train.npz\n
  modelport fuse scaler.skops net.pt2 -o pipe.onnx --strategy chain --map variable=x\n
  modelport fuse a.onnx b.onnx -o best.onnx --strategy select --data holdout.npz
"""


def _index_pairs(values: list[str] | None) -> dict[int, str]:
    result = {}
    for key, val in pairs(values, "--member-output", "1=probabilities").items():
        if not key.isdigit():
            raise UsageError(f"--member-output '{key}={val}': the member index must be a number",
                             hint="--member-output 1=logits")
        result[int(key)] = val
    return result


def _weights(value: str | None) -> list[float] | None:
    if not value:
        return None
    try:
        return [float(w) for w in value.split(",")]
    except ValueError:
        raise UsageError(f"--weights '{value}' is not a comma-separated list of numbers",
                         hint="--weights 0.5,0.3,0.2") from None


def render(report, session) -> None:
    from rich.table import Table

    from modelport.cli.render import verification_table

    console = session.console()
    members = report.details.get("members", [])
    if members:
        table = Table(title=f"Members ({report.details.get('strategy')})", title_justify="left", show_edge=False)
        for col in ("#", "source", "format", "output", "weight", "opset"):
            table.add_column(col)
        weights = report.details.get("weights") or []
        for m in members:
            w = f"{weights[m['index']]:.3f}" if m["index"] < len(weights) else "-"
            out = (m["output"] or "-") + (" (softmax)" if m.get("softmax") else "")
            table.add_row(str(m["index"]), m["source"], m["format"], out, w, str(m["opset"]))
        console.print(table)
    if "scores" in report.details:
        console.print("scores (" + report.details["metric"] + "): " + ", ".join(
            f"member {k}: {v:.4f}" for k, v in report.details["scores"].items())
            + f"; selected member {report.details['selected']}")
    if report.verification is not None:
        console.print(verification_table(report.verification))
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if report.output:
        verdict = "verified against its members" if report.ok else "verification FAILED"
        console.print(f"wrote {report.output} ({verdict})")


@command("fuse", "page", "signed", "sign", "output", "inputs", "tolerance", "trust", render=render)
def fuse(
    opts,
    models: list[str] = typer.Argument(..., metavar="M1 M2 [M3 ...]", help="Members: any format convert reads."),
    strategy: str = typer.Option(..., "--strategy", "-s", help="mean, weighted, vote, stack, chain or select."),
    weights: str = typer.Option(None, "--weights", metavar="W1,W2,...", help="Member weights (normalised)."),
    outputs: list[str] = typer.Option(None, "--member-output", "--output-of", metavar="IDX=NAME",
                                      help="Which output of member IDX to combine (repeatable)."),
    softmax: list[int] = typer.Option(None, "--softmax", metavar="IDX", help="Apply softmax to member IDX."),
    renames: list[str] = typer.Option(None, "--rename-input", metavar="OLD=NEW", help="Rename member inputs."),
    meta: str = typer.Option(None, "--meta", metavar="FILE", help="stack: meta-model (scikit-learn or ONNX)."),
    fit_meta: str = typer.Option(None, "--fit-meta", metavar="DATA.npz", help="stack: fit a meta-model here."),
    maps: list[str] = typer.Option(None, "--map", metavar="OUT=IN", help="chain: feed OUT into the next IN."),
    data: str = typer.Option(None, "--data", metavar="FILE.npz", help="select: inputs and labels to score on."),
    samples: int = SamplesOpt,
    seed: int = SeedOpt,
):
    """Merge models from any framework into one verified ONNX ensemble."""
    from modelport.commands.fuse import fuse as run

    opts.samples, opts.seed = samples, seed
    check = opts.verify_options()
    opts.session.check_json(opts.output, *models)
    return run(models, opts.output, strategy=strategy, weights=_weights(weights), outputs=_index_pairs(outputs),
               softmax=softmax or (), renames=pairs(renames, "--rename-input", "input=x"), meta=meta,
               fit_meta=fit_meta, maps=pairs(maps, "--map", "variable=x"), data=data, inputs=opts.input_specs(),
               trust=opts.trust, imports=opts.imports, force=opts.force, external_data=opts.external_data, check=check,
               progress=opts.session.progress)
