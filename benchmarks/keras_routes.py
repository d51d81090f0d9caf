"""Which Keras -> ONNX route converts which architecture, and how fast: the data behind the chain order.

Builds keras.applications architectures with random weights (weights=None: nothing is downloaded) plus a
Sequential MLP, a Sequential LSTM and a multi-input/multi-output model, then forces each route in turn
(`--route`) and prints outcome (ok / error / mismatch) and seconds. Slow: ~10-20 minutes on 2 cores.

Usage: python benchmarks/keras_routes.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROUTES = ["keras-tf2onnx-function", "keras-tf2onnx-keras", "keras-tf2onnx-savedmodel", "keras-torch-dynamo"]

APPS = {
    "MobileNetV2": 96, "MobileNetV3Small": 64, "EfficientNetB0": 64, "ResNet50": 64, "DenseNet121": 64,
    "ConvNeXtTiny": 32, "NASNetMobile": 96, "Xception": 71, "InceptionV3": 75,
}


def build(name: str, path: Path) -> Path:
    import keras

    from tests import builders

    keras.utils.set_random_seed(0)
    if name == "Sequential-MLP":
        return builders.keras_sequential(path)
    if name == "Sequential-LSTM":
        return builders.keras_lstm(path)
    if name == "MultiIO":
        return builders.keras_multi_io(path)
    size = APPS[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    model.save(str(path))
    return path


def main() -> None:
    import modelport
    from modelport.core.errors import ModelportError

    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    names = args.only or [*APPS, "Sequential-MLP", "Sequential-LSTM", "MultiIO"]
    tmp = Path(tempfile.mkdtemp(prefix="modelport-keras-"))
    wins = {r: 0 for r in ROUTES}
    secs = {r: 0.0 for r in ROUTES}
    print(f"{'model':18} " + " ".join(f"{r.replace('keras-', ''):>24}" for r in ROUTES), flush=True)
    for name in names:
        src = build(name, tmp / f"{name}.keras")
        cells = []
        for route in ROUTES:
            start = time.perf_counter()
            try:
                report = modelport.convert(src, tmp / f"{name}-{route}.onnx", route=route, force=True)
                outcome = "ok" if report.ok else "mismatch"
            except ModelportError as exc:
                reason = exc.message.split(": ", 3)[-1][:40]
                outcome = f"error({reason})" if len(reason) < 14 else "error"
            seconds = time.perf_counter() - start
            if outcome == "ok":
                wins[route] += 1
                secs[route] += seconds
            cells.append(f"{outcome} {seconds:6.1f}s")
        print(f"{name:18} " + " ".join(f"{c:>24}" for c in cells), flush=True)
    print(f"{'verified':18} " + " ".join(f"{wins[r]:>17}/{len(names):<2} {secs[r]:4.0f}s" for r in ROUTES))


if __name__ == "__main__":
    main()
