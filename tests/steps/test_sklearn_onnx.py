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


def _fit_save(est, x, y, path):
    import skops.io as sio

    sio.dump(est.fit(x, y) if y is not None else est.fit(x), str(path))
    return path


def test_binary_decision_scores_match_in_every_skl2onnx_layout(tmp_path):
    """Classifiers without predict_proba: skl2onnx writes a binary decision as [s] (LinearSVC, RidgeClassifier),
    [s, -s] (SVC) or [-s, s] (SGD): each converts on the first route and its scores are the estimator's."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import RidgeClassifier, SGDClassifier
    from sklearn.svm import SVC, LinearSVC

    import modelport

    x, y = load_breast_cancer(return_X_y=True)
    for est, column in ((LinearSVC(max_iter=20000), 0), (RidgeClassifier(), 0), (SVC(), 0),
                        (SGDClassifier(random_state=0), 1)):
        name = type(est).__name__
        src = _fit_save(est, x, y, tmp_path / f"{name}.skops")
        report = modelport.convert(src, tmp_path / f"{name}.onnx")
        assert report.ok and report.route == "sklearn-skl2onnx", name
        got = ort_run(tmp_path / f"{name}.onnx", {"X": x.astype(np.float32)})
        np.testing.assert_array_equal(got["label"], est.predict(x))
        scores = est.decision_function(x)
        np.testing.assert_allclose(got["probabilities"][:, column], scores, rtol=1e-4,
                                   atol=1e-4 * np.abs(scores).max())


def test_float64_route_when_float32_does_not_verify(tmp_path):
    """ComplementNB on digit counts held to --rtol 1e-4: its float32 graph's probabilities are 1.5e-4 off; the
    float64 route is kept, and the report says which precision was used."""
    import json

    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import ComplementNB

    import modelport
    from modelport.pipeline import VerifyOptions

    x, y = load_digits(return_X_y=True)
    est = ComplementNB()
    src = _fit_save(est, x[:500], y[:500], tmp_path / "cnb.skops")
    out = tmp_path / "cnb.onnx"
    report = modelport.convert(src, out, check=VerifyOptions(rtol=1e-4))
    assert report.ok and report.route == "sklearn-skl2onnx-float64"
    assert report.attempts[0].outcome == "mismatch"
    assert '"precision": "float64"' in json.dumps(report.details["provenance"])
    got = ort_run(out, {"X": x})  # float64 in, as declared
    np.testing.assert_array_equal(got["label"], est.predict(x))
    np.testing.assert_allclose(got["probabilities"], est.predict_proba(x), atol=1e-9)


def test_tuned_threshold_labels_follow_the_threshold(tmp_path):
    """skl2onnx labels a TunedThresholdClassifierCV by argmax (4.9% of breast_cancer labels wrong); modelport
    rewrites the label output to apply the tuned threshold."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import TunedThresholdClassifierCV

    import modelport

    x, y = load_breast_cancer(return_X_y=True)
    est = TunedThresholdClassifierCV(LogisticRegression(max_iter=3000))
    src = _fit_save(est, x, y, tmp_path / "tuned.skops")
    out = tmp_path / "tuned.onnx"
    assert modelport.convert(src, out).ok
    assert abs(est.best_threshold_ - 0.5) > 0.1  # the threshold matters
    got = ort_run(out, {"X": x.astype(np.float32)})
    np.testing.assert_array_equal(got["label"], est.predict(x))
    np.testing.assert_allclose(got["probabilities"], est.predict_proba(x), atol=1e-4)


def test_unconvertible_estimator_exits_3_naming_it(tmp_path, cli):
    from sklearn.datasets import load_iris
    from sklearn.gaussian_process import GaussianProcessClassifier

    x, y = load_iris(return_X_y=True)
    src = _fit_save(GaussianProcessClassifier(random_state=0), x, y, tmp_path / "gpc.skops")
    code, _, err = cli("convert", src, "-o", tmp_path / "gpc.onnx", "--trust")
    assert code == 3 and "GaussianProcessClassifier" in err and "Traceback" not in err
    assert not (tmp_path / "gpc.onnx").exists()


def test_neighbours_are_verified_on_their_training_rows(tmp_path, cli):
    """KNN keeps its training rows: verification draws from them. A copy whose stored rows are scaled by 1.01
    fails; the faithful file passes."""
    from sklearn.datasets import load_wine
    from sklearn.neighbors import KNeighborsClassifier

    from tests.builders import scale_weight

    x, y = load_wine(return_X_y=True)
    src = _fit_save(KNeighborsClassifier(), x, y, tmp_path / "knn.skops")
    out, bad = tmp_path / "knn.onnx", tmp_path / "bad.onnx"
    code, stdout, _ = cli("convert", src, "-o", out, "--trust", "--json", "-")
    assert code == 0 and "training rows" in stdout
    scale_weight(out, bad, 1.01)  # the largest float tensor: the stored training rows
    code, _, err = cli("verify", src, bad, "--trust")
    assert code == 1, err


def test_dataframe_pipeline_gets_one_input_per_column(tmp_path, cli):
    """A ColumnTransformer fitted on a DataFrame of numbers and strings: one ONNX input per column, named after
    it, strings as strings; labels and probabilities match on every row; a copy with the age scaler's mean
    moved by 8 years fails verification."""
    pd = pytest.importorskip("pandas")
    import onnx
    import skops.io as sio
    from onnx import helper
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"age": rng.uniform(1, 80, n), "fare": rng.lognormal(3, 1, n),
                       "sex": rng.choice(["male", "female"], n), "port": rng.choice(["S", "C", "Q"], n)})
    y = ((df.age < 30) ^ (df.sex == "female") | (df.port == "C")).astype(int)
    pipe = make_pipeline(ColumnTransformer([("num", StandardScaler(), ["age", "fare"]),
                                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "port"])]),
                         LogisticRegression()).fit(df, y)
    src, out, bad = tmp_path / "p.skops", tmp_path / "p.onnx", tmp_path / "bad.onnx"
    sio.dump(pipe, str(src))
    code, _, err = cli("convert", src, "-o", out)
    assert code == 0, err
    assert onnx_io(out)[0] == ["age", "fare", "sex", "port"]
    feed = {c: df[c].to_numpy().reshape(-1, 1).astype(np.float32 if c in ("age", "fare") else object)
            for c in df.columns}
    got = ort_run(out, feed)
    np.testing.assert_array_equal(got["label"], pipe.predict(df))
    np.testing.assert_allclose(got["probabilities"], pipe.predict_proba(df), atol=1e-5)

    model = onnx.load(str(out))
    scaler = next(node for node in model.graph.node if node.op_type == "Scaler")
    offset = next(a for a in scaler.attribute if a.name == "offset")
    moved = list(offset.floats)
    moved[0] += 8.0  # age: 8 years
    offset.CopyFrom(helper.make_attribute("offset", moved))
    onnx.save(model, str(bad))
    code, _, err = cli("verify", src, bad)
    assert code == 1, err


def test_lightgbm_converts_through_onnxmltools_and_a_moved_threshold_fails(tmp_path, cli):
    """A third-party estimator: LightGBM's converter from onnxmltools is registered with skl2onnx; inputs are
    generated around its split thresholds, so a copy with thresholds moved on the large-scale features fails."""
    pytest.importorskip("lightgbm")
    pytest.importorskip("onnxmltools")
    import onnx
    from lightgbm import LGBMClassifier
    from onnx import helper
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    est = LGBMClassifier(n_estimators=50, verbose=-1, random_state=0)
    src = _fit_save(est, x, y, tmp_path / "lgbm.skops")
    out, bad = tmp_path / "lgbm.onnx", tmp_path / "bad.onnx"
    code, stdout, err = cli("convert", src, "-o", out, "--trust", "--json", "-")
    assert code == 0 and "split thresholds" in stdout, err
    got = ort_run(out, {"X": x.astype(np.float32)})
    np.testing.assert_array_equal(got["label"], est.predict(x))
    np.testing.assert_allclose(got["probabilities"], est.predict_proba(x), atol=1e-5)

    model = onnx.load(str(out))
    tree = next(n for n in model.graph.node if n.op_type.startswith("TreeEnsemble"))
    features = next(a for a in tree.attribute if a.name == "nodes_featureids").ints
    values = next(a for a in tree.attribute if a.name == "nodes_values")
    big = set(np.argsort(x.max(0))[-3:].tolist())  # the three largest-scale features
    moved = [v * 0.7 if f in big else v for f, v in zip(features, values.floats)]
    values.CopyFrom(helper.make_attribute("nodes_values", moved))
    onnx.save(model, str(bad))
    assert (ort_run(bad, {"X": x.astype(np.float32)})["label"] != est.predict(x)).mean() >= 0.01
    code, _, err = cli("verify", src, bad, "--trust")
    assert code == 1, err
