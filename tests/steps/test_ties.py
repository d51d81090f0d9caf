"""Label ties are not mismatches, and a label that differs where the decision is clear still fails (issue 24.1).

Expected numbers come from scikit-learn and onnxruntime directly; the broken copies are made here with onnx.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import needs

pytestmark = [pytest.mark.slow, needs("sklearn")]


def _verify(cli, src, cand):
    code, stdout, err = cli("verify", src, cand, "--trust", "--json", "-")
    return code, json.loads(stdout), err


def _outputs(report) -> dict:
    return {o["name"]: o for o in report["verification"]["outputs"]}


def _run(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})


def _fitted_and_converted(folder, est, loader):
    """Fit `est` on a bundled data set, save it with skops and convert it: (est, X, source, output, report)."""
    import skops.io as sio

    import modelport

    x, y = loader(return_X_y=True)
    est.fit(x, y)
    src, out = folder / "model.skops", folder / "model.onnx"
    sio.dump(est, str(src))
    return est, x, src, out, modelport.convert(src, out, trust=True)


@pytest.fixture(scope="module")
def extra_trees(tmp_path_factory):
    from sklearn.datasets import load_wine
    from sklearn.ensemble import ExtraTreesClassifier

    return _fitted_and_converted(tmp_path_factory.mktemp("ties"), ExtraTreesClassifier(n_estimators=50,
                                                                                      random_state=0), load_wine)


def test_extra_trees_faithful_file_passes_with_its_ties_reported(extra_trees):
    est, x, _, out, report = extra_trees
    labels, probabilities = _run(out, x)
    assert np.array_equal(labels, est.predict(x))  # faithful on the data set's 178 rows
    assert np.abs(probabilities - est.predict_proba(x)).max() < 1e-6
    assert report.ok, report.verification.summary()
    label = next(o for o in report.verification.outputs if o.name == "label")
    assert label.passed and label.ties >= 1 and label.label_agreement < 1.0  # the generated probes that tie
    assert any("decides by a tie" in w for w in report.verification.warnings)


def test_extra_trees_with_one_tree_changed_fails_on_clear_margin_labels(extra_trees, tmp_path, cli):
    import onnx

    est, x, src, out, _ = extra_trees
    model = onnx.load(str(out))
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
    attrs = {a.name: a for a in node.attribute}
    trees, ids = np.array(attrs["class_treeids"].ints), np.array(attrs["class_ids"].ints)
    ids[trees == 0] = (ids[trees == 0] + 1) % 3  # tree 0 votes for the next class in every leaf
    del attrs["class_ids"].ints[:]
    attrs["class_ids"].ints.extend(ids.tolist())
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    # independently: on rows spread over the data's range, the broken copy's labels differ from scikit-learn's
    # where scikit-learn's top two probabilities are far apart
    rows = np.random.default_rng(0).uniform(x.min(0), x.max(0), size=(3000, x.shape[1]))
    rows = rows.astype(np.float32).astype(np.float64)
    proba = np.sort(est.predict_proba(rows), axis=1)
    wrong = _run(bad, rows)[0] != est.predict(rows)
    assert (wrong & (proba[:, -1] - proba[:, -2] > 1e-3)).sum() >= 1
    code, report, err = _verify(cli, src, bad)
    assert code == 1, err
    label = _outputs(report)["label"]
    assert not label["passed"] and "values differ" in label["reason"]


@pytest.fixture(scope="module")
def neighbours(tmp_path_factory):
    """k = 5 on iris, which repeats rows: the 5th and 6th neighbours of some rows are equidistant."""
    from sklearn.datasets import load_iris
    from sklearn.neighbors import KNeighborsClassifier

    return _fitted_and_converted(tmp_path_factory.mktemp("knn"), KNeighborsClassifier(n_neighbors=5), load_iris)


def test_neighbours_on_duplicate_rows_pass_with_ties_reported(neighbours):
    est, x, _, out, report = neighbours
    assert len(np.unique(x, axis=0)) < len(x)  # iris repeats rows
    distances, _ = est.kneighbors(x, n_neighbors=6)
    tied = np.isclose(distances[:, 4], distances[:, 5], rtol=0, atol=1e-9)
    differs = np.abs(_run(out, x)[1] - est.predict_proba(x)).max(axis=1) > 1e-4
    assert differs.any() and not (differs & ~tied).any()  # the file differs from scikit-learn at ties only
    assert report.ok, report.verification.summary()
    probabilities = next(o for o in report.verification.outputs if o.name == "probabilities")
    assert probabilities.ties >= 1 and "equidistant" in probabilities.tie_rule


def test_neighbours_with_stored_labels_changed_fail(neighbours, tmp_path, cli):
    import onnx
    from onnx import numpy_helper

    est, x, src, out, _ = neighbours
    model = onnx.load(str(out))
    stored = next(t for t in model.graph.initializer if numpy_helper.to_array(t).shape == (len(x),))
    labels = numpy_helper.to_array(stored).copy()
    labels[[10, 60, 110]] = (labels[[10, 60, 110]] + 1) % 3  # three training rows relabelled
    stored.CopyFrom(numpy_helper.from_array(labels, stored.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    assert np.abs(_run(bad, x)[1] - est.predict_proba(x)).max() >= 0.19  # independently: 1/5 of a vote moved
    code, report, err = _verify(cli, src, bad)
    assert code == 1, err
    assert not _outputs(report)["probabilities"]["passed"]
