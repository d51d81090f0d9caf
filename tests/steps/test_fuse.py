"""`modelport fuse`: ensembles across frameworks, checked against NumPy references computed here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import needs

pytestmark = [pytest.mark.slow, needs("torch", "sklearn", "tensorflow")]


def _skl(path):
    import skops.io as sio

    return sio.load(str(path), trusted=sio.get_untrusted_types(file=str(path)))


def _torch(path, x):
    import torch

    return torch.export.load(str(path)).module()(torch.from_numpy(x)).detach().numpy()


def _ort(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x})
    return {o.name: v for o, v in zip(sess.get_outputs(), out)}


@pytest.fixture
def iris_x():
    from tests.builders import iris

    return iris()


def test_mean_and_weighted_sklearn_plus_pytorch(models, tmp_path, cli, iris_x):
    x, _ = iris_x
    sk, pt = models("sk_pipeline"), models("torch_iris")
    p_sk, p_pt = _skl(sk).predict_proba(x), _torch(pt, x)
    for strategy, extra, w in (("mean", [], (0.5, 0.5)), ("weighted", ["--weights", "3,1"], (0.75, 0.25))):
        out = tmp_path / f"{strategy}.onnx"
        code, _, err = cli("fuse", sk, pt, "-o", out, "--strategy", strategy, *extra, "--json", tmp_path / "r.json")
        assert code == 0, err
        got = _ort(out, x)
        expected = w[0] * p_sk + w[1] * p_pt
        np.testing.assert_allclose(got["probabilities"], expected, atol=1e-5)
        np.testing.assert_array_equal(got["label"], expected.argmax(1))
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["ok"] and report["verification"]["passed"]
        assert [m["output"] for m in report["members"]] == ["probabilities", "output"]
        assert report["weights"] == pytest.approx(list(w))


def test_vote_of_three_frameworks(models, tmp_path, cli, iris_x):
    import keras

    x, _ = iris_x
    sk, pt, ks = models("sk_pipeline"), models("torch_iris"), models("keras_iris")
    out = tmp_path / "vote.onnx"
    code, _, err = cli("fuse", sk, pt, ks, "-o", out, "--strategy", "vote")
    assert code == 0, err
    labels = [_skl(sk).predict(x), _torch(pt, x).argmax(1),  # scikit-learn votes with its own predict()
              np.asarray(keras.saving.load_model(str(ks))(x)).argmax(1)]
    votes = sum(np.eye(3)[lab] for lab in labels)
    got = _ort(out, x)
    np.testing.assert_array_equal(got["votes"], votes)
    np.testing.assert_array_equal(got["label"], votes.argmax(1))  # ties -> lowest class index


def test_stack_with_fitted_meta_model(models, tmp_path, cli, iris_x):
    from sklearn.linear_model import LogisticRegression

    x, y = iris_x
    sk, pt = models("sk_pipeline"), models("torch_iris")
    data = tmp_path / "train.npz"
    np.savez(data, X=x, labels=y)
    out = tmp_path / "stack.onnx"
    code, _, err = cli("fuse", sk, pt, "-o", out, "--strategy", "stack", "--fit-meta", data)
    assert code == 0, err
    feats = np.hstack([_skl(sk).predict_proba(x), _torch(pt, x)]).astype(np.float32)
    meta = LogisticRegression(max_iter=2000).fit(feats, y)
    got = _ort(out, x)
    np.testing.assert_allclose(got["probabilities"], meta.predict_proba(feats), atol=1e-3)
    assert np.mean(got["label"] == meta.predict(feats)) > 0.99


def test_chain_sklearn_scaler_into_pytorch(models, tmp_path, cli, iris_x):
    x, _ = iris_x
    scaler, net = models("sk_scaler"), models("torch_iris")
    out = tmp_path / "chain.onnx"
    code, _, err = cli("fuse", scaler, net, "-o", out, "--strategy", "chain", "--map", "variable=x")
    assert code == 2 and "matches no output" in err  # the torch member's input is named "input"
    code, _, err = cli("fuse", scaler, net, "-o", out, "--strategy", "chain", "--map", "variable=input")
    assert code == 0, err
    expected = _torch(net, _skl(scaler).transform(x).astype(np.float32))
    np.testing.assert_allclose(_ort(out, x)["output"], expected, atol=1e-5)


def test_select_picks_the_best_member(models, tmp_path, cli, iris_x):
    x, y = iris_x
    good, bad = models("sk_pipeline"), models("torch_iris_logits_untrained")
    data = tmp_path / "holdout.npz"
    np.savez(data, X=x, labels=y)
    out = tmp_path / "best.onnx"
    report = tmp_path / "r.json"
    code, _, err = cli("fuse", bad, good, "-o", out, "--strategy", "select", "--data", data, "--json", report)
    assert code == 0, err
    info = json.loads(report.read_text())
    acc_good = float(np.mean(_skl(good).predict(x) == y))
    assert info["selected"] == 1 and info["scores"]["1"] == pytest.approx(acc_good)
    assert info["scores"]["0"] < info["scores"]["1"]
    np.testing.assert_allclose(_ort(out, x)["probabilities"], _skl(good).predict_proba(x), atol=1e-5)


def test_errors_exit_2(models, tmp_path, cli):
    sk, pt = models("sk_pipeline"), models("torch_iris")
    out = tmp_path / "e.onnx"
    code, _, err = cli("fuse", sk, pt, "-o", out, "--strategy", "weighted", "--weights", "1,2,3")
    assert code == 2 and "3 weights for 2 members" in err
    code, _, err = cli("fuse", sk, models("sk_binary"), "-o", out, "--strategy", "mean")
    assert code == 2 and "number of classes" in err
    code, _, err = cli("fuse", sk, models("sk_five"), "-o", out, "--strategy", "mean")
    assert code == 2 and "X:?x4:float32" in err and "X:?x5:float32" in err
    code, _, err = cli("fuse", sk, pt, "-o", out, "--strategy", "nope")
    assert code == 2 and "strategies" in err
    assert not list(tmp_path.iterdir())


def test_bad_data_files_exit_2(models, tmp_path, cli, iris_x):
    x, y = iris_x
    sk, pt = models("sk_pipeline"), models("torch_iris")
    short = tmp_path / "short.npz"
    np.savez(short, X=x, labels=y[:10])
    code, _, err = cli("fuse", sk, pt, "-o", tmp_path / "s.onnx", "--strategy", "select", "--data", short)
    assert code == 2 and "10 labels for 150 input rows" in err
    wide = tmp_path / "wide.npz"
    np.savez(wide, X=np.hstack([x, x]), labels=y)
    code, _, err = cli("fuse", sk, pt, "-o", tmp_path / "s.onnx", "--strategy", "stack", "--fit-meta", wide)
    assert code == 2 and "shape [150, 8]" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.npz", "wide.npz"]


def _mlp_pt2(path, seed: int, batch: int | None):
    """An iris-shaped MLP; batch=None: dynamic batch, else exported at that fixed batch (no dynamic_shapes)."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3),
                                torch.nn.Softmax(dim=1)).eval()
    example = (torch.randn(batch or 2, 4),)
    shapes = None if batch else ({0: torch.export.Dim("batch", min=1, max=1024)},)
    torch.export.save(torch.export.export(model, example, dynamic_shapes=shapes), str(path))
    return path


def test_a_member_with_a_fixed_batch_fuses_at_that_batch(tmp_path, cli):
    import onnx

    dynamic = _mlp_pt2(tmp_path / "dynamic.pt2", 0, None)
    fixed = _mlp_pt2(tmp_path / "fixed.pt2", 1, 1)
    out = tmp_path / "mean.onnx"
    code, stdout, err = cli("fuse", dynamic, fixed, "-o", out, "--strategy", "mean", "--json", "-")
    assert code == 0, err
    warnings = " ".join(json.loads(stdout)["warnings"])
    assert "member 1 (fixed.pt2)" in warnings and "fixed batch of 1" in warnings
    graph_input = onnx.load(str(out)).graph.input[0]
    assert graph_input.type.tensor_type.shape.dim[0].dim_value == 1
    x = np.random.default_rng(3).normal(size=(1, 4)).astype(np.float32)
    expected = (_torch(dynamic, x) + _torch(fixed, x)) / 2
    got = next(v for v in _ort(out, x).values() if v.dtype == np.float32 and v.shape == (1, 3))
    np.testing.assert_allclose(got, expected, atol=1e-5)

    other = _mlp_pt2(tmp_path / "fixed2.pt2", 2, 2)
    code, _, err = cli("fuse", fixed, other, "-o", tmp_path / "bad.onnx", "--strategy", "mean")
    assert code == 2
    assert "member 0 (fixed.pt2)" in err and "member 1 (fixed2.pt2)" in err and "fixed batch of 1" in err, err
