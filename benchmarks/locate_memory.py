"""`--locate` on a ResNet-50-sized network: wall time and peak memory against marking every intermediate value
as an output at once (what Polygraphy users do by hand). Each side runs in a fresh process under
/usr/bin/time -v; the figure is its maximum resident set size.

    python benchmarks/locate_memory.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (sets up paths and environment)

NAIVE = """
import sys
from modelport.core.formats import detect
from modelport.loaders import open_model
from modelport.verify.inputs import generate
src, cand = sys.argv[1], sys.argv[2]
s, c = open_model(src, detect(src)), open_model(cand, detect(cand))
from modelport.pipeline.locate import pair_taps, _error
pairs, _ = pair_taps(s, c)
feed = generate(s.inputs, 4, 0, (0, 10), s.input_rules())[0]
if len(sys.argv) > 3:  # the baseline: both models loaded and run once, nothing marked
    s.run(feed), c.run(feed), s.taps(), c.taps()
    sys.exit(0)
a = s.tap_values(feed, [p[0].key for p in pairs])
b = c.tap_values(feed, [p[1].key for p in pairs])
errors = [_error(a[p[0].key], b[p[1].key]) for p in pairs if p[0].key in a and p[1].key in b]
print(len(errors), "values compared at once")
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
    rss_a, t_a, out_a = measured([sys.executable, "-m", "modelport", "verify", str(src), str(bad), "--locate",
                                  "--samples", "4", "--json", "-"])
    import json

    info = json.loads(out_a)["locate"]
    print(f"--locate: {rss_a:.0f} MiB peak, {t_a:.1f} s; found {info['first']['layer'] if info['first'] else None}"
          f" in {info['runs']} runs, {info['compared']} of {info['pairs']} values compared")
    script = folder / "naive.py"
    script.write_text(NAIVE)
    rss_b, t_b, out_b = measured([sys.executable, str(script), str(src), str(bad)])
    print(f"every value at once: {rss_b:.0f} MiB peak, {t_b:.1f} s ({out_b.strip()})")
    rss_0, t_0, _ = measured([sys.executable, str(script), str(src), str(bad), "baseline"])
    print(f"baseline (both models loaded, run once, taps listed): {rss_0:.0f} MiB peak, {t_0:.1f} s")
    print(f"ratio --locate / all at once: memory {rss_a / rss_b:.2f}x, time {t_a / t_b:.2f}x; above the baseline: "
          f"{max(rss_a - rss_0, 0):.0f} MiB vs {rss_b - rss_0:.0f} MiB")


if __name__ == "__main__":
    main()
