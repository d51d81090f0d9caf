"""Verdicts both ways on transformers architectures built from tiny configs (random weights, no download):
each is exported with torch.export (return_dict=False), converted by `modelport convert`, and a copy with its
largest weight tensor x1.01 is checked with `modelport verify`. A false alarm is a faithful file that does
not verify; a false pass is a broken copy that does.

    python benchmarks/verdicts_transformers.py [--old PATH_TO_ANOTHER_CHECKOUT]   # also verify with that code
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (sets up paths and environment)

TEXT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64)


def configs():
    import transformers as t

    yield "bert", t.BertModel, t.BertConfig(**TEXT), "text"
    yield "roberta", t.RobertaModel, t.RobertaConfig(**TEXT, pad_token_id=1), "text"
    yield "distilbert", t.DistilBertModel, t.DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4,
                                                               hidden_dim=37, max_position_embeddings=64), "text"
    yield "gpt2", t.GPT2Model, t.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                            use_cache=False), "text"
    yield "llama", t.LlamaModel, t.LlamaConfig(**TEXT, num_key_value_heads=2, use_cache=False), "text"
    yield "qwen2", t.Qwen2Model, t.Qwen2Config(**TEXT, num_key_value_heads=2, use_cache=False), "text"
    yield "vit", t.ViTModel, t.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32,
                                         num_hidden_layers=2, num_attention_heads=4, intermediate_size=37), "image"
    yield "convnext", t.ConvNextModel, t.ConvNextConfig(num_channels=3, hidden_sizes=[16, 32], depths=[1, 1],
                                                        image_size=32), "image"


def export(cls, config, kind: str, path: Path) -> None:
    import torch

    torch.manual_seed(0)
    config.return_dict = False
    model = cls(config).eval()
    if kind == "text":
        ids = torch.randint(0, 99, (2, 16))
        mask = torch.ones(2, 16, dtype=torch.int64)
        args, kwargs = (), {"input_ids": ids, "attention_mask": mask}
    else:
        args, kwargs = (), {"pixel_values": torch.randn(2, 3, 32, 32)}
    with torch.no_grad():
        torch.export.save(torch.export.export(model, args, kwargs), str(path))


def verify(src: Path, cand: Path, code_dir: str | None) -> int:
    return subprocess.run([sys.executable, "-m", "modelport", "verify", str(src), str(cand), "-q"],
                          capture_output=True, text=True, cwd=code_dir).returncode


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", help="another checkout of modelport to verify with as well (before/after)")
    opts = parser.parse_args()
    import modelport
    from tests.builders import scale_weight

    folder = Path(tempfile.mkdtemp(prefix="modelport-hf-"))
    alarms = passes = 0
    for name, cls, config, kind in configs():
        src, out, bad = folder / f"{name}.pt2", folder / f"{name}.onnx", folder / f"{name}.bad.onnx"
        try:
            export(cls, config, kind, src)
        except Exception as exc:
            print(f"{name}: export failed: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        try:
            report = modelport.convert(src, out, force=True)
        except Exception as exc:
            print(f"{name}: convert failed: {type(exc).__name__}: {str(exc)[:160]}")
            continue
        scale_weight(out, bad)
        line = [f"{name}: convert ok={report.ok} via {report.route}",
                f"inputs {list(report.verification.inputs_from.values())}"]
        good, broken = verify(src, out, None), verify(src, bad, None)
        alarms += good != 0
        passes += broken == 0
        line.append(f"faithful exit {good}, x1.01 exit {broken}")
        if opts.old:
            line.append(f"| old code: faithful exit {verify(src, out, opts.old)}, x1.01 exit "
                        f"{verify(src, bad, opts.old)}")
        print("; ".join(line))
    print(f"false alarms {alarms}, false passes {passes}")
