"""Verdicts both ways: a faithful conversion passes, a deliberately broken copy fails, on every framework.

The broken copies are made here with onnx (a weight tensor x1.01, split thresholds x0.7, a scaler's mean moved)
and how broken they are is measured here with onnxruntime on real data, not taken from modelport's report.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.builders import scale_weight
from tests.conftest import needs

pytestmark = pytest.mark.slow


def _verify(cli, src, cand, *args):
    code, stdout, err = cli("verify", src, cand, "--json", "-", *args)
    return code, json.loads(stdout), err


@needs("torch")
@pytest.mark.parametrize("name", ["cnn_pt2", "transformer_pt2"])
def test_pytorch_faithful_passes_and_one_weight_off_by_1pct_fails(models, tmp_path, cli, name):
    import modelport

    src = models(name)
    out, bad = tmp_path / "m.onnx", tmp_path / "bad.onnx"
    assert modelport.convert(src, out).ok
    scale_weight(out, bad)
    code, report, err = _verify(cli, src, out)
    assert code == 0, err
    code, report, err = _verify(cli, src, bad)
    assert code == 1, err
    worst = max(o["floor_ratio"] or 0 for o in report["verification"]["outputs"])
    assert worst > 50  # far beyond float32 noise, whatever the tolerance


@needs("tensorflow")
@pytest.mark.parametrize("name", ["MobileNetV3Small", "EfficientNetB0"])  # V3Large: as Small, 26 s more
def test_keras_applications_convert_through_the_first_route_and_a_broken_copy_fails(tmp_path, cli, name):
    """Issue 12's false alarms: pixel-range Rescaling, BatchNorm statistics of [0, 1) images."""
    import onnxruntime as ort

    from tests.builders import keras_application

    src = keras_application(tmp_path / f"{name}.keras", name)
    out, bad = tmp_path / "m.onnx", tmp_path / "bad.onnx"
    code, stdout, err = cli("convert", src, "-o", out, "--json", "-")
    assert code == 0, err
    report = json.loads(stdout)
    assert [a["outcome"] for a in report["attempts"]] == ["ok"]
    assert "BatchNormalization" in next(iter(report["verification"]["inputs_from"].values()))
    # independently: the file matches Keras on [0, 1) images
    import keras

    x = np.random.default_rng(5).random((4, 96, 96, 3)).astype(np.float32)
    expected = np.asarray(keras.saving.load_model(str(src))(x, training=False))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], expected, atol=1e-4)
    scale_weight(out, bad)
    code, _, err = _verify(cli, src, bad)
    assert code == 1, err


@needs("tensorflow")
def test_keras_cnn_one_weight_off_by_1pct_fails(models, tmp_path, cli):
    import modelport

    src = models("keras_cnn")
    out, bad = tmp_path / "m.onnx", tmp_path / "bad.onnx"
    assert modelport.convert(src, out).ok
    scale_weight(out, bad)
    assert _verify(cli, src, out)[0] == 0
    assert _verify(cli, src, bad)[0] == 1


def _break_thresholds(src, out, features, factor=0.7):
    """Scale the split thresholds of `features` in every tree ensemble node (ai.onnx.ml)."""
    import onnx

    model = onnx.load(str(src))
    changed = 0
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        if "nodes_featureids" in attrs and "nodes_values" in attrs:
            ids, values = list(attrs["nodes_featureids"].ints), list(attrs["nodes_values"].floats)
            new = [v * factor if f in features else v for f, v in zip(ids, values)]
            changed += sum(f in features for f in ids)
            del attrs["nodes_values"].floats[:]
            attrs["nodes_values"].floats.extend(new)
    assert changed
    onnx.save(model, str(out))


def _shift_scaler(src, out, features, stds=0.5):
    """Move the mean of `features` in the ai.onnx.ml Scaler by `stds` standard deviations."""
    import onnx

    model = onnx.load(str(src))
    node = next(n for n in model.graph.node if n.op_type == "Scaler")
    attrs = {a.name: a for a in node.attribute}
    offset, scale = list(attrs["offset"].floats), list(attrs["scale"].floats)
    for j in features:
        offset[j] += stds / scale[j]
    del attrs["offset"].floats[:]
    attrs["offset"].floats.extend(offset)
    onnx.save(model, str(out))


@needs("sklearn")
@pytest.mark.parametrize("kind", ["hgb", "forest", "gbm", "scaled_lr"])
def test_sklearn_large_scale_features_faithful_passes_broken_fails_without_data(tmp_path, cli, kind):
    """Issue 12's false pass: N(0, 1) inputs never reach thresholds at 4,000 (nor a scaler's statistics)."""
    import onnxruntime as ort
    from sklearn.datasets import load_breast_cancer

    import modelport
    from tests.builders import breast_cancer_model

    src = breast_cancer_model(tmp_path / f"{kind}.skops", kind)
    out, bad = tmp_path / "m.onnx", tmp_path / "bad.onnx"
    assert modelport.convert(src, out).ok
    x, _ = load_breast_cancer(return_X_y=True)
    big = list(np.argsort(-x.mean(0))[:3])  # the three largest-scale features
    (_shift_scaler if kind == "scaled_lr" else _break_thresholds)(out, bad, big)

    def labels(path):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(["label"], {"X": x.astype(np.float32)})[0]

    assert np.mean(labels(bad) != labels(out)) >= 0.01  # the broken copy is wrong on >= 1% of the real rows
    code, report, err = _verify(cli, src, out)
    assert code == 0, err
    assert "generated" in report["verification"]["inputs_from"]["X"]
    code, _, err = _verify(cli, src, bad)
    assert code == 1, err


@needs("torch", "sklearn", "tensorflow")
def test_rules_are_read_from_each_framework(models):
    from modelport.core.formats import detect
    from modelport.loaders import open_model

    def rules(name):
        path = models(name)
        return open_model(path, detect(path)).input_rules()

    torch_rules = rules("transformer_pt2")
    assert torch_rules["input_ids"].integers == (0, 50)  # the encoder's nn.Embedding(50, 16)
    assert torch_rules["attention_mask"].mask
    assert next(iter(rules("keras_lstm").values())).integers == (0, 20)  # Embedding(20, 8)
    sk = rules("sk_pipeline")["X"]  # StandardScaler statistics of iris
    assert "StandardScaler" in sk.source and abs(sk.mean[2] - 3.76) < 0.01


NOISY = '''
import torch


class Noisy(torch.nn.Module):
    def forward(self, x):
        return x * 2 + torch.rand_like(x) * float(self.scale)


def noisy():
    module = Noisy().eval()
    module.scale = 1.0
    return module


def steady():
    module = Noisy().eval()
    module.scale = 0.0
    return module
'''


@needs("torch")
def test_a_source_with_random_ops_is_not_passed_by_its_noise_floor(tmp_path):
    """Its float64 twin differs from it by the randomness, not by rounding: the floor would pass anything. The
    same model without the random term verifies."""
    import modelport

    (tmp_path / "noisy.py").write_text(NOISY)
    report = modelport.convert(f"{tmp_path / 'noisy.py'}:noisy", tmp_path / "n.onnx", inputs=["x:1,4"], trust=True)
    import onnxruntime as ort

    x = np.ones((1, 4), np.float32)
    sess = ort.InferenceSession(str(tmp_path / "n.onnx"), providers=["CPUExecutionProvider"])
    first, second = (sess.run(None, {sess.get_inputs()[0].name: x})[0] for _ in range(2))
    assert not np.array_equal(first, second)  # measured here: the file itself draws new numbers each run
    assert not report.ok and not report.verification.passed
    assert report.verification.outputs[0].passed_by is None
    assert report.verification.noise_floor.startswith("not used: the source gives other outputs")
    assert any("not deterministic" in w for w in report.verification.warnings)
    steady = modelport.convert(f"{tmp_path / 'noisy.py'}:steady", tmp_path / "s.onnx", inputs=["x:1,4"], trust=True)
    assert steady.ok
