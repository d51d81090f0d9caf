"""OpenVINO IR targets (`-o model.xml`): each route both ways. A faithful conversion passes and equals the source
run here by its own framework (OpenVINO run directly, CPU at f32); a copy with its largest weight x1.01 in
`model.bin` fails verification against the source."""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.builders import digits, scale_ir_weight
from tests.conftest import needs

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs modelport[openvino]")]


def _ov_run(path, feed: dict) -> list[np.ndarray]:
    import sys

    sys.modules.setdefault("openvino_telemetry", None)
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled([feed[p.get_any_name()] for p in compiled.inputs])
    return [result[p] for p in compiled.outputs]


def _facts(path) -> dict:
    info = ET.parse(str(path)).getroot().find("rt_info")
    return json.loads(info.find("modelport").get("value"))


def _both_ways(cli, src, out, tmp_path, *extra):
    code, _, err = cli("convert", src, "-o", out, *extra)
    assert code == 0, err
    assert out.with_suffix(".bin").exists()
    facts = _facts(out)
    assert facts["verification"] == "passed"
    bad = tmp_path / "bad.xml"
    scale_ir_weight(out, bad)
    code, _, err = cli("verify", src, bad, *extra)
    assert code == 1, err
    code, _, err = cli("verify", src, out, *extra)
    assert code == 0, err
    code, _, err = cli("inspect", out, "--json", tmp_path / "inspect.json")
    shown = json.loads((tmp_path / "inspect.json").read_text())["model"]
    assert code == 0 and shown["provenance"]["route"] == facts["route"] and shown["operators"], err
    return facts


@needs("torch")
def test_onnx_file_to_openvino(models, tmp_path, cli):
    import onnxruntime as ort

    src = models("digits_cnn")
    out = tmp_path / "cnn.xml"
    facts = _both_ways(cli, src, out, tmp_path)
    assert facts["route"] == "onnx-openvino"
    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 7 for d in sess.get_inputs()[0].shape]
    x = digits("test")[0][:7].reshape(shape)
    want = sess.run(None, {sess.get_inputs()[0].name: x})
    got = _ov_run(out, {sess.get_inputs()[0].name: x})
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-4)


@needs("torch")
def test_pytorch_programs_to_openvino_fixed_and_dynamic_batch(models, tmp_path, cli):
    """A CNN exported at batch 2, and an iris classifier exported with a dynamic batch (run at 1 and 5)."""
    import torch

    from tests.builders import iris

    for name, batches, make in (("cnn_pt2", (2,), lambda b: np.random.default_rng(b).normal(size=(b, 3, 16, 16))),
                                ("torch_iris", (1, 5), lambda b: iris()[0][:b])):
        src = models(name)
        out = tmp_path / f"{name}.xml"
        facts = _both_ways(cli, src, out, tmp_path)
        assert facts["route"] == "torch-openvino"
        module = torch.export.load(str(src)).module()
        param = ET.parse(str(out)).getroot().find(".//layer[@type='Parameter']")
        for batch in batches:
            x = make(batch).astype(np.float32)
            want = module(torch.from_numpy(x)).detach().numpy()
            got = _ov_run(out, {param.get("name"): x})[0]
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
        if name == "torch_iris":
            assert param.find("data").get("shape").startswith("?"), param.find("data").attrib  # dynamic batch


@needs("tensorflow")
def test_keras_two_inputs_two_outputs_to_openvino(models, tmp_path, cli):
    import keras

    src = models("keras_mimo")
    out = tmp_path / "mimo.xml"
    facts = _both_ways(cli, src, out, tmp_path)
    assert facts["route"] == "keras-openvino"
    model = keras.models.load_model(str(src))
    rng = np.random.default_rng(0)
    feed = {i.name: rng.normal(size=(4, *i.shape[1:])).astype(np.float32) for i in model.inputs}
    want = model(feed)
    want = [np.asarray(want[k]) for k in sorted(want)] if isinstance(want, dict) else [np.asarray(w) for w in want]
    got = _ov_run(out, feed)
    for w, g in zip(sorted(want, key=lambda a: a.shape[1]), sorted(got, key=lambda a: a.shape[1])):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-4)


def test_an_xml_that_is_not_an_ir_is_exit_2(tmp_path, cli):
    fake = tmp_path / "config.xml"
    fake.write_text('<?xml version="1.0"?>\n<config><a>1</a></config>\n')
    code, _, err = cli("inspect", fake)
    assert code == 2 and "not an OpenVINO IR" in err


@needs("torch")
def test_torchscript_goes_through_its_onnx_chain(models, tmp_path, cli):
    """TorchScript has no direct OpenVINO route: its ONNX chain, then ONNX -> OpenVINO, verified against TorchScript."""
    import torch

    src = models("mlp_ts")
    out = tmp_path / "mlp.xml"
    code, _, err = cli("convert", src, "-o", out, "--input", "x:2,6")
    if code == 1:
        pytest.fail(err)
    facts = _facts(out)
    assert code == 0 and facts["route"] == "via-onnx-openvino", err
    module = torch.jit.load(str(src))
    x = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    want = module(torch.from_numpy(x)).detach().numpy()
    param = ET.parse(str(out)).getroot().find(".//layer[@type='Parameter']")
    np.testing.assert_allclose(_ov_run(out, {param.get("name"): x})[0], want, atol=1e-5, rtol=1e-4)
    bad = tmp_path / "bad.xml"
    scale_ir_weight(out, bad)
    code, _, err = cli("verify", src, bad, "--input", "x:2,6")
    assert code == 1, err


@needs("sklearn")
def test_scikit_learn_to_openvino_is_exit_3_naming_the_ml_operators(models, tmp_path, cli):
    code, _, err = cli("convert", models("sk_pipeline"), "-o", tmp_path / "p.xml")
    assert code == 3, err
    assert "ai.onnx.ml:" in err and "OpenVINO" in err
    assert not list(tmp_path.glob("p.*"))


@needs("torch")
def test_locate_pairs_layers_by_the_names_openvino_kept(models, tmp_path, cli):
    """From ONNX, OpenVINO keeps every tensor name: --locate names the convolution whose weight was scaled."""
    src = models("digits_cnn")
    out = tmp_path / "cnn.xml"
    code, _, err = cli("convert", src, "-o", out)
    assert code == 0, err
    bad = tmp_path / "bad.xml"
    weight = scale_ir_weight(out, bad)
    code, stdout, err = cli("verify", src, bad, "--locate", "--json", "-")
    assert code == 1, err
    located = json.loads(stdout)["locate"]
    assert located["found"] and weight == f"{located['first']['layer']}.weight", located
    assert "OpenVINO" in located["mapped_by"]
