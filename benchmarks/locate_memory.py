"""`--locate` on a ResNet-50-sized network: wall time and peak memory against marking every intermediate value
as an output at once (what Polygraphy users do by hand), on the same 4 rows of 224x224. Each runs in a fresh
process under /usr/bin/time -v (maximum resident set size), above a baseline process that loads both models,
runs them once and lists their intermediate values.

    python benchmarks/locate_memory.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (sets up paths and environment)

SCRIPT = """
import sys
from modelport.core.formats import detect
from modelport.loaders import open_model
from modelport.pipeline.locate import _error, locate, pair_taps
from modelport.verify.inputs import generate
src, cand, mode = sys.argv[1], sys.argv[2], sys.argv[3]
s, c = open_model(src, detect(src)), open_model(cand, detect(cand))
feed = generate(s.inputs, 4, 0, (0, 10), s.input_rules())[0]
pairs, _ = pair_taps(s, c)  # both models loaded and their intermediate values listed: the baseline
s.run(feed), c.run(feed)
if mode == "locate":  # bounded groups, as `--locate` does it
    found = locate(s, c, feed)
    print(found.first.layer if found.first else None, found.runs, "runs", found.compared, "of", found.pairs)
elif mode == "all":  # every paired value marked as an output at once
    a = s.tap_values(feed, [p[0].key for p in pairs])
    b = c.tap_values(feed, [p[1].key for p in pairs])
    print(sum(p[0].key in a and p[1].key in b for p in pairs), "values compared at once")
elif mode == "every":  # every intermediate value of both models marked at once (Polygraphy's `mark all`)
    a = s.tap_values(feed, [t.key for t in s.taps()])
    b = c.tap_values(feed, [t.key for t in c.taps()])
    print(len(a), "+", len(b), "values at once")
"""


def resnet50():
    """ResNet-50's shape (bottlenecks 3-4-6-3, 25.6M parameters), written here: torchvision is not installed."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, stride):
            super().__init__()
            cout = mid * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
            self.conv2, self.bn2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid)
            self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    layers, cin = [], 64
    for i, (mid, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
        stage = []
        for b in range(blocks):
            stage.append(Bottleneck(cin, mid, 2 if b == 0 and i > 0 else 1))
            cin = mid * 4
        layers.append(nn.Sequential(*stage))
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)).eval()


def measured(cmd: list[str]) -> tuple[float, float, str]:
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    seconds = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
    return rss, seconds, proc.stdout


def main() -> None:
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper

    import modelport

    folder = Path(tempfile.mkdtemp(prefix="modelport-locate-"))
    torch.manual_seed(0)
    model = resnet50()
    src = folder / "resnet50.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 224, 224),)), str(src))
    out, bad = folder / "resnet50.onnx", folder / "bad.onnx"
    print("params", sum(p.numel() for p in model.parameters()), "| convert ok", modelport.convert(src, out).ok)
    proto = onnx.load(str(out))
    target = next(t for t in proto.graph.initializer if t.name.endswith("6.2.conv2.weight"))
    target.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(target) * np.float32(1.05), target.name))
    onnx.save(proto, str(bad))
    print("broken:", target.name)
    script = folder / "locate_phase.py"
    script.write_text(SCRIPT)
    figures = {mode: measured([sys.executable, str(script), str(src), str(bad), mode])
               for mode in ("baseline", "locate", "all", "every")}
    for mode, (rss, took, out) in figures.items():
        print(f"{mode:>8}: {rss:6.0f} MiB peak, {took:5.1f} s  {out.strip()}")
    base = figures["baseline"][0]
    a, b, e = (figures[m][0] - base for m in ("locate", "all", "every"))
    print(f"memory above the baseline: --locate {a:.0f} MiB, every paired value at once {b:.0f} MiB "
          f"({a / b:.2f}x), every value of both models at once {e:.0f} MiB ({a / e:.2f}x); "
          f"time {figures['locate'][1] / figures['all'][1]:.2f}x")
    rss, took, out = measured([sys.executable, "-m", "modelport", "verify", str(src), str(bad), "--locate",
                               "--samples", "4", "--json", "-"])
    print(f"whole `modelport verify --locate` (verification, noise floor, locate): {rss:.0f} MiB peak, {took:.1f} s")


if __name__ == "__main__":
    main()
