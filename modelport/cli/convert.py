"""`modelport convert SRC -o OUT`: convert through the first route whose output verifies."""

from __future__ import annotations

import typer

from modelport.cli.options import command
from modelport.cli.render import render_with_locate

EPILOG = """\
Examples:\n
  modelport convert model.pt2 -o model.onnx\n
  modelport convert net.ts -o net.onnx --input x:1,3,224,224\n
  modelport convert model.keras -o model.onnx --json report.json\n
  modelport convert model.keras -o model.tflite\n
  modelport convert clf.skops -o clf.onnx --atol 1e-5\n
  modelport convert build.py:make_model -o m.onnx --input x:1,16 --trust\n
  modelport convert bert-dir/ -o bert-onnx/                # a save_pretrained folder\n
  modelport convert llama-dir/ -o out/ --task text-generation-with-past\n
  modelport convert llama-dir/ -o llama-genai/ --layout genai   # for onnxruntime_genai.Model(DIR)\n
  modelport convert whisper-dir/ -o whisper-onnx/              # encoder + decoder files
"""


@command("convert", "page", "signed", "signature", "sign", "output", "inputs", "task", "data", "int_range", "tolerance",
         "trust", render=render_with_locate)
def convert(
    opts,
    source: str = typer.Argument(..., metavar="SRC", help="Model file, SavedModel or Hugging Face folder, or "
                                                                  "file.py:callable."),
    to: str = typer.Option(None, "--to", help="Target format (default: from OUT's extension: .onnx, .tflite)."),
    from_format: str = typer.Option(None, "--from", metavar="FORMAT", help="Source format (default: detected)."),
    opset: int = typer.Option(None, "--opset", help="ONNX opset (default: the route's own)."),
    static: bool = typer.Option(False, "--static", help="Freeze the batch dimension (dynamic by default)."),
    route: str = typer.Option(None, "--route", help="Force one route, no fallback (see `modelport routes`)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip verification (not recommended)."),
    locate: bool = typer.Option(False, "--locate", help="If no route verifies, find the first layer of the kept "
                                                        "file whose own error jumps."),
    layout: str = typer.Option(None, "--layout", metavar="LAYOUT",
                               help="genai: a decoder's -o DIR/ for ONNX Runtime GenAI (genai_config.json)."),
):
    """Convert a PyTorch, Keras/TensorFlow or scikit-learn model to ONNX or TFLite, verified by default."""
    from modelport.commands.convert import convert as run

    opts.session.check_json(source, opts.output)
    return run(source, opts.output, from_format=from_format, to=to, inputs=opts.input_specs(), opset=opset,
               static=static, route=route, verify=not no_verify, check=opts.verify_options(), force=opts.force,
               external_data=opts.external_data,
               trust=opts.trust, imports=opts.imports, locate=locate, task=opts.task, layout=layout,
               progress=opts.session.progress)
