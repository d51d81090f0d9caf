"""Every scikit-learn estimator skl2onnx supports: fitted on a bundled data set, saved with skops, converted by
modelport (`--rtol 1e-4`), then checked independently (onnxruntime directly against the estimator's own methods
on the whole data set: labels 100%, numbers within 1e-4 of 1 + |value|; 1e-5 for float64 routes). Prints
passed / supported / total, the route (precision) each took, and every failure with its reason.

Both ways: each faithful file's largest float array (tree thresholds or leaves, coefficients, scaler statistics)
is scaled by 1.05 in a copy; when onnxruntime shows the copy wrong on the data set, `modelport verify` must fail
it. Prints the broken copies caught and every false pass.

    python benchmarks/sklearn_sweep.py [--float32] [NAME ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import _common  # noqa: F401  (sets up paths and environment)

broken: dict[str, str] = {}  # estimator -> caught | FALSE PASS | not broken | no float array
ties: dict[str, int] = {}  # estimator -> values counted as ties in its verification


def sweep(names: list[str], dtype) -> dict[str, tuple[str, str, float]]:
    from modelport.core.errors import ModelportError
    from tests import sklearn_zoo as zoo

    folder = Path(tempfile.mkdtemp(prefix="modelport-sksweep-"))
    results = {}
    broken.clear()
    ties.clear()
    for name, case in zoo.catalogue().items():
        if names and name not in names:
            continue
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report, problems = zoo.convert_and_check(case, dtype, folder)
            route = report.route
            if problems is None:
                outcome = f"verification failed: {report.verification.summary()}"
            else:
                outcome = "ok" if not problems else "; ".join(problems)
            if outcome == "ok":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    broken[name] = zoo.verdict_on_broken(case, dtype, folder)
                ties[name] = sum(o.ties for o in report.verification.outputs)
        except ModelportError as exc:
            route, outcome = "-", f"exit {exc.exit_code}: {exc.message}"
        except Exception as exc:  # noqa: BLE001  (a sweep reports everything)
            route, outcome = "-", f"{type(exc).__name__}: {exc}"
        results[name] = (route, outcome[:300], time.perf_counter() - started)
    return results


def main() -> None:
    import numpy as np

    from tests import sklearn_zoo as zoo

    args = sys.argv[1:]
    dtype = np.float32 if "--float32" in args else np.float64
    names = [a for a in args if not a.startswith("--")]
    results = sweep(names, dtype)
    supported = zoo.supported()
    from sklearn.utils import all_estimators

    passed = [n for n, (_, outcome, _) in results.items() if outcome == "ok"]
    print(f"training data {np.dtype(dtype).name}: {len(passed)} passed / {len(results)} run / "
          f"{len(supported)} supported by skl2onnx / {len(all_estimators())} in all_estimators()")
    print("routes:", dict(Counter(route for route, outcome, _ in results.values() if outcome == "ok")))
    print("float64 route:", ", ".join(n for n, (route, o, _) in results.items() if route.endswith("float64")))
    for name, (route, outcome, _) in sorted(results.items()):
        if outcome != "ok":
            print(f"  FAIL {name} [{route}] {outcome}")
    counts = Counter(broken.values())
    print(f"broken copies (largest float array x1.05): {counts['caught']} caught, {counts['FALSE PASS']} false "
          f"passes, {counts['not broken']} not wrong on the data set, {counts['no float array']} without floats")
    for name, verdict in sorted(broken.items()):
        if verdict == "FALSE PASS":
            print(f"  FALSE PASS {name}")
    tied = {n: t for n, t in ties.items() if t}
    print(f"passes with ties reported: {len(tied)}: " + ", ".join(f"{n} ({t})" for n, t in sorted(tied.items())))
    for name, reason in zoo.SKIPS.items():
        print(f"  skip {name}: {reason}")
    slow = sorted(results.items(), key=lambda kv: -kv[1][2])[:5]
    print("slowest:", ", ".join(f"{n} {t:.1f}s" for n, (_, _, t) in slow),
          f"| total {sum(t for _, _, t in results.values()):.0f} s")


if __name__ == "__main__":
    main()
