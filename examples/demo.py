"""modelport demo: build a tiny PyTorch, Keras and scikit-learn model, convert each to ONNX (and the Keras
model, plus the PyTorch one when modelport[litert] is installed, to TFLite) with `modelport convert`, and
print the verification tables. Run: `make demo` (or python examples/demo.py).

Everything is generated here; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

OUT = Path(os.environ.get("MODELPORT_DEMO_DIR", Path(__file__).parent / "out"))


def build_torch(path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(8, 10),
    ).eval()
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), str(path))
    return path


def build_keras(path: Path) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax"),
    ])
    model.save(str(path))
    return path


def build_sklearn(path: Path) -> Path:
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=20, random_state=0)).fit(x, y)
    sio.dump(model, str(path))
    return path


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    torch_src, keras_src = build_torch(OUT / "cnn.pt2"), build_keras(OUT / "digits.keras")
    jobs = [(torch_src, ".onnx"), (keras_src, ".onnx"), (build_sklearn(OUT / "gbm.skops"), ".onnx"),
            (keras_src, ".tflite")]  # the same Keras model to a phone/edge target
    if importlib.util.find_spec("litert_torch"):
        jobs.append((torch_src, ".tflite"))
    failed = 0
    pages = importlib.util.find_spec("bokeh") is not None  # modelport[report]: a page per conversion
    for src, ext in jobs:
        out = src.with_suffix(ext)
        page = [f"--report={out.with_name(out.stem + '-' + ext[1:] + '.html')}"] if pages else []
        print(f"\n$ modelport convert {src.name} -o {out.name} --force {' '.join(page)}", flush=True)
        cmd = [sys.executable, "-m", "modelport", "convert", str(src), "-o", str(out), "--force", *page]
        failed += subprocess.call(cmd) != 0
    print(f"\n{len(jobs) - failed} of {len(jobs)} conversions verified; files in {OUT}"
          + ("; open the *.html pages for what each verification looked like" if pages else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
