"""Fuse a scikit-learn, a PyTorch and a Keras classifier (all trained here on iris) into one ONNX
ensemble with `modelport fuse`, by weighted average and by majority vote, and print the reports.

Run: python examples/fuse_three_frameworks.py   (files go to examples/out/fuse, or $MODELPORT_DEMO_DIR)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

OUT = Path(os.environ.get("MODELPORT_DEMO_DIR", Path(__file__).parent / "out")) / "fuse"


def iris():
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def build_sklearn(path: Path) -> Path:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = iris()
    sio.dump(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y), str(path))
    return path


def build_torch(path: Path) -> Path:
    import torch

    x, y = iris()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    model = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    program = torch.export.export(model, (xt[:4],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(path))
    return path


def build_keras(path: Path) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    x, y = iris()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=60, verbose=0)
    model.save(str(path))
    return path


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    members = [str(build_sklearn(OUT / "logreg.skops")), str(build_torch(OUT / "mlp.pt2")),
               str(build_keras(OUT / "mlp.keras"))]
    failed = 0
    for strategy, extra in (("weighted", ["--weights", "0.5,0.3,0.2"]), ("vote", [])):
        out = OUT / f"iris_{strategy}.onnx"
        cmd = [sys.executable, "-m", "modelport", "fuse", *members, "-o", str(out), "--strategy", strategy,
               *extra, "--force"]
        print(f"\n$ modelport fuse logreg.skops mlp.pt2 mlp.keras -o {out.name} --strategy {strategy} "
              + " ".join(extra), flush=True)
        failed += subprocess.call(cmd) != 0
    print(f"\n{2 - failed} of 2 ensembles built and verified; files in {OUT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
