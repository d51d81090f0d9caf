"""`modelport inspect --json` on every format, including provenance written by convert."""

from __future__ import annotations

import json

import pytest

from tests.conftest import needs

pytestmark = pytest.mark.slow


def _inspect(cli, *args):
    code, stdout, err = cli("inspect", *map(str, args), "--json", "-")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["schema_version"] == 2 and data["command"] == "inspect" and data["ok"] is True
    return data["model"]


@needs("torch")
def test_pt2_and_its_onnx_with_provenance(models, tmp_path, cli):
    import modelport

    src = models("cnn_pt2")
    info = _inspect(cli, src)
    assert info["format"] == "torch.export" and info["parameters"] == 3 * 4 * 9 + 4 + 4 * 5 + 5
    assert info["inputs"][0]["shape"] == [2, 3, 16, 16] and info["inputs"][0]["dtype"] == "float32"
    assert any("conv2d" in op for op in info["operators"])
    assert info["outputs"] == [{"name": "output", "shape": [2, 5], "dtype": "float32"}]
    out = tmp_path / "cnn.onnx"
    modelport.convert(src, out)
    info = _inspect(cli, out)
    assert info["format"] == "onnx" and info["opsets"]["ai.onnx"] >= 17
    assert info["parameters"] == 3 * 4 * 9 + 4 + 4 * 5 + 5
    assert info["operators"]["Conv"] == 1 and info["nodes"] >= 3
    assert info["provenance"]["route"] == "torch-dynamo" and info["provenance"]["verification"] == "passed"
    assert info["size_bytes"] == out.stat().st_size


@needs("torch")
def test_torchscript_without_shapes(models, cli):
    info = _inspect(cli, models("mlp_ts"))
    assert info["format"] == "torchscript" and info["parameters"] == 6 * 8 + 8 + 8 * 2 + 2
    assert [i["name"] for i in info["inputs"]] and info["operators"]


@needs("tensorflow")
def test_keras_savedmodel_and_tflite(models, tmp_path, cli):
    import modelport

    info = _inspect(cli, models("keras_mimo"))
    assert info["format"] == "keras" and {i["name"] for i in info["inputs"]} == {"image", "meta"}
    assert info["operators"]["Dense"] == 2 and info["parameters"] > 0
    assert {o["name"] for o in info["outputs"]} == {"cls", "reg"}
    info = _inspect(cli, models("savedmodel"))
    assert info["format"] == "tf.savedmodel" and info["parameters"] == 12
    assert {o["name"] for o in info["outputs"]} == {"probabilities", "score"}
    out = tmp_path / "m.tflite"
    modelport.convert(models("keras_cnn"), out)
    info = _inspect(cli, out)
    assert info["format"] == "tflite" and info["inputs"][0]["shape"][0] == "batch"
    assert info["operators"] and info["parameters"] > 0
    assert info["provenance"]["route"] == "keras-tflite"


@needs("sklearn")
def test_skops_and_pickle_safety(models, cli):
    info = _inspect(cli, models("sk_pipeline"))
    assert info["format"] == "sklearn.skops" and info["kind"] == "classifier" and info["classes"] == [0, 1, 2]
    assert info["operators"]["LogisticRegression"] == 1 and info["parameters"] > 0
    code, _, err = cli("inspect", models("sk_pickle"))
    assert code == 4 and "--trust" in err
    assert _inspect(cli, models("sk_pickle"), "--trust")["estimator"] == "LogisticRegression"


@pytest.mark.parametrize("name", ["m.onnx", "m.tflite", "m.pt2", "m.keras", "m.skops", "m.ts"])
def test_corrupt_files_exit_2_for_every_format(tmp_path, cli, name):
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 20 if name != "m.tflite" else b"\x1c\0\0\0TFL3" + b"\xff" * 20)
    code, _, err = cli("inspect", path)
    assert code == 2, err
    assert err.startswith("modelport: error:") and len(err.strip().splitlines()) <= 2
