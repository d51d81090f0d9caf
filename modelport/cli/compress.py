"""`modelport compress MODEL -o OUT --method M`: smaller models, with size, latency and error side by side."""

from __future__ import annotations

import typer

from modelport.cli.options import command

EPILOG = """\
Examples:\n
  modelport compress model.onnx -o model.int8.onnx                      # auto: measures candidates\n
  modelport compress cnn.onnx -o cnn.int8.onnx --method static-int8 --calibration calib.npz\n
  modelport compress bert.onnx -o bert.int8.onnx --method dynamic-int8 --data holdout.npz\n
  modelport compress model.onnx -o model.fp16.onnx --method fp16\n
  modelport compress model.keras -o model.tflite --method int8 --calibration calib.npz\n
  modelport compress model.pt2 -o model.tflite --method int8 --calibration calib.npz   # modelport[litert]\n
  modelport compress llama/model.onnx -o llama-int4.onnx --method int4-weights --block-size 32\n
  modelport compress llama/model.onnx -o llama-int4.onnx -m int4-weights --data tokens.npz --max-accuracy-drop 5
"""


def render(report, session) -> None:
    from rich.table import Table

    from modelport.cli.render import before_after_table, damage_table
    from modelport.cli.render import render as render_common

    d = report.details
    console = session.console()
    if report.attempts:
        table = Table(title="Candidates", title_justify="left", show_edge=False)
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
        if d.get("auto_reason"):
            console.print(f"auto: {d['auto_reason']}")
    if "before" in d:
        console.print(before_after_table(d, "Before / after", accuracy=True))
    if d.get("damage"):
        console.print(damage_table(d["damage"], d.get("keep_float")))
    if d.get("generation"):
        g = d["generation"]
        console.print(f"Generation ({g['prompts']} prompts x {g['steps']} greedy tokens, {g['prompts_from']}): "
                      f"next-token agreement {g['agreement']:.1%} (at least {g['min_agreement']:.1%}), "
                      f"top-{5} overlap {g['topk_overlap']:.1%}, logits cosine {g['cosine']:.4f} "
                      f"(min {g['cosine_min']:.4f}), identical sequences {g['sequences_equal']}/{g['prompts']}")
        if g.get("perplexity"):
            p = g["perplexity"]
            console.print(f"perplexity on {p['rows']} rows: {p['reference']:.3f} -> {p['candidate']:.3f}")
        if g.get("reason"):
            console.print(f"[red]{g['reason']}[/]")
    saved_attempts, report.attempts = report.attempts, []
    render_common(report, session)
    report.attempts = saved_attempts
    if report.output:
        console.print(f"wrote {report.output} via {report.route} "
                      f"({'verified' if report.ok else 'verification FAILED'})")


@command("compress", "page", "signed", "signature", "sign", "output", "inputs", "data", "tolerance", "trust",
         render=render)
def compress(
    opts,
    model: str = typer.Argument(..., metavar="MODEL", help="ONNX model (or Keras/SavedModel/PyTorch to TFLite)."),
    method: str = typer.Option("auto", "--method", "-m", help="ONNX: auto, dynamic-int8, static-int8, fp16 or "
                                                             "int4-weights (decoders); TFLite: dynamic-range, fp16 "
                                                             "or int8."),
    calibration: str = typer.Option(None, "--calibration", metavar="FILE.npz",
                                    help="static-int8 / int8: real inputs to calibrate on (arrays named like inputs)."),
    calibrate: str = typer.Option("minmax", "--calibrate", help="minmax, entropy or percentile."),
    max_mismatch: float = typer.Option(None, "--max-mismatch", help="Share of elements allowed off "
                                                                   "(default: 0.02 for int8, 0 for fp16)."),
    runs: int = typer.Option(50, "--runs", help="Timed runs (at least) for each latency figure."),
    locate: bool = typer.Option(False, "--locate", help="ONNX int8: show the layers quantization damages most."),
    keep_float: int = typer.Option(None, "--keep-float", metavar="N", min=1,
                                   help="ONNX int8: leave the N most damaged layers in float; report the gain."),
    max_accuracy_drop: float = typer.Option(None, "--max-accuracy-drop", metavar="PT",
                                            help="ONNX int8 with labelled --data: the fewest float layers that keep "
                                                 "top-1 within PT points of the input model. int4-weights: the "
                                                 "next-token agreement may drop PT points (default 10)."),
    block_size: int = typer.Option(32, "--block-size", help="int4-weights: weights per block (32, 64 or 128)."),
    symmetric: bool = typer.Option(False, "--symmetric", help="int4-weights: symmetric blocks (no zero points)."),
    algorithm: str = typer.Option("rtn", "--algorithm", help="int4-weights: rtn (round to nearest) or hqq."),
    quantize_embeddings: bool = typer.Option(False, "--quantize-embeddings",
                                             help="int4-weights: the embedding tables too."),
    quantize_head: bool = typer.Option(False, "--quantize-head", help="int4-weights: the LM head too."),
):
    """Quantize a model (int8 or fp16), verified, with size/latency/error before and after.

    --data holds inputs to verify on (+ `labels` for top-1 accuracy before/after).
    """
    from modelport.commands.compress import compress as run
    from modelport.core.errors import UsageError

    opts.session.check_json(model, opts.output)
    check = opts.verify_options(defaults=False)  # also validates the numbers
    if max_mismatch is not None and not 0 <= max_mismatch <= 1:
        raise UsageError("--max-mismatch is a share between 0 and 1")
    if block_size not in (32, 64, 128) or algorithm not in ("rtn", "hqq"):
        raise UsageError("--block-size takes 32, 64 or 128; --algorithm rtn or hqq")
    return run(model, opts.output, method=method, calibration=calibration, calibrate=calibrate, data=opts.data,
               tolerance=(opts.atol, opts.rtol, max_mismatch), per_output=check.per_output, samples=opts.samples,
               seed=opts.seed, runs=runs, force=opts.force,
               external_data=opts.external_data, trust=opts.trust, inputs=opts.input_specs(),
               locate=locate, keep_float=keep_float, max_accuracy_drop=max_accuracy_drop,
               int4={"block": block_size, "symmetric": symmetric, "algorithm": algorithm,
                     "embeddings": quantize_embeddings, "head": quantize_head},
               detail=check.detail, progress=opts.session.progress)
