"""int4 and dynamic int8 of a decoder over the 2 GB protobuf limit: peak RSS against its weights, modelport's
compress against ONNX Runtime's quantizers on the whole model (each in a fresh process, `/usr/bin/time -v`).

    python benchmarks/large_decoder.py [--hidden 2048] [--layers 8] [--keep DIR]

Default: a random Llama (hidden 2048, 8 layers, vocabulary 32000, untied head), about 2.2 GB of float32 weights,
converted to ONNX with a KV cache by modelport. Goal (issue 28): compress peaks at <= 2.5x the weights.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (import paths)
from large_model import measure

RAW_INT4 = """import sys, onnx
from onnxruntime.quantization import matmul_nbits_quantizer as nbits
model = onnx.load(sys.argv[1])
config = nbits.DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=False, bits=4)
q = nbits.MatMulNBitsQuantizer(model, block_size=32, algo_config=config)
q.process()
onnx.save_model(q.model.model, sys.argv[2], save_as_external_data=True, location="raw4.onnx.data")
"""
RAW_INT8 = """import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8, use_external_data_format=True)
"""


def build(folder: Path, hidden: int, layers: int) -> int:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=32000, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                                      num_hidden_layers=layers, num_attention_heads=hidden // 64,
                                      num_key_value_heads=hidden // 256, max_position_embeddings=256,
                                      initializer_range=0.02, tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(config).eval()
    model.save_pretrained(str(folder))
    return sum(p.numel() * 4 for p in model.parameters())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--keep", help="work in this folder and keep it (a model already there is reused)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="modelport-decoder-"))
    work.mkdir(parents=True, exist_ok=True)
    onnx_model = work / "onnx" / "model.onnx"
    mp = [sys.executable, "-m", "modelport"]
    if not onnx_model.exists():
        weights = build(work / "llama", args.hidden, args.layers)
        code, wall, peak, err = measure(mp + ["convert", str(work / "llama"), "-o", f"{work / 'onnx'}/",
                                              "--samples", "2"])
        print(f"convert: exit {code}, {wall:.0f} s, {peak:,.0f} MiB" + (f"\n    {err}" if code else ""))
        if code:
            return 1
    else:
        weights = (work / "onnx" / "model.onnx.data").stat().st_size
    mib = weights / 2**20
    print(f"decoder: hidden {args.hidden}, {args.layers} layers, {mib:,.0f} MiB of weights")
    (work / "raw4.py").write_text(RAW_INT4)
    (work / "raw8.py").write_text(RAW_INT8)
    steps = [
        ("int4 modelport", mp + ["compress", str(onnx_model), "-o", str(work / "int4.onnx"), "--method",
                                 "int4-weights", "--max-accuracy-drop", "100", "--force"]),  # random weights:
        # their agreement is no figure of merit; the verdict is still computed (and its memory counted)
        ("int4 ORT whole", [sys.executable, str(work / "raw4.py"), str(onnx_model), str(work / "raw4.onnx")]),
        ("int8 modelport", mp + ["compress", str(onnx_model), "-o", str(work / "int8.onnx"), "--method",
                                 "dynamic-int8", "--max-accuracy-drop", "100", "--force"]),
        ("int8 ORT whole", [sys.executable, str(work / "raw8.py"), str(onnx_model), str(work / "raw8.onnx")]),
    ]
    print(f"{'command':15} {'exit':>4} {'wall s':>8} {'peak MiB':>9} {'x weights':>9}")
    bad = 0
    for name, cmd in steps:
        code, wall, peak, err = measure(cmd)
        bad += code != 0 and "modelport" in name
        print(f"{name:15} {code:>4} {wall:8.1f} {peak:9,.0f} {peak / mib:9.2f}", flush=True)
        if code:
            print("    " + err)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
