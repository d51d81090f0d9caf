"""`modelport optimize`: verified simplification, growth guard, IR-3 repair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import needs

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("onnxslim") is None, reason="needs pip install 'modelport[optimize]'")]

LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"


def test_growth_guard_on_an_onnx_test_model(tmp_path, cli):
    src = LIGHT / "light_squeezenet.onnx"  # IR-3; weights built at run time with ConstantOfShape
    out = tmp_path / "sq.onnx"
    code, stdout, err = cli("optimize", src, "-o", out, "--runs", "3", "--json", "-")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["verification"]["passed"] is True
    assert out.stat().st_size <= 1.5 * src.stat().st_size
    assert any("constant folding skipped" in s for s in data["skipped"])
    assert any("IR-3 repair" in s for s in data["steps"])
    code, stdout, err = cli("optimize", src, "-o", tmp_path / "big.onnx", "--runs", "3", "--allow-growth")
    assert code == 0, err
    assert (tmp_path / "big.onnx").stat().st_size > 10 * src.stat().st_size  # the folding the guard refused


@needs("tensorflow")
def test_optimize_a_converted_model_keeps_provenance(models, tmp_path, cli):
    import modelport
    from modelport.core.provenance import read_onnx

    onnx_path = tmp_path / "m.onnx"
    modelport.convert(models("keras_cnn"), onnx_path)
    out = tmp_path / "m.opt.onnx"
    report = tmp_path / "r.json"
    code, _, err = cli("optimize", onnx_path, "-o", out, "--runs", "5", "--json", report)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["after"]["nodes"] <= data["before"]["nodes"]
    assert data["verification"]["passed"] and data["verification"]["outputs"][0]["max_abs_error"] < 1e-5
    facts = read_onnx(out)
    assert facts["route"] == "keras-tf2onnx-function" and facts["optimized"]


def test_non_onnx_input_exits_3(tmp_path, cli, models):
    pytest.importorskip("sklearn")
    code, _, err = cli("optimize", models("sk_pipeline"), "-o", tmp_path / "x.onnx")
    assert code == 3 and "convert first" in err
    assert not list(tmp_path.iterdir())
