"""Keras, SavedModel and PyTorch -> TFLite, verified; TFLite as a verification candidate."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import needs
from tests.steps.roundtrip import round_trip
from tests.steps.roundtrip_tflite import tflite_run, tflite_signature

pytestmark = [pytest.mark.slow, needs("tensorflow")]


def _keras(path):
    import keras

    return keras.saving.load_model(str(path), compile=False)


@pytest.mark.parametrize("route", ["keras-tflite", "keras-tflite-savedmodel"])
def test_keras_cnn(models, tmp_path, route):
    src = models("keras_cnn")
    out = tmp_path / "cnn.tflite"
    report = round_trip(src, out, route=route, external_data=True)
    assert report.verification.batch_sizes == [16, 1]  # dynamic batch survives
    assert any("--external-data is for ONNX outputs" in w for w in report.warnings)  # said, not silently dropped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.tflite"]
    x = np.random.default_rng(10).standard_normal((3, 16, 16, 3)).astype(np.float32)
    got = tflite_run(out, {tflite_signature(out)["serving_default"]["inputs"][0]: x})
    np.testing.assert_allclose(next(iter(got.values())), np.asarray(_keras(src)(x)), atol=1e-5)


def test_keras_multi_io_outputs_matched(models, tmp_path):
    src = models("keras_mimo")
    out = tmp_path / "mimo.tflite"
    report = round_trip(src, out)
    names = {o.name: o for o in report.verification.outputs}
    assert set(names) == {"cls", "reg"}
    assert report.verification.matched_by in ("name", "shape")
    rng = np.random.default_rng(11)
    image = rng.standard_normal((2, 8, 8, 2)).astype(np.float32)
    meta = rng.standard_normal((2, 3)).astype(np.float32)
    cls, reg = _keras(src)([image, meta])
    sig = tflite_signature(out)["serving_default"]
    got = tflite_run(out, dict(zip(sorted(sig["inputs"]), [image, meta])))
    outs = sorted(got.values(), key=lambda a: a.shape[-1])
    np.testing.assert_allclose(outs[0], np.asarray(reg), atol=1e-5)
    np.testing.assert_allclose(outs[1], np.asarray(cls), atol=1e-5)


def test_savedmodel(models, tmp_path):
    src = models("savedmodel")
    out = tmp_path / "scorer.tflite"
    report = round_trip(src, out)
    assert report.route == "savedmodel-tflite"
    assert sorted(o.name for o in report.verification.outputs) == ["probabilities", "score"]


def test_unrolled_lstm_converts(models, tmp_path):
    round_trip(models("keras_lstm_unrolled"), tmp_path / "lstm.tflite")


def test_plain_lstm_exits_3_with_unroll_hint(models, tmp_path, cli):
    out = tmp_path / "lstm.tflite"
    code, _, err = cli("convert", models("keras_lstm_float"), "-o", out)
    assert code == 3, err
    assert "unroll=True" in err and "lstm" in err.lower()
    assert not list(tmp_path.iterdir())


def test_onnx_to_tflite_is_refused(models, tmp_path, cli):
    import modelport

    onnx_path = tmp_path / "m.onnx"
    modelport.convert(models("keras_seq"), onnx_path)
    code, _, err = cli("convert", onnx_path, "-o", tmp_path / "m.tflite")
    assert code == 3 and "convert from the source model" in err
    assert not (tmp_path / "m.tflite").exists()


def test_verify_pairs_with_tflite(models, tmp_path, cli):
    import modelport

    src = models("keras_cnn")
    tfl, onx = tmp_path / "m.tflite", tmp_path / "m.onnx"
    modelport.convert(src, tfl)
    modelport.convert(src, onx)
    for a, b in ((src, tfl), (onx, tfl), (tfl, tfl), (tfl, onx)):
        code, _, err = cli("verify", a, b)
        assert code == 0, (a, b, err)


def test_provenance_in_tflite_metadata(models, tmp_path):
    import modelport
    from modelport.core.io import sha256_of
    from modelport.core.provenance import read_tflite, sidecar

    src = models("keras_cnn")
    out = tmp_path / "cnn.tflite"
    modelport.convert(src, out)
    facts = read_tflite(out)
    assert facts["source_sha256"] == sha256_of(src) and facts["route"] == "keras-tflite"
    assert facts["verification"] == "passed"
    assert not sidecar(out).exists()  # stored inside the flatbuffer, not beside it
    assert tflite_signature(out)  # still a loadable model


@pytest.mark.skipif(importlib.util.find_spec("litert_torch") is None,
                    reason="PyTorch -> TFLite needs pip install 'modelport[litert]' (CI installs it)")
def test_pytorch_cnn_through_litert(models, tmp_path):
    import torch

    src = models("cnn_pt2")
    out = tmp_path / "cnn.tflite"
    report = round_trip(src, out)
    assert report.route == "torch-litert"
    x = np.random.default_rng(12).standard_normal((2, 3, 16, 16)).astype(np.float32)
    expected = torch.export.load(str(src)).module()(torch.from_numpy(x)).detach().numpy()
    got = tflite_run(out, {tflite_signature(out)["serving_default"]["inputs"][0]: x})
    np.testing.assert_allclose(next(iter(got.values())), expected, atol=1e-5)


def test_pytorch_to_tflite_without_litert_exits_5(models, tmp_path, cli, monkeypatch):
    pytest.importorskip("torch")
    from modelport.routes.torch_tflite import LitertTorch

    monkeypatch.setattr(LitertTorch, "requires", ("torch", "litert_torch_not_installed"))
    code, _, err = cli("convert", models("cnn_pt2"), "-o", tmp_path / "m.tflite")
    assert code == 5 and "modelport[litert]" in err


def test_weights_a_flatbuffer_cannot_hold_are_refused_naming_the_limit(models, tmp_path, monkeypatch):
    """A TFLite file is one flatbuffer (2 GB): every float route skips such a model with that reason (exit 3,
    nothing written); a method that shrinks the weights under the limit (fp16 halves 3 GB) is not refused."""
    import keras

    import modelport
    from modelport.core.errors import UnsupportedError
    from modelport.core.formats import Format
    from modelport.frameworks.keras.model import KerasModel
    from modelport.loaders import open_model
    from modelport.routes.keras_tflite import TfliteDynamicRange, TfliteFp16

    src = models("keras_cnn")
    counted = sum(int(np.prod(w.shape)) * 4 for w in keras.saving.load_model(str(src), compile=False).weights)
    assert open_model(src, Format.KERAS).weight_bytes() == counted  # float32 weights, counted through Keras itself
    monkeypatch.setattr(KerasModel, "weight_bytes", lambda self: 3 << 30)
    out = tmp_path / "big.tflite"
    with pytest.raises(UnsupportedError) as failed:
        modelport.convert(src, out)
    assert failed.value.exit_code == 3
    assert "at most 2 GB" in failed.value.message and "3.0 GB of weights" in failed.value.message
    assert "ONNX" in failed.value.message and failed.value.message.count("flatbuffer") == 1  # said once
    assert not out.exists()
    source = open_model(src, Format.KERAS)
    assert TfliteFp16().skip_reason(source) is None and TfliteDynamicRange().skip_reason(source) is None
