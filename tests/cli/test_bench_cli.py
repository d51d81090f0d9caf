"""`modelport bench`: several models side by side on the same inputs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import needs

pytestmark = pytest.mark.slow


@needs("torch", "tensorflow")
def test_three_models_in_one_table(models, tmp_path, cli):
    import modelport

    src = models("keras_cnn")
    onnx_path, tfl_path = tmp_path / "m.onnx", tmp_path / "m.tflite"
    modelport.convert(src, onnx_path)
    modelport.convert(src, tfl_path)
    code, stdout, err = cli("bench", src, onnx_path, tfl_path, "--runs", "20", "--warmup", "2", "--batch", "4",
                            "--threads", "1", "--json", "-")
    assert code == 0, err
    data = json.loads(stdout)
    rows = data["rows"]
    assert [r["format"] for r in rows] == ["keras", "onnx", "tflite"]
    assert rows[0]["ratio_p50"] == 1.0
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["throughput_per_s"] == pytest.approx(4 / (r["mean_ms"] / 1000))
        assert r["size_bytes"] > 0
    assert data["inputs"] == {next(iter(data["inputs"])): [4, 16, 16, 3]}


@needs("sklearn")
def test_models_with_other_inputs_exit_2(models, tmp_path, cli):
    import modelport

    five = tmp_path / "five.onnx"
    modelport.convert(models("sk_five"), five)
    code, _, err = cli("bench", models("sk_pipeline"), five, "--runs", "2")
    assert code == 2 and "same inputs" in err
