"""scikit-learn -> ONNX through skl2onnx, with the RECIPES workarounds."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs
from tests.steps.roundtrip import onnx_io, ort_run, round_trip

pytestmark = [pytest.mark.slow, needs("sklearn")]


def _load(path):
    import skops.io as sio

    return sio.load(str(path), trusted=sio.get_untrusted_types(file=str(path)))


def test_pipeline_probabilities_without_zipmap(models, tmp_path):
    from tests.builders import iris

    src = models("sk_pipeline")
    out = tmp_path / "pipe.onnx"
    report = round_trip(src, out)
    assert onnx_io(out) == (["X"], ["label", "probabilities"])
    by_name = {o.name: o for o in report.verification.outputs}
    assert by_name["label"].exact and by_name["probabilities"].label_agreement == 1.0
    x, _ = iris()
    est = _load(src)
    got = ort_run(out, {"X": x})
    assert isinstance(got["probabilities"], np.ndarray)  # not a ZipMap list of dicts
    np.testing.assert_array_equal(got["label"], est.predict(x))
    np.testing.assert_allclose(got["probabilities"], est.predict_proba(x), atol=1e-5)


@pytest.mark.parametrize("kind", ["forest_regressor", "voting_soft", "isolation_forest", "kmeans"])
def test_estimators_with_known_workarounds(models, tmp_path, kind):
    from tests.builders import iris

    src = models(f"sk_{kind}")
    out = tmp_path / f"{kind}.onnx"
    round_trip(src, out)
    x, _ = iris()
    est = _load(src)
    got = ort_run(out, {"X": x})
    if kind == "forest_regressor":
        np.testing.assert_allclose(got["variable"].ravel(), est.predict(x), atol=1e-4)
    elif kind == "voting_soft":
        np.testing.assert_allclose(got["probabilities"], est.predict_proba(x), atol=1e-5)
        assert est.weights == [0.7, 0.3]  # the user's object is never patched (only a copy is)
    elif kind == "isolation_forest":
        np.testing.assert_array_equal(got["label"].ravel(), est.predict(x))
    else:
        np.testing.assert_array_equal(got["label"].ravel(), est.predict(x))


def test_pickle_refused_without_trust(models, tmp_path, cli):
    src = models("sk_pickle")
    out = tmp_path / "lr.onnx"
    code, stdout, err = cli("convert", src, "-o", out)
    assert code == 4
    assert "pickle" in err and "skops" in err
    assert not out.exists()
    round_trip(src, out, trust=True)
