"""Keras 3 / SavedModel -> ONNX through every route of the chain."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs
from tests.steps.roundtrip import batch_dim, onnx_io, ort_run, round_trip

pytestmark = [pytest.mark.slow, needs("tensorflow", "tf2onnx")]

KERAS_ROUTES = ["keras-tf2onnx-function", "keras-tf2onnx-keras", "keras-tf2onnx-savedmodel", "keras-torch-dynamo"]


def _keras(path):
    import keras

    return keras.saving.load_model(str(path), compile=False)


@pytest.mark.parametrize("route", KERAS_ROUTES)
def test_multi_input_multi_output(models, tmp_path, route):
    if route == "keras-torch-dynamo":
        pytest.importorskip("torch")
    src = models("keras_mimo")
    out = tmp_path / "mimo.onnx"
    round_trip(src, out, route=route)
    ins, outs = onnx_io(out)
    assert sorted(ins) == ["image", "meta"] and sorted(outs) == ["cls", "reg"]
    rng = np.random.default_rng(5)
    image = rng.standard_normal((4, 8, 8, 2)).astype(np.float32)
    meta = rng.standard_normal((4, 3)).astype(np.float32)
    cls, reg = _keras(src)([image, meta])
    got = ort_run(out, {"image": image, "meta": meta})
    np.testing.assert_allclose(got["cls"], np.asarray(cls), atol=1e-5)
    np.testing.assert_allclose(got["reg"], np.asarray(reg), atol=1e-5)


@pytest.mark.parametrize("route", ["keras-tf2onnx-function", "keras-tf2onnx-savedmodel", "keras-torch-dynamo"])
def test_sequential(models, tmp_path, route):
    if route == "keras-torch-dynamo":
        pytest.importorskip("torch")
    src = models("keras_seq")
    out = tmp_path / "seq.onnx"
    round_trip(src, out, route=route)
    assert batch_dim(out) not in (0, 1, 2)  # dynamic batch
    x = np.random.default_rng(6).standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_allclose(ort_run(out, {onnx_io(out)[0][0]: x})["output"], np.asarray(_keras(src)(x)),
                               atol=1e-5)


def test_sequential_chain_skips_nothing_when_first_route_works(models, tmp_path):
    report = round_trip(models("keras_seq_h5"), tmp_path / "seq.onnx")
    assert [(a.route, a.outcome) for a in report.attempts] == [("keras-tf2onnx-keras", "skipped"),
                                                               ("keras-tf2onnx-function", "ok")]


def test_from_keras_fails_on_sequential_and_says_why(models, tmp_path, cli):
    out = tmp_path / "seq.onnx"
    code, _, err = cli("convert", models("keras_seq"), "-o", out, "--route", "keras-tf2onnx-keras")
    assert code == 3
    assert "keras-tf2onnx-keras" in err and "KeyError" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_lstm_on_int_tokens_dynamic_batch(models, tmp_path):
    src = models("keras_lstm")
    out = tmp_path / "lstm.onnx"
    report = round_trip(src, out)
    assert report.verification.batch_sizes == [16, 1]
    tokens = np.random.default_rng(7).integers(0, 20, (3, 9)).astype(np.int32)
    got = ort_run(out, {onnx_io(out)[0][0]: tokens})["output"]
    np.testing.assert_allclose(got, np.asarray(_keras(src)(tokens)), atol=1e-5)


def test_savedmodel_with_dict_output(models, tmp_path):
    import tensorflow as tf

    src = models("savedmodel")
    out = tmp_path / "scorer.onnx"
    report = round_trip(src, out)
    assert report.route == "savedmodel-tf2onnx"
    ins, outs = onnx_io(out)
    assert ins == ["features"] and sorted(outs) == ["probabilities", "score"]
    x = np.random.default_rng(8).standard_normal((6, 4)).astype(np.float32)
    ref = tf.saved_model.load(str(src)).signatures["serving_default"](features=tf.constant(x))
    got = ort_run(out, {"features": x})
    np.testing.assert_allclose(got["probabilities"], ref["probabilities"].numpy(), atol=1e-6)
    np.testing.assert_allclose(got["score"], ref["score"].numpy(), atol=1e-5)


def test_subclassed_model_with_import_and_trust(models, tmp_path, cli):
    src, code_file = models("keras_subclassed")
    out = tmp_path / "sub.onnx"
    code, _, err = cli("convert", src, "-o", out, "--input", "x:1,5", "--import", code_file)
    assert code == 4 and "--trust" in err
    report = round_trip(src, out, inputs=["x:1,5"], imports=[str(code_file)], trust=True)
    assert report.route in ("keras-tf2onnx-keras", "keras-tf2onnx-function")
    x = np.random.default_rng(9).standard_normal((4, 5)).astype(np.float32)
    got = ort_run(out, {"x": x})["output"]
    np.testing.assert_allclose(got, np.asarray(_keras(src)(x)), atol=1e-5)
