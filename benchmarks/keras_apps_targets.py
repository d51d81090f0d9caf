"""keras.applications architectures (random weights, nothing downloaded) to ONNX and to OpenVINO IR, each through
`modelport convert` (verification included) in a fresh process: outcome, route and seconds per model and target.

    python benchmarks/keras_apps_targets.py [--only NAME ...] [--targets onnx,openvino]

ExecuTorch takes PyTorch sources only: a Keras model has no route to `.pte` (exit 3), so it is not a column here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (paths, quiet TF)
from keras_routes import APPS, build

SUFFIX = {"onnx": ".onnx", "openvino": ".xml", "tflite": ".tflite"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--targets", default="onnx,openvino")
    args = parser.parse_args()
    targets = args.targets.split(",")
    passed = {t: 0 for t in targets}
    names = args.only or list(APPS)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            src = build(name, Path(tmp) / f"{name}.keras")
            cells = []
            for target in targets:
                out = Path(tmp) / f"{name}{SUFFIX[target]}"
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "modelport", "convert", str(src), "-o", str(out),
                                       "--json", "-", "-q"], capture_output=True, text=True)
                seconds = time.perf_counter() - start
                try:
                    route = json.loads(proc.stdout).get("route") or "-"
                except ValueError:
                    route = "-"
                reason = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[0][:90]
                passed[target] += proc.returncode == 0
                cells.append(f"{target}: {'pass' if proc.returncode == 0 else f'exit {proc.returncode}'} "
                             f"{route} {seconds:.1f}s {reason}")
            print(f"{name:18s} " + " | ".join(cells), flush=True)
    print("\n" + ", ".join(f"{t}: {passed[t]} / {len(names)}" for t in targets))


if __name__ == "__main__":
    main()
