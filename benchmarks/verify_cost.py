"""What verification costs beyond the two inferences it needs: a fresh `verify_models` (input rules, reference
run, candidate run, comparison) against running source and candidate on the same inputs, and the same with the
float32 noise floor measured (the source's float64 twin built and run). Medians of interleaved repeats (at least
5, more for fast models: about 3 s each).

    python benchmarks/verify_cost.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets up paths and environment)


def main() -> None:
    import modelport
    from modelport.core.formats import detect
    from modelport.loaders import open_model
    from modelport.pipeline import VerifyOptions
    from modelport.verify.check import Reference, verify_models
    from modelport.verify.inputs import generate
    from tests import builders

    folder = Path(tempfile.mkdtemp(prefix="modelport-vcost-"))
    sources = [builders.torch_cnn_pt2(folder / "cnn.pt2"), builders.transformer_pt2(folder / "encoder.pt2"),
               builders.keras_application(folder / "mnv3.keras", "MobileNetV3Small"),
               builders.breast_cancer_model(folder / "hgb.skops", "hgb")]
    print(f"{'model':<14} {'raw ms':>9} {'verify ms':>10} {'ratio':>6} {'+floor ms':>10} {'ratio':>6}")
    for src in sources:
        out = folder / f"{src.stem}.onnx"
        modelport.convert(src, out)
        model, cand = open_model(src, detect(src)), open_model(out, detect(out))
        plan = VerifyOptions().plan()
        tol = VerifyOptions().tolerance()
        cases = generate(model.inputs, plan.samples, plan.seed, plan.int_range, model.input_rules())
        raw, ver, flo = [], [], []
        started = time.perf_counter()
        while len(raw) < 5 or (len(raw) < 40 and time.perf_counter() - started < 3):
            t = time.perf_counter()
            for c in cases:
                model.run(c), cand.run(c)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            verify_models(Reference(model, plan), cand, tol)
            ver.append(time.perf_counter() - t)
            t = time.perf_counter()
            ref = Reference(model, plan)
            verify_models(ref, cand, tol)
            ref.twin_outputs(ref.cases_for(cand)[0])
            flo.append(time.perf_counter() - t)
        r, v, f = (statistics.median(x) * 1000 for x in (raw, ver, flo))
        print(f"{src.stem:<14} {r:9.1f} {v:10.1f} {v / r:6.2f} {f:10.1f} {f / r:6.2f}")


if __name__ == "__main__":
    main()
