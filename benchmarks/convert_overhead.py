"""Overhead of `modelport.convert` (no verification) over calling the first route's converter directly.

Both sides load the model from disk, convert and save; frameworks are imported (warm) before timing.
Prints the median of several runs and the ratio (target <= 1.10x). Verification time is printed apart.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUNS = 15


def torch_direct(src: Path, out: Path):
    import torch

    from modelport.core.logs import quiet

    def run():
        program = torch.export.load(str(src))
        with quiet("torch.onnx", "torch.export", "onnxscript"):
            torch.onnx.export(program, (), dynamo=True, optimize=True).save(str(out))
    return run


def keras_direct(src: Path, out: Path):
    import keras
    import onnx
    import tensorflow as tf
    import tf2onnx

    from modelport.core.logs import quiet

    def run():
        model = keras.saving.load_model(str(src), compile=False)
        spec = [tf.TensorSpec(model.inputs[0].shape, tf.float32, name="x")]
        fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
        with quiet("tf2onnx"):
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
        onnx.save(proto, str(out))
    return run


def sklearn_direct(src: Path, out: Path):
    import onnx
    import skops.io as sio
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    def run():
        est = sio.load(str(src), trusted=sio.get_untrusted_types(file=str(src)))
        proto = convert_sklearn(est, initial_types=[("X", FloatTensorType([None, est.n_features_in_]))],
                                options={id(est): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
        onnx.save(proto, str(out))
    return run


def main() -> None:
    import modelport
    from tests import builders

    tmp = Path(tempfile.mkdtemp(prefix="modelport-bench-"))
    cases = [
        ("PyTorch CNN (.pt2)", builders.torch_cnn_pt2(tmp / "cnn.pt2"), torch_direct),
        ("Keras Sequential (.keras)", builders.keras_sequential(tmp / "seq.keras"), keras_direct),
        ("sklearn pipeline (.skops)", builders.sklearn_pipeline(tmp / "pipe.skops"), sklearn_direct),
    ]
    print(f"{'model':28} {'direct s':>9} {'modelport s':>12} {'ratio':>6} {'+verify s':>10}")
    for label, src, direct in cases:
        direct_run = direct(src, tmp / "direct.onnx")
        direct_run()  # warm up imports and caches on both sides
        modelport.convert(src, tmp / "warm.onnx", verify=False, force=True)
        # interleaved A/B runs: TF and torch slow down as a process accumulates graphs, so timing one
        # side after the other would bias whichever runs second
        t_direct, t_mp, t_ver = [], [], []
        for _ in range(RUNS):
            for times, fn in ((t_direct, direct_run),
                              (t_mp, lambda src=src: modelport.convert(src, tmp / "mp.onnx", verify=False, force=True)),
                              (t_ver, lambda src=src: modelport.convert(src, tmp / "mpv.onnx", force=True))):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
        t_direct, t_mp, t_ver = (statistics.median(t) for t in (t_direct, t_mp, t_ver))
        print(f"{label:28} {t_direct:9.3f} {t_mp:12.3f} {t_mp / t_direct:6.2f} {t_ver - t_mp:10.3f}")


if __name__ == "__main__":
    main()
