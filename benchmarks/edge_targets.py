"""OpenVINO IR and ExecuTorch against ONNX Runtime and PyTorch eager, on a ResNet-50-sized CNN and a BERT-base-sized
encoder, each target the file `modelport convert` wrote and verified; and what each new route costs against calling
the converter directly.

    python benchmarks/edge_targets.py [--models resnet50,bert] [--runs 30] [--skip-latency] [--skip-cost]

Latency: `modelport bench` on each file (and on the PyTorch source, eager) at one thread and at every core, batch 1
and 8, medians in ms. Conversion cost: `modelport convert` (verification included) against a script calling
`openvino.convert_model` + `save_model`, or torch.export + `to_edge_transform_and_lower` + `to_executorch`,
directly; each in a fresh process under /usr/bin/time -v (wall time, maximum resident set size).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (paths, quiet TF)

PY = sys.executable
DIRECT = {
    "openvino": """
import sys, torch
sys.modules["openvino_telemetry"] = None
import openvino as ov
ep = torch.export.load(sys.argv[1])
ov.save_model(ov.convert_model(ep), sys.argv[2], compress_to_fp16=False)
""",
    "executorch": """
import sys, torch
from executorch.exir import to_edge_transform_and_lower
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
ep = torch.export.load(sys.argv[1])
prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
open(sys.argv[2], "wb").write(prog.buffer)
""",
}


def build_resnet(folder: Path) -> Path:
    import torch
    from locate_memory import resnet50

    torch.manual_seed(0)
    path = folder / "resnet50.pt2"
    batch = torch.export.Dim("batch", min=1, max=16)
    torch.export.save(torch.export.export(resnet50(), (torch.randn(2, 3, 224, 224),), dynamic_shapes=({0: batch},)),
                      str(path))
    return path


def build_bert(folder: Path) -> Path:
    """BERT-base's shape (12 layers, hidden 768, 12 heads), randomly initialised, as a save_pretrained folder and as
    a .pt2 of its encoder (input_ids, attention_mask at sequence 128)."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig()).eval()
    model.save_pretrained(str(folder / "bert"))

    class Encoder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.randint(0, 1000, (2, 128))
    batch = torch.export.Dim("batch", min=1, max=16)
    path = folder / "bert.pt2"
    torch.export.save(torch.export.export(Encoder(model), (ids, torch.ones_like(ids)),
                                          dynamic_shapes=({0: batch}, {0: batch})), str(path))
    return path


def measured(cmd: list[str]) -> tuple[float, float, int]:
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    seconds = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
    return seconds, rss, proc.returncode


def bench(path: Path, threads: int, batch: int, runs: int) -> float | None:
    proc = subprocess.run([PY, "-m", "modelport", "bench", str(path), "--threads", str(threads), "--batch",
                           str(batch), "--runs", str(runs), "--warmup", "3", "--json", "-"],
                          capture_output=True, text=True)
    if proc.returncode:
        print(f"  bench {path.name} failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    rows = json.loads(proc.stdout)["rows"]
    return rows[0]["p50_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,bert")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models.split(","):
            src = build_resnet(work) if name == "resnet50" else build_bert(work)
            print(f"\n== {name} ({src.name})", flush=True)
            files = {}
            for target, suffix in (("onnx", ".onnx"), ("openvino", ".xml"), ("executorch", ".pte")):
                out = work / f"{name}{suffix}"
                seconds, rss, code = measured([PY, "-m", "modelport", "convert", str(src), "-o", str(out), "-q"])
                print(f"convert -> {target:10s} modelport {seconds:6.1f} s {rss:7.0f} MiB (exit {code})", flush=True)
                if code == 0:
                    files[target] = out
                if target in DIRECT and not args.skip_cost:
                    script = work / f"direct_{target}.py"
                    script.write_text(DIRECT[target])
                    direct = work / f"direct{suffix}"
                    d_seconds, d_rss, d_code = measured([PY, str(script), str(src), str(direct)])
                    print(f"convert -> {target:10s} direct    {d_seconds:6.1f} s {d_rss:7.0f} MiB (exit {d_code}); "
                          f"modelport/direct {seconds / d_seconds:.2f}x time, {rss / d_rss:.2f}x RSS", flush=True)
            if args.skip_latency:
                continue
            print(f"{'p50 ms':22s} " + " ".join(f"t={t} b={b:<3d}" for t in (1, cores) for b in (1, 8)))
            for label, path in (("pytorch eager", src), *((k, v) for k, v in files.items())):
                cells = []
                for threads in (1, cores):
                    for batch in (1, 8):
                        value = bench(path, threads, batch, args.runs)
                        cells.append(f"{value:9.2f}" if value is not None else f"{'-':>9s}")
                print(f"{label:22s} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
