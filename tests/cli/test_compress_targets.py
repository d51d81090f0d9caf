"""`compress` to OpenVINO IR (ov-int8, ov-weights-int8, ov-fp16) and to ExecuTorch (pte-int8), on the trained
digits CNN: smaller, accurate (top-1 computed here by running the written file directly), verified; and a copy
with one weight tensor x3 fails verification at the int8 tolerance."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from tests.builders import digits, scale_ir_weight, scale_pt2_weight
from tests.conftest import needs

pytestmark = [pytest.mark.slow, needs("torch")]
INT8 = ("--atol", "0.1", "--rtol", "0.1")


def _npz(tmp_path, name: str):
    x, _ = digits("train")
    xt, yt = digits("test")
    calib, data = tmp_path / "calib.npz", tmp_path / "test.npz"
    np.savez(calib, **{name: x[:256].reshape(-1, 1, 8, 8)})
    np.savez(data, **{name: xt.reshape(-1, 1, 8, 8), "labels": yt})
    return calib, data


def _compress(cli, *args):
    code, stdout, err = cli("compress", *map(str, args), "--runs", "10", "--json", "-")
    assert code == 0, err
    return json.loads(stdout)


@pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="needs modelport[openvino]")
@pytest.mark.parametrize("method, max_ratio", [("ov-int8", 0.40), ("ov-weights-int8", 0.40), ("ov-fp16", 0.6)])
def test_openvino_compress_methods_both_ways(models, tmp_path, cli, method, max_ratio):
    import sys

    sys.modules.setdefault("openvino_telemetry", None)
    import openvino as ov

    src = models("digits_cnn")
    ir = tmp_path / "cnn.xml"
    code, _, err = cli("convert", src, "-o", ir)
    assert code == 0, err
    calib, data = _npz(tmp_path, "input")
    out = tmp_path / f"cnn-{method}.xml"
    report = _compress(cli, ir, "-o", out, "--method", method, "--calibration", calib, "--data", data)
    assert report["method"] == method and report["size_ratio"] <= max_ratio, report["size_ratio"]
    compiled = ov.Core().compile_model(str(out), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    xt, yt = digits("test")
    top1 = (compiled(xt.reshape(-1, 1, 8, 8))[compiled.outputs[0]].argmax(1) == yt).mean()
    assert top1 >= 0.93, top1
    bad = tmp_path / "bad.xml"
    scale_ir_weight(out, bad, 3.0)
    code, _, err = cli("verify", src, bad, "--data", data, *INT8)
    assert code == 1, err
    code, _, err = cli("verify", src, out, "--data", data, *INT8)
    assert code == 0, err


@pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="needs modelport[openvino]")
def test_openvino_auto_and_from_onnx(models, tmp_path, cli):
    calib, data = _npz(tmp_path, "input")
    report = _compress(cli, models("digits_cnn"), "-o", tmp_path / "cnn.xml", "--calibration", calib, "--data", data)
    assert report["method"] == "ov-int8" and "ov-int8" in report["auto_reason"]
    assert report["baseline"] == "fp32 OpenVINO IR"


@pytest.mark.skipif(importlib.util.find_spec("executorch") is None, reason="needs modelport[executorch]")
def test_pte_int8_both_ways(models, tmp_path, cli):
    import torch
    from executorch.runtime import Runtime

    src = models("digits_cnn").with_suffix(".pt2")  # the trained conv net, as torch.export saved it
    calib, data = _npz(tmp_path, "input")
    out = tmp_path / "cnn.pte"
    report = _compress(cli, src, "-o", out, "--method", "pte-int8", "--calibration", calib, "--data", data)
    assert report["size_ratio"] <= 0.35 and report["baseline"] == "fp32 ExecuTorch"
    method = Runtime.get().load_program(str(out)).load_method("forward")
    xt, yt = digits("test")
    x = torch.from_numpy(xt.reshape(-1, 1, 8, 8))
    preds = np.concatenate([method.execute([x[i:i + 8]])[0].numpy().argmax(1) for i in range(0, len(x), 8)])
    assert (preds == yt).mean() >= 0.93
    bad_src, bad = tmp_path / "bad.pt2", tmp_path / "bad.pte"
    scale_pt2_weight(src, bad_src, 3.0)
    _compress(cli, bad_src, "-o", bad, "--method", "pte-int8", "--calibration", calib)
    code, _, err = cli("verify", src, bad, "--data", data, *INT8)
    assert code == 1, err
