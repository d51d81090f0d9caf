"""A model over the 2 GB protobuf limit through every command: wall time and peak RSS per command, each in a
fresh process (`/usr/bin/time -v`), against the size of its weights.

    python benchmarks/large_model.py [--layers 9] [--width 8192] [--keep DIR]

Default: eight Linear(8192, 8192) and a Linear(8192, 10), 2.15 GB of float32 weights, exported to `.pt2`
with a dynamic batch. The
output is then moved to another folder and read from there (the weights file must travel with it).
Goal (issue 15): convert peaks at <= 2.5x the weights; nothing else holds them twice.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (import paths)


def build(path: Path, layers: int, width: int, classes: int = 10) -> int:
    """Save the model; returns the bytes of its weights."""
    import torch

    torch.manual_seed(0)
    blocks = []
    for _ in range(layers - 1):
        blocks += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    blocks.append(torch.nn.Linear(width, classes))
    model = torch.nn.Sequential(*blocks).eval()
    with torch.no_grad():  # small weights: activations stay O(1) through the stack
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(0.5)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(model, (torch.randn(2, width),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return sum(p.numel() * 4 for p in model.parameters())


def measure(cmd: list[str]) -> tuple[int, float, float, str]:
    start = time.perf_counter()
    got = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", got.stderr)
    lines = [line for line in got.stderr.splitlines() if line.strip() and not line.startswith("\t")
             and not line.startswith("Command exited")]
    return got.returncode, wall, int(peak.group(1)) / 1024 if peak else 0.0, "\n    ".join(lines[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=9)
    parser.add_argument("--width", type=int, default=8192)
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="modelport-large-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "big.pt2"
    weights = build(src, args.layers, args.width)
    mib = weights / 2**20
    print(f"model: {args.layers} Linear layers of width {args.width}, {mib:,.0f} MiB of weights")
    mp = [sys.executable, "-m", "modelport"]
    moved = work / "moved"
    steps = [
        ("convert", mp + ["convert", str(src), "-o", str(work / "big.onnx"), "--samples", "4", "--force"]),
        ("move", None),
        ("inspect", mp + ["inspect", str(moved / "big.onnx")]),
        ("verify", mp + ["verify", str(src), str(moved / "big.onnx"), "--samples", "4"]),
        ("bench", mp + ["bench", str(moved / "big.onnx"), "--runs", "5", "--warmup", "1", "--batch", "1"]),
        ("optimize", mp + ["optimize", str(moved / "big.onnx"), "-o", str(work / "big.opt.onnx"), "--samples", "4",
                           "--runs", "3", "--force"]),
        ("compress", mp + ["compress", str(moved / "big.onnx"), "-o", str(work / "big.int8.onnx"), "--method",
                           "dynamic-int8", "--samples", "4", "--runs", "3", "--force"]),
    ]
    print(f"{'command':10} {'exit':>4} {'wall s':>8} {'peak MiB':>9} {'x weights':>9}")
    bad = 0
    for name, cmd in steps:
        if cmd is None:
            moved.mkdir(exist_ok=True)
            for f in ("big.onnx", "big.onnx.data"):
                shutil.move(str(work / f), str(moved / f))
            continue
        code, wall, peak, err = measure(cmd)
        bad += code != 0
        print(f"{name:10} {code:>4} {wall:8.1f} {peak:9,.0f} {peak / mib:9.2f}", flush=True)
        if code:
            print("    " + err)
    for f in sorted(work.rglob("*")):
        if f.is_file():
            print(f"  {f.relative_to(work)}: {f.stat().st_size / 2**20:,.0f} MiB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
