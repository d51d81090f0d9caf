"""Every scikit-learn estimator skl2onnx supports, fitted on a bundled data set (float64 and float32 training
data), saved with skops and converted by modelport; the file is then checked independently of modelport's own
verification: onnxruntime directly against the estimator's methods on the whole data set (labels 100%, numbers
within 1e-4 of 1 + |value|, 1e-5 for the float64 route). benchmarks/sklearn_sweep.py prints the counts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import HAS

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAS["sklearn"], reason="needs sklearn")]

# What cannot pass, and why (each asserted: the reason must stay true).
CONVERT_FAILS = {  # exit 3, the estimator named
    "GaussianProcessClassifier": "skl2onnx writes com.microsoft:Solve, which ONNX Runtime does not implement",
    "RadiusNeighborsClassifier": "skl2onnx's graph fails in ONNX Runtime (ArrayFeatureExtractor index -1)",
}
FLOAT32_ONLY = {  # float32 training data
    # scikit-learn computes a float32-fitted KernelPCA in float32: its own output is 3e-3 from the exact
    # value, so no graph matches it to 1e-4 and modelport says so (exit 1)
    "KernelPCA": "verification fails",
    # 2 iris rows sit 1e-7 from the boundary of a float32-fitted OneClassSVM: labels there are ties; ONNX
    # Runtime has no float64 SVM. With --data of those rows modelport fails it (exit 1)
    "OneClassSVM": "labels differ on ties",
}


def _names() -> list[str]:
    if not HAS["sklearn"]:
        return []
    from tests import sklearn_zoo

    return list(sklearn_zoo.catalogue())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", _names())
def test_estimator_converts_faithfully(tmp_path, name, dtype):
    from modelport.core.errors import ConversionFailed
    from tests import sklearn_zoo

    case = sklearn_zoo.catalogue()[name]
    if name in CONVERT_FAILS:
        with pytest.raises(ConversionFailed) as info:
            sklearn_zoo.convert_and_check(case, np.dtype(dtype), tmp_path)
        assert info.value.exit_code == 3 and name in info.value.message
        return
    report, problems = sklearn_zoo.convert_and_check(case, np.dtype(dtype), tmp_path)
    if dtype == "float32" and FLOAT32_ONLY.get(name) == "verification fails":
        assert not report.ok
        return
    assert report.ok, report.verification.summary()
    if dtype == "float32" and name in FLOAT32_ONLY:
        assert problems, f"{name}: passes now; drop it from FLOAT32_ONLY"
        return
    assert not problems, problems


def test_every_supported_estimator_is_covered_or_skipped_with_a_reason():
    from tests import sklearn_zoo

    covered = set(sklearn_zoo.catalogue()) | set(sklearn_zoo.SKIPS)
    assert set(sklearn_zoo.supported()) <= covered
    assert len(sklearn_zoo.catalogue()) >= 130


# Broken copies both ways, a sample (benchmarks/sklearn_sweep.py runs every estimator): the largest float array
# x1.05, measured wrong on the data set with onnxruntime, must fail verification. The first two passed before
# boundary probes searched further out for a second label (N(0, 1) rows on breast_cancer's raw features all got
# one label) and looked inside meta-estimators.
BROKEN_SAMPLE = ["TunedThresholdClassifierCV", "MultiOutputClassifier", "FixedThresholdClassifier",
                 "LogisticRegression", "HistGradientBoostingClassifier", "KNeighborsRegressor", "StandardScaler",
                 "Ridge", "PCA"]


@pytest.mark.parametrize("name", BROKEN_SAMPLE)
def test_a_broken_copy_is_caught(tmp_path, name):
    from tests import sklearn_zoo

    case = sklearn_zoo.catalogue()[name]
    report, problems = sklearn_zoo.convert_and_check(case, np.dtype("float64"), tmp_path)
    assert report.ok and not problems
    assert sklearn_zoo.verdict_on_broken(case, np.dtype("float64"), tmp_path) == "caught"
