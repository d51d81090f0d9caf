"""Every model in the onnx wheel's backend test data (`onnx/backend/test/data/light/`) through every ONNX
command, each in a fresh process: exit code, wall time, peak RSS and stderr lines per run.

    python benchmarks/model_zoo.py [--models resnet50,vgg19] [--samples 2]

The goal (issue 15): every run exits 0 with an empty stderr (reports go to stdout).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (import paths, quiet TensorFlow)

COMMANDS = {
    "inspect": ["inspect"],
    "optimize": ["optimize", "-o", "{out}"],
    "dynamic-int8": ["compress", "--method", "dynamic-int8", "-o", "{out}"],
    "static-int8": ["compress", "--method", "static-int8", "-o", "{out}"],
    "fp16": ["compress", "--method", "fp16", "-o", "{out}"],
    "bench": ["bench", "--runs", "20", "--warmup", "3"],
}


def _difference(model: Path, result: Path) -> float:
    import numpy as np
    import onnxruntime as ort

    x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    outs = []
    for path in (model, result):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    return float(np.abs(outs[0] - outs[1]).max())


def main() -> int:
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--samples", default="4", help="verification rows per run")
    args = parser.parse_args()
    folder = Path(onnx.__file__).parent / "backend/test/data/light"
    models = sorted(folder.glob("light_*.onnx"))
    if args.models:
        wanted = set(args.models.split(","))
        models = [m for m in models if m.stem.removeprefix("light_") in wanted]
    bad = 0
    print(f"{'model':14} {'command':13} {'exit':>4} {'wall s':>7} {'peak MiB':>9} {'stderr':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            for name, argv in COMMANDS.items():
                out = Path(tmp) / f"{model.stem}.{name}.onnx"
                cmd = [sys.executable, "-m", "modelport", *[a.format(out=out) for a in argv], str(model)]
                if name not in ("inspect", "bench"):
                    cmd += ["--samples", args.samples]
                start = time.perf_counter()
                got = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
                wall = time.perf_counter() - start
                peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", got.stderr)
                stderr = [line for line in got.stderr.splitlines() if not line.startswith("\t")
                          and not line.startswith("Command exited")]
                lines = len([line for line in stderr if line.strip()])
                bad += got.returncode != 0 or lines > 0
                print(f"{model.stem.removeprefix('light_'):14} {name:13} {got.returncode:>4} {wall:7.1f} "
                      f"{int(peak.group(1)) / 1024 if peak else 0:9.0f} {lines:>6}", flush=True)
                if got.returncode != 0 or lines:
                    print("    " + "\n    ".join(stderr[:3]))
                if got.returncode == 1 and out.exists():  # a kept file that did not verify: check the verdict
                    print(f"    onnxruntime, independently: max abs difference {_difference(model, out):.3g}")
                out.unlink(missing_ok=True)
    print(f"\n{len(models) * len(COMMANDS) - bad} of {len(models) * len(COMMANDS)} runs exit 0 with a quiet stderr")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
