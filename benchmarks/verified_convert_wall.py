"""Verified `modelport convert` against the raw converter, as a new user runs them: whole processes, median of
3, wall time (issue 28, item 4).

    python benchmarks/verified_convert_wall.py [--repeats 3] [--only NAME]

Models: a 200-tree RandomForest and a HistGradientBoosting model on the breast-cancer data (.skops), Keras
MobileNetV2 (random weights, BatchNorm statistics from one pass, 96x96), ResNet-50 (.pt2, dynamic batch). The
raw side is the script a user without modelport writes: load, convert, save (no verification). The pairs run
interleaved (raw, convert, raw, convert, ...). Goal: convert <= 1.15x raw, target 1.05x.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (import paths, quiet TensorFlow)

RAW = {
    "sklearn": """
import sys, onnx, skops.io as sio
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
est = sio.load(sys.argv[1], trusted=sio.get_untrusted_types(file=sys.argv[1]))
proto = convert_sklearn(est, initial_types=[("X", FloatTensorType([None, est.n_features_in_]))],
                        options={id(est): {"zipmap": False}}, target_opset={"": 18, "ai.onnx.ml": 3})
onnx.save(proto, sys.argv[2])
""",
    "keras": """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras, onnx, tensorflow as tf, tf2onnx
model = keras.saving.load_model(sys.argv[1], compile=False)
spec = [tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name="x")]
proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
onnx.save(proto, sys.argv[2])
""",
    "torch": """
import sys, torch
program = torch.export.load(sys.argv[1])
torch.onnx.export(program, (), f=sys.argv[2], dynamo=True)
""",
}


def build(folder: Path) -> dict[str, tuple[str, Path]]:
    import numpy as np
    import skops.io as sio
    from convert_memory import build as resnet
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    from tests import builders

    x, y = load_breast_cancer(return_X_y=True)
    out = {}
    for name, est in (("RandomForest 200", RandomForestClassifier(200, random_state=0)),
                      ("HistGradientBoosting", HistGradientBoostingClassifier(random_state=0))):
        path = folder / f"{name.split()[0]}.skops"
        sio.dump(est.fit(x, y.astype(np.int64)), str(path))
        out[name] = ("sklearn", path)
    out["Keras MobileNetV2"] = ("keras", builders.keras_application(folder / "mnv2.keras", "MobileNetV2"))
    resnet(folder / "resnet50.pt2")
    out["ResNet-50 .pt2"] = ("torch", folder / "resnet50.pt2")
    return out


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    got = subprocess.run(cmd, capture_output=True, text=True)
    if got.returncode:
        print("   ", cmd[1:3], got.returncode, got.stderr.strip().splitlines()[-1:])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelport-vwall-"))
    try:
        models = build(work)
        for kind, text in RAW.items():
            (work / f"raw_{kind}.py").write_text(text)
        print(f"{'model':22} {'raw s':>7} {'convert s':>10} {'ratio':>6}  (medians of {args.repeats})")
        for name, (kind, src) in models.items():
            if args.only and args.only.lower() not in name.lower():
                continue
            raw_cmd = [sys.executable, str(work / f"raw_{kind}.py"), str(src), str(work / "raw.onnx")]
            mp_cmd = [sys.executable, "-m", "modelport", "convert", str(src), "-o", str(work / "mp.onnx"), "--force",
                      "-q"]
            raws, mps = [], []
            for _ in range(args.repeats):
                raws.append(wall(raw_cmd))
                mps.append(wall(mp_cmd))
            r, m = statistics.median(raws), statistics.median(mps)
            print(f"{name:22} {r:7.2f} {m:10.2f} {m / r:6.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
