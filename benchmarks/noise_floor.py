"""Verdicts both ways on real architectures: does a faithful conversion pass, and does a copy with one weight
tensor scaled by 1.01 fail? Prints, per model: the input rule used, each output's error against the source,
its float32 noise floor (source vs its float64 twin) and the ratio, for the faithful file and the corrupted
one, with the `modelport verify` exit codes. The ratios chose `FLOOR_MULTIPLE` in modelport/verify/compare.py.

    python benchmarks/noise_floor.py            # keras.applications + the test suite's small models
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets up paths and environment)
import numpy as np


def ratios(src: Path, onnx_path: Path) -> list[str]:
    from modelport.core.formats import detect
    from modelport.loaders import open_model
    from modelport.verify.inputs import generate

    model, cand = open_model(src, detect(src)), open_model(onnx_path, detect(onnx_path))
    rules = model.input_rules()
    case = generate(model.inputs, 16, 0, (0, 10), rules)[0]
    try:
        twin = model.float64_twin().run(case)
    except Exception as exc:
        return [f"no twin: {type(exc).__name__}"]
    ref, out = model.run(case), cand.run(case)
    lines = []
    for name, r in ref.items():
        if np.asarray(r).dtype.kind != "f":
            continue
        c = out.get(name, next(iter(out.values())))
        err, floor = float(np.abs(c - r).max()), float(np.abs(r - twin[name]).max())
        lines.append(f"{name}: err {err:.2g} floor {floor:.2g} ratio {err / floor if floor else float('inf'):.3g}")
    return lines


def verify(src: Path, cand: Path) -> int:
    return subprocess.run([sys.executable, "-m", "modelport", "verify", str(src), str(cand), "-q"],
                          capture_output=True, text=True).returncode


def main() -> None:
    import modelport
    from tests import builders

    folder = Path(tempfile.mkdtemp(prefix="modelport-floor-"))
    sources = [builders.keras_application(folder / f"{n}.keras", n)
               for n in ("MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0")]
    sources += [builders.torch_cnn_pt2(folder / "cnn.pt2"), builders.transformer_pt2(folder / "encoder.pt2"),
                builders.keras_cnn(folder / "cnn.keras"), builders.keras_lstm(folder / "lstm.keras")]
    for src in sources:
        out, bad = folder / f"{src.stem}.onnx", folder / f"{src.stem}.bad.onnx"
        start = time.perf_counter()
        report = modelport.convert(src, out, force=True)
        took = time.perf_counter() - start
        tensor = builders.scale_weight(out, bad)
        print(f"\n{src.name}: convert ok={report.ok} via {report.route} ({took:.1f} s); inputs "
              f"{list(report.verification.inputs_from.values())}")
        print(f"  faithful: verify exit {verify(src, out)}; " + "; ".join(ratios(src, out)))
        print(f"  {tensor} x1.01: verify exit {verify(src, bad)}; " + "; ".join(ratios(src, bad)))


if __name__ == "__main__":
    main()
