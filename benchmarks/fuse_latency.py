"""Latency of a fused ensemble (one ONNX session) against running its members one by one.

Members: the scikit-learn, PyTorch and Keras iris classifiers of examples/fuse_three_frameworks.py.
The separate path runs three ONNX Runtime sessions and combines their outputs in numpy, as a serving layer
would. Median over RUNS, one thread per session, batch 1 and 64.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_ms as _median_ms  # noqa: E402  (sets up paths and environment)

RUNS, WARMUP = 500, 50


def median_ms(fn) -> float:
    return _median_ms(fn, RUNS, WARMUP)


def main() -> None:
    import fuse_three_frameworks as ex
    import numpy as np

    import modelport
    from modelport.runtimes.onnx.model import OnnxModel

    tmp = Path(tempfile.mkdtemp(prefix="modelport-fuse-bench-"))
    members = [ex.build_sklearn(tmp / "a.skops"), ex.build_torch(tmp / "b.pt2"), ex.build_keras(tmp / "c.keras")]
    onnx_members = []
    for m in members:
        out = m.with_suffix(".onnx")
        modelport.convert(m, out, force=True)
        onnx_members.append(OnnxModel(out, threads=1))
    weights = np.asarray([0.5, 0.3, 0.2], dtype=np.float32)
    fused_path = tmp / "fused.onnx"
    modelport.fuse([str(m) for m in members], fused_path, strategy="weighted", weights=list(weights), force=True)
    fused = OnnxModel(fused_path, threads=1)
    x_all, _ = ex.iris()
    picks = ["probabilities", "output", "output"]

    def separate(x):
        outs = [m.run({m.inputs[0].name: x})[p] for m, p in zip(onnx_members, picks)]
        probs = sum(w * o for w, o in zip(weights, outs))
        return probs, probs.argmax(1)

    print(f"{'batch':>5} {'fused ms':>9} {'members ms':>11} {'fused/members':>14}")
    for batch in (1, 64):
        x = x_all[:batch]
        t_fused = median_ms(lambda x=x: fused.run({fused.inputs[0].name: x}))
        t_sep = median_ms(lambda x=x: separate(x))
        print(f"{batch:5d} {t_fused:9.3f} {t_sep:11.3f} {t_fused / t_sep:14.2f}")


if __name__ == "__main__":
    main()
