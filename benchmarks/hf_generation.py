"""Generation figures for issue 27 (random weights, nothing downloaded):

1. A Whisper-tiny-sized model: per-token decode latency, ONNX Runtime with the cache (decoder_with_past_model.onnx)
   vs PyTorch `generate()`, one thread.
2. A ~125M-parameter Llama-style decoder: size and per-token decode latency of fp32 vs int4-weights (block 32)
   folders in ONNX Runtime GenAI, and the int4 file's next-token agreement with fp32 over 64 greedy tokens from
   8 prompts.

    python benchmarks/hf_generation.py [--only whisper|llama] [--tokens 32]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (paths)
import numpy as np


def whisper(root: Path, tokens: int) -> None:
    import onnxruntime as ort
    import torch
    import transformers

    import modelport

    torch.set_num_threads(1)
    config = transformers.WhisperConfig(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                                        decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536,
                                        num_mel_bins=80, max_source_positions=1500, suppress_tokens=[],
                                        begin_suppress_tokens=[])
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    model.save_pretrained(str(root / "whisper"))
    start = time.perf_counter()
    report = modelport.convert(root / "whisper", f"{root / 'whisper-onnx'}/")
    print(f"whisper-tiny-sized: converted and verified {report.ok} in {time.perf_counter() - start:.0f} s")
    features = np.random.default_rng(0).standard_normal((1, 80, 3000)).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    load = lambda name: ort.InferenceSession(str(root / "whisper-onnx" / name), options)  # noqa: E731
    encoder, first, step = load("encoder_model.onnx"), load("decoder_model.onnx"), load("decoder_with_past_model.onnx")
    states = encoder.run(None, {"input_features": features})[0]
    names = [o.name for o in first.get_outputs()]
    start_id = model.generation_config.decoder_start_token_id
    out = dict(zip(names, first.run(None, {"input_ids": np.array([[start_id]]), "encoder_hidden_states": states})))
    past = {k.replace("present.", "past_key_values."): v for k, v in out.items() if k.startswith("present.")}
    step_names = [o.name for o in step.get_outputs()]
    token, times = int(out["logits"][0, -1].argmax()), []
    for _ in range(tokens):
        t = time.perf_counter()
        got = dict(zip(step_names, step.run(None, {"input_ids": np.array([[token]]), **past})))
        times.append(time.perf_counter() - t)
        token = int(got["logits"][0, -1].argmax())
        past.update({k.replace("present.", "past_key_values."): v for k, v in got.items() if k != "logits"})
    with torch.no_grad():
        x = torch.from_numpy(features)
        encoded = model.get_encoder()(x)
        t = time.perf_counter()
        model.generate(encoder_outputs=encoded, do_sample=False, max_new_tokens=tokens + 1,
                       min_new_tokens=tokens + 1)
        eager = (time.perf_counter() - t) / (tokens + 1)
    print(f"  per token, 1 thread: ONNX Runtime with cache {1000 * np.median(times):.2f} ms, "
          f"PyTorch generate() {1000 * eager:.2f} ms (encoder excluded from both)")


def llama(root: Path, tokens: int) -> None:
    import onnxruntime_genai as og
    import torch
    import transformers

    import modelport
    from modelport.core.io import size_of_path
    from modelport.verify.generation import check_generation

    config = transformers.LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                                      num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=1024)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(root / "llama"))
    del model
    start = time.perf_counter()
    report = modelport.convert(root / "llama", f"{root / 'fp32'}/", layout="genai")
    print(f"llama {params / 1e6:.0f}M: converted, verified {report.ok}, genai folder in "
          f"{time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    shutil.copytree(root / "fp32", root / "int4", ignore=shutil.ignore_patterns("model.onnx*"))
    compressed = modelport.compress(root / "fp32" / "model.onnx", root / "int4" / "model.onnx",
                                    method="int4-weights", max_accuracy_drop=100)
    print(f"  int4-weights in {time.perf_counter() - start:.0f} s")
    for name in ("fp32", "int4"):
        genai = og.Model(str(root / name))
        prompt = np.random.default_rng(1).integers(3, 32000, (1, 16))
        search = og.GeneratorParams(genai)
        search.set_search_options(do_sample=False, max_length=16 + tokens, min_length=16 + tokens)
        generator = og.Generator(genai, search)
        generator.append_tokens(prompt)
        generator.generate_next_token()
        times = []
        while not generator.is_done():
            t = time.perf_counter()
            generator.generate_next_token()
            times.append(time.perf_counter() - t)
        size = size_of_path(root / name / "model.onnx")
        print(f"  {name}: {size / 2**20:.0f} MiB, GenAI per-token decode {1000 * np.median(times):.2f} ms")
        del generator, genai
    agreement = check_generation(root / "fp32" / "model.onnx", root / "int4" / "model.onnx", steps=64)
    print(f"  int4 vs fp32 over 64 greedy tokens from 8 prompts: next-token agreement {agreement.agreement:.1%}, "
          f"top-5 overlap {agreement.topk_overlap:.1%}, cosine {agreement.cosine:.4f}, identical sequences "
          f"{agreement.sequences_equal}/8")
    print(json.dumps({"compress_generation": compressed.details.get("generation", {}).get("agreement")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("whisper", "llama"))
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        if args.only in (None, "whisper"):
            whisper(Path(root), args.tokens)
        if args.only in (None, "llama"):
            llama(Path(root), args.tokens)


if __name__ == "__main__":
    main()
