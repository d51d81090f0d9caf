"""Peak memory of `modelport convert` on an ordinary model against the raw exporter alone (issue 15).

    python benchmarks/convert_memory.py [--samples 16] [--repeats 1]

Builds ResNet-50 (bottlenecks 3-4-6-3, 25.6M parameters, 98 MB of float32 weights) as a `.pt2` with a dynamic
batch, then runs, each in a fresh process under `/usr/bin/time -v`:
- raw: a script that loads the `.pt2` and calls `torch.onnx.export(program, (), f=OUT, dynamo=True)`: what a
  user without modelport writes;
- convert --no-verify: modelport's load, export, checks and commit;
- convert: the same, verified (the ONNX Runtime session and the reference runs).
Goal: convert's peak RSS <= 1.3x the raw exporter's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (import paths)
from large_model import measure
from locate_memory import resnet50

RAW = """
import sys, torch
program = torch.export.load(sys.argv[1])
torch.onnx.export(program, (), f=sys.argv[2], dynamo=True)
"""


def build(path: Path) -> int:
    import torch

    torch.manual_seed(0)
    model = resnet50()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(model, (torch.randn(2, 3, 224, 224),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return sum(p.numel() * 4 for p in model.parameters())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelport-convmem-"))
    try:
        src = work / "resnet50.pt2"
        print(f"ResNet-50: {build(src) / 2**20:.0f} MiB of weights")
        (work / "raw.py").write_text(RAW)
        mp = [sys.executable, "-m", "modelport", "convert", str(src), "--force", "--samples", str(args.samples)]
        runs = {
            "raw export": [sys.executable, str(work / "raw.py"), str(src), str(work / "raw.onnx")],
            "convert --no-verify": mp + ["-o", str(work / "nv.onnx"), "--no-verify"],
            "convert": mp + ["-o", str(work / "mp.onnx")],
        }
        peaks: dict[str, float] = {}
        print(f"{'run':22} {'exit':>4} {'wall s':>7} {'peak MiB':>9} {'x raw':>6}")
        for _ in range(args.repeats):
            for name, cmd in runs.items():
                code, wall, peak, err = measure(cmd)
                peaks[name] = min(peaks.get(name, peak), peak)
                ratio = peak / peaks["raw export"]
                print(f"{name:22} {code:>4} {wall:7.1f} {peak:9,.0f} {ratio:6.2f}", flush=True)
                if code:
                    print("    " + err)
        print(f"lowest of {args.repeats}: convert {peaks['convert']:,.0f} MiB = "
              f"{peaks['convert'] / peaks['raw export']:.2f}x the raw exporter (goal <= 1.3x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
