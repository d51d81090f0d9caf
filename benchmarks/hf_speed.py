"""Hugging Face figures: conversion wall time against a plain export script, ONNX Runtime against PyTorch eager,
and per-token decode latency with the KV cache against without it.

    python benchmarks/hf_speed.py [--runs 3] [--keep DIR]

1. Wall time of `modelport convert DIR -o model.onnx` (verification included) against a fresh-process script doing
   `from_pretrained` + `torch.onnx.export(dynamo=True)` with the same dynamic axes, for a BERT-base-sized and a
   GPT-2-sized random model (GPT-2 without the cache on both sides: `--task text-generation`). Runs alternate
   A B A B and the ratio is the median of the pairs. Goal: <= 1.2x.
2. Encoder latency at batch 1 and 8 (sequence 128, one thread): ONNX Runtime on the converted file against eager.
3. GPT-2-sized decode: one new token after a 128-token prompt, with the cache file (past of 128) against the
   no-cache file (recomputing all 129 tokens), in ONNX Runtime, one thread.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (paths, quiet TF)
import numpy as np

PLAIN = """
import sys, torch, transformers
transformers.logging.set_verbosity_error()
folder, out, cls = sys.argv[1:4]
model = getattr(transformers, cls).from_pretrained(folder).eval()
model.config.use_cache = False
batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence_length", max=512)
ids = torch.randint(0, 100, (2, 8))
kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
if "token_type_ids" in model.forward.__code__.co_varnames and cls.startswith("Bert"):
    kwargs["token_type_ids"] = torch.zeros_like(ids)
with torch.no_grad():
    torch.onnx.export(model, (), kwargs=kwargs, dynamo=True, optimize=True,
                      dynamic_shapes={k: {0: batch, 1: seq} for k in kwargs}).save(out)
"""


def build(root: Path) -> dict[str, Path]:
    import torch
    import transformers

    torch.manual_seed(0)
    folders = {"bert-base": root / "bert-base", "gpt2": root / "gpt2"}
    transformers.BertForSequenceClassification(transformers.BertConfig(num_labels=2)).save_pretrained(
        folders["bert-base"])
    transformers.GPT2LMHeadModel(transformers.GPT2Config()).save_pretrained(folders["gpt2"])
    return folders


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr[-400:]}")
    return time.perf_counter() - start


def conversion(folders: dict[str, Path], root: Path, runs: int) -> None:
    modelport = str(Path(sys.executable).parent / "modelport")
    cases = {"bert-base": ("BertForSequenceClassification", []),
             "gpt2": ("GPT2LMHeadModel", ["--task", "text-generation"])}
    print("1. conversion wall time, fresh processes (median of A/B pairs)")
    for name, (cls, extra) in cases.items():
        ours, plain, ratios = [], [], []
        for _ in range(runs):
            a = wall([modelport, "convert", str(folders[name]), "-o", str(root / f"{name}.onnx"), "-f", "-q", *extra])
            b = wall([sys.executable, "-c", PLAIN, str(folders[name]), str(root / f"{name}-plain.onnx"), cls])
            ours.append(a), plain.append(b), ratios.append(a / b)
        pairs = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"   {name:10s} modelport {statistics.median(ours):6.1f} s   "
              f"plain export {statistics.median(plain):6.1f} s   "
              f"ratio {statistics.median(ratios):.2f}x (pairs: {pairs})")


def median_ms(fn, runs: int = 30) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def latency(folders: dict[str, Path], root: Path) -> None:
    import torch
    import transformers

    torch.set_num_threads(1)
    model = transformers.BertForSequenceClassification.from_pretrained(folders["bert-base"]).eval()
    sess = session(root / "bert-base.onnx")
    print("2. encoder latency, BERT-base sized, sequence 128, one thread (median ms)")
    for batch in (1, 8):
        ids = np.random.default_rng(0).integers(0, 30000, (batch, 128)).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
        with torch.no_grad():
            eager = median_ms(lambda t=tensors: model(**t), 10 if batch > 1 else 30)
        ort_ms = median_ms(lambda f=feed: sess.run(None, f), 10 if batch > 1 else 30)
        print(f"   batch {batch}: PyTorch eager {eager:7.1f} ms   ONNX Runtime {ort_ms:7.1f} ms   "
              f"ratio {ort_ms / eager:.2f}x")


def decode(folders: dict[str, Path], root: Path) -> None:
    modelport = str(Path(sys.executable).parent / "modelport")
    with_past = root / "gpt2-past.onnx"
    subprocess.run([modelport, "convert", str(folders["gpt2"]), "-o", str(with_past), "-f", "-q"], check=True)
    cached, full = session(with_past), session(root / "gpt2.onnx")
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, 50000, (1, 128)).astype(np.int64)
    inputs = {i.name: i for i in cached.get_inputs()}
    past_feed = {"input_ids": prompt, "attention_mask": np.ones((1, 128), np.int64),
                 "position_ids": np.arange(128, dtype=np.int64)[None]}
    past_feed.update({n: np.zeros((1, i.shape[1], 0, i.shape[3]), np.float32) for n, i in inputs.items()
                      if n.startswith("past_key_values.")})
    outs = dict(zip([o.name for o in cached.get_outputs()], cached.run(None, past_feed)))
    step = {"input_ids": np.array([[7]], np.int64), "attention_mask": np.ones((1, 129), np.int64),
            "position_ids": np.array([[128]], np.int64)}
    step.update({k.replace("present.", "past_key_values."): v for k, v in outs.items() if k.startswith("present.")})
    whole = np.concatenate([prompt, [[7]]], axis=1)
    no_cache = {"input_ids": whole, "attention_mask": np.ones_like(whole)}
    a = median_ms(lambda: cached.run(None, step), 30)
    b = median_ms(lambda: full.run(None, no_cache), 10)
    print("3. GPT-2 sized, one new token after 128 (ONNX Runtime, one thread, median ms)")
    print(f"   with the KV cache {a:6.1f} ms   without (recompute 129 tokens) {b:6.1f} ms   ratio {a / b:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="build the models here and keep them")
    parser.add_argument("--parts", default="conversion,latency,decode", help="which of the three to run")
    args = parser.parse_args()
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        folders = build(root)
        for part, run in (("conversion", lambda: conversion(folders, root, args.runs)),
                          ("latency", lambda: latency(folders, root)), ("decode", lambda: decode(folders, root))):
            if part in parts:
                run()


if __name__ == "__main__":
    main()
