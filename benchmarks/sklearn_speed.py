"""scikit-learn: (1) `modelport.convert` (no verification) against calling skl2onnx directly on a 200-tree
RandomForest and a pipeline: both load the .skops file, convert and save; interleaved, medians (target <=
1.10x); where modelport's extra time goes (cProfile of its own functions). (2) ONNX Runtime latency against
scikit-learn `predict_proba` at batch 1 and 1,000 for a RandomForest, a HistGradientBoosting model and a
pipeline, one thread each.

    OMP_NUM_THREADS=1 python benchmarks/sklearn_speed.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # HistGradientBoosting and BLAS: one thread, as ORT below

import cProfile  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import _common  # noqa: E402,F401  (sets up paths and environment)


def models(folder: Path) -> dict[str, tuple[Path, object, object]]:
    import numpy as np
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    built = {"RandomForest (200 trees)": RandomForestClassifier(200, random_state=0),
             "HistGradientBoosting (100 iters)": HistGradientBoostingClassifier(random_state=0),
             "pipeline (scaler, PCA, LR)": make_pipeline(StandardScaler(), PCA(10), LogisticRegression())}
    out = {}
    for name, est in built.items():
        path = folder / f"{name.split()[0]}.skops"
        sio.dump(est.fit(x, y), str(path))
        out[name] = (path, est, x.astype(np.float64))
    return out


def direct(src: Path, out: Path):
    import onnx
    import skops.io as sio
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    est = sio.load(str(src), trusted=sio.get_untrusted_types(file=str(src)))
    proto = convert_sklearn(est, initial_types=[("X", FloatTensorType([None, est.n_features_in_]))],
                            options={id(est): {"zipmap": False}}, target_opset={"": 18, "ai.onnx.ml": 3})
    onnx.save(proto, str(out))


def overhead(name: str, src: Path, folder: Path, runs: int = 15) -> None:
    import modelport

    mine = lambda: modelport.convert(src, folder / "mp.onnx", verify=False, force=True)  # noqa: E731
    theirs = lambda: direct(src, folder / "direct.onnx")  # noqa: E731
    mine(), theirs()
    a, b = [], []
    for i in range(runs):
        for times, fn in ((a, mine), (b, theirs)) if i % 2 else ((b, theirs), (a, mine)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:34} modelport {ma * 1000:7.1f} ms  skl2onnx {mb * 1000:7.1f} ms  {ma / mb:5.2f}x")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(5):
        mine()
    profile.disable()
    stats = pstats.Stats(profile)
    own = [(f"{Path(k[0]).name}:{k[2]}", v[3] / 5) for k, v in stats.stats.items() if "/modelport/" in k[0]]
    top = sorted(own, key=lambda kv: -kv[1])[:6]
    print("    modelport functions (cumulative ms per convert):",
          ", ".join(f"{k} {v * 1000:.1f}" for k, v in top))


def latency(name: str, src: Path, est, x, folder: Path) -> None:
    import numpy as np
    import onnxruntime as ort

    import modelport

    out = folder / "lat.onnx"
    modelport.convert(src, out, force=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(out), sess_options=opts, providers=["CPUExecutionProvider"])
    feed = sess.get_inputs()[0]
    row = []
    for batch in (1, 1000):
        rows = np.resize(x, (batch, x.shape[1]))
        arr = rows.astype(np.float64 if feed.type == "tensor(double)" else np.float32)
        calls = {"ort": lambda a=arr: sess.run(None, {feed.name: a}), "sk": lambda r=rows: est.predict_proba(r)}
        for fn in calls.values():
            fn()
        times = {"ort": [], "sk": []}
        for _ in range(30 if batch == 1 else 10):
            for key, fn in calls.items():
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
        o, s = statistics.median(times["ort"]), statistics.median(times["sk"])
        row.append(f"batch {batch}: ORT {o * 1000:.3f} ms, sklearn {s * 1000:.3f} ms ({s / o:.1f}x faster)")
    print(f"{name:34} " + " | ".join(row))


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="modelport-skspeed-"))
    built = models(folder)
    print("conversion, no verification:")
    for name in ("RandomForest (200 trees)", "pipeline (scaler, PCA, LR)"):
        overhead(name, built[name][0], folder)
    print("latency, one thread:")
    for name, (src, est, x) in built.items():
        latency(name, src, est, x, folder)


if __name__ == "__main__":
    main()
