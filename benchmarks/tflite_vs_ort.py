"""Latency of the demo models in ONNX Runtime against the TFLite interpreter (and the source framework).

Builds the demo's PyTorch CNN and Keras CNN, converts each to ONNX and TFLite with modelport, then times
single-sample inference: median over RUNS after warm-up, one thread everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_ms as _median_ms  # noqa: E402  (sets up paths and environment)

RUNS, WARMUP = 300, 30


def median_ms(fn) -> float:
    return _median_ms(fn, RUNS, WARMUP)


def main() -> None:
    import demo
    import numpy as np

    import modelport
    from modelport.runtimes.onnx.model import OnnxModel
    from modelport.runtimes.tflite.model import TfliteModel

    tmp = Path(tempfile.mkdtemp(prefix="modelport-tfl-"))
    models = [("Keras CNN 28x28", demo.build_keras(tmp / "digits.keras"), (1, 28, 28, 1))]
    if importlib.util.find_spec("litert_torch"):
        models.append(("PyTorch CNN 32x32", demo.build_torch(tmp / "cnn.pt2"), (1, 3, 32, 32)))
    print(f"{'model':20} {'ORT ms':>8} {'TFLite ms':>10} {'TFLite/ORT':>11}")
    for label, src, shape in models:
        onnx_path, tfl_path = src.with_suffix(".onnx"), src.with_suffix(".tflite")
        modelport.convert(src, onnx_path, force=True)
        modelport.convert(src, tfl_path, force=True)
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        ort_model, tfl_model = OnnxModel(onnx_path, threads=1), TfliteModel(tfl_path, threads=1)
        feed_o = {ort_model.inputs[0].name: x}
        feed_t = {tfl_model.inputs[0].name: x}
        t_ort = median_ms(lambda m=ort_model, f=feed_o: m.run(f))
        t_tfl = median_ms(lambda m=tfl_model, f=feed_t: m.run(f))
        print(f"{label:20} {t_ort:8.3f} {t_tfl:10.3f} {t_tfl / t_ort:11.2f}")


if __name__ == "__main__":
    main()
