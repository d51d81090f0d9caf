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


def _mlp_with_external_weights(path: Path, width: int = 2048, layers: int = 5) -> None:
    """An MLP of MatMul/Add/Tanh with 80 MB of float32 weights in `NAME.data`, two Identity nodes onnxslim
    removes, and one weight no node reads."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, x = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.full(width, 0.01, np.float32),
                                                                               f"b{i}")]
        nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"],
                                                                                      [f"a{i}"]),
                  helper.make_node("Identity" if i < 2 else "Tanh", [f"a{i}"], [f"h{i}"])]
        x = f"h{i}"
    inits.append(numpy_helper.from_array(np.ones((512, 512), np.float32), "unused"))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=1024)


def test_a_model_with_external_weights_is_optimized_without_reading_them(tmp_path, cli):
    """Above 64 MB of external weights the graph is optimized alone and the weights are copied into the output's
    data file: the result computes what the source does (onnxruntime on both), the Identity nodes and the unused
    weight are gone, and the output's data file holds exactly the used tensors."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    src, out = tmp_path / "mlp.onnx", tmp_path / "mlp.opt.onnx"
    _mlp_with_external_weights(src)
    code, stdout, err = cli("optimize", src, "-o", out, "--json", "-")
    assert code == 0, err
    report = json.loads(stdout)
    assert any("stayed on disk" in s for s in report["steps"]) and any("1 unused" in s for s in report["steps"])
    x = np.random.default_rng(1).standard_normal((3, 2048)).astype(np.float32)

    def run(path):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})[0]

    np.testing.assert_allclose(run(out), run(src), rtol=1e-5, atol=1e-6)
    model = onnx.load(str(out), load_external_data=False)
    assert "Identity" not in {n.op_type for n in model.graph.node}
    assert sorted(i.name for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL) == \
        sorted(f"{k}{i}" for k in "wb" for i in range(5))
    assert (tmp_path / "mlp.opt.onnx.data").stat().st_size == 5 * (2048 * 2048 + 2048) * 4
