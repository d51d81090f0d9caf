"""`compress --method dynamic-int8` of a model whose weights are on disk: quantized tensor by tensor, the same
graph and bytes as ONNX Runtime's quantize_dynamic."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.slow]

WIDTH = 2048  # five 16 MB weights: over the 64 MB at which weights stay on disk


def _model(path):
    """MatMul, a Gemm on a transposed weight with a bias, a plain Gemm, then two MatMuls reading one activation
    (one DynamicQuantizeLinear for both) and a Gather whose table stays float."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name):
        return numpy_helper.from_array((rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32),
                                       name)

    inits = [weight(f"w{i}") for i in range(5)] + [
        numpy_helper.from_array(np.linspace(-1, 1, WIDTH, dtype=np.float32), "bias"),
        numpy_helper.from_array(rng.standard_normal((10, WIDTH)).astype(np.float32), "table")]
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h0"], "matmul0"),
             helper.make_node("Gemm", ["h0", "w1", "bias"], ["h1"], "gemm_t", transB=1),
             helper.make_node("Tanh", ["h1"], ["t1"]),
             helper.make_node("Gemm", ["t1", "w2"], ["h2"], "gemm_plain"),
             helper.make_node("MatMul", ["h2", "w3"], ["a"], "left"),
             helper.make_node("MatMul", ["h2", "w4"], ["b"], "right"),
             helper.make_node("Gather", ["table", "ids"], ["g"], "lookup"),
             helper.make_node("ReduceSum", ["g"], ["gs"], keepdims=0),
             helper.make_node("Add", ["a", "b"], ["ab"]),
             helper.make_node("Add", ["ab", "gs"], ["y"])]
    graph = helper.make_graph(nodes, "mix", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", WIDTH]),
                                             helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", WIDTH])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=1024)


def _initializers(path) -> dict:
    import onnx
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def _run(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_a_large_model_is_quantized_as_onnxruntime_does_it_without_loading_it(tmp_path, cli):
    """Each int8 weight, scale and zero point equals ONNX Runtime's (Gemm weights transposed), the two models
    compute the same outputs, the Gather table stays float, and compress verified the result against the source."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, out, ref = tmp_path / "mix.onnx", tmp_path / "mix.int8.onnx", tmp_path / "ref.onnx"
    _model(src)
    code, stdout, err = cli("compress", src, "-o", out, "--method", "dynamic-int8", "--runs", "3", "--json", "-")
    assert code == 0, err
    report = json.loads(stdout)
    assert any("Gather tables stay float" in w for w in report["warnings"])  # the streamed path ran
    assert report["verification"]["passed"]
    quantize_dynamic(str(src), str(ref), weight_type=QuantType.QInt8, use_external_data_format=True,
                     nodes_to_exclude=["lookup"])  # ORT would quantize the table; here it stays float
    ours, theirs = _initializers(out), _initializers(ref)
    names = [f"w0_{s}" for s in ("quantized", "scale", "zero_point")] + \
            [f"w{i}_Transposed_{s}" if i == 1 else f"w{i}_{s}" for i in (1, 2, 3, 4)
             for s in ("quantized", "scale", "zero_point")]
    for name in names:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
        assert ours[name].dtype == theirs[name].dtype, name
    assert ours["table"].dtype == np.float32 and not any(n.startswith("w") and n[1:].isdigit() for n in ours)
    model = onnx.load(str(out), load_external_data=False)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("DynamicQuantizeLinear") == 4 and ops.count("MatMulInteger") == 5 and "Gemm" not in ops
    feeds = {"x": np.random.default_rng(1).standard_normal((4, WIDTH)).astype(np.float32),
             "ids": np.array([0, 3, 9], np.int64)}
    np.testing.assert_allclose(_run(out, feeds), _run(ref, feeds), rtol=1e-6, atol=1e-5)
    assert (tmp_path / "mix.int8.onnx.data").stat().st_size == 5 * WIDTH * WIDTH + 10 * WIDTH * 4 + WIDTH * 4


def test_nodes_kept_float_keep_their_weights(tmp_path):
    from modelport.passes.onnx_stream_int8 import quantize_file

    src, out = tmp_path / "mix.onnx", tmp_path / "part.onnx"
    _model(src)
    facts = quantize_file(src, out, {"gemm_plain", "left"})
    assert facts["steps"][0].startswith("3 MatMul/Gemm")
    feeds = {"x": np.random.default_rng(2).standard_normal((2, WIDTH)).astype(np.float32),
             "ids": np.array([1, 1, 2], np.int64)}
    got, want = _run(out, feeds), _run(src, feeds)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()  # int8 error, not a broken graph
    weights = _initializers(out)
    assert weights["w2"].dtype == np.float32 and weights["w3"].dtype == np.float32 and "w4" not in weights


@pytest.mark.parametrize("symmetric", [False, True])
def test_int4_weights_streamed_node_by_node_equal_onnxruntimes_whole_model_pass(tmp_path, symmetric):
    """The streamed int4 path (ONNX Runtime's node quantizer fed one weight at a time) writes the same nodes and
    the same packed blocks, scales and zero points as MatMulNBitsQuantizer.process() on the loaded model."""
    import onnx
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    from modelport.passes.onnx_stream_int4 import quantize_file

    src, out = tmp_path / "mix.onnx", tmp_path / "int4.onnx"
    _model(src)
    ops, axes = ("MatMul", "Gather"), (("MatMul", 0), ("Gather", 1))

    def quantizer(model):
        config = nbits.DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=symmetric, bits=4,
                                                    op_types_to_quantize=ops, quant_axes=axes)
        return nbits.MatMulNBitsQuantizer(model, block_size=32, is_symmetric=symmetric, nodes_to_exclude=["right"],
                                          op_types_to_quantize=ops, quant_axes=axes, algo_config=config)

    weightless = onnx.load(str(src), load_external_data=False)
    changed = quantize_file(src, out, weightless, quantizer(weightless).node_quantizer, ops, {"right"})
    assert changed == 3  # matmul0, left, lookup (the Gemm nodes are not MatMulNBits targets)
    whole = quantizer(onnx.load(str(src)))
    whole.process()
    ours, theirs = onnx.load(str(out)), whole.model.model
    assert [(n.op_type, list(n.input)) for n in ours.graph.node] == \
        [(n.op_type, list(n.input)) for n in theirs.graph.node]
    from onnx import numpy_helper

    want = {t.name: numpy_helper.to_array(t) for t in theirs.graph.initializer}
    got = {t.name: numpy_helper.to_array(t) for t in ours.graph.initializer}
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    feeds = {"x": np.random.default_rng(3).standard_normal((2, WIDTH)).astype(np.float32),
             "ids": np.array([4, 0, 7], np.int64)}
    ref = tmp_path / "ref.onnx"
    onnx.save_model(theirs, str(ref), save_as_external_data=True, location="ref.onnx.data")
    np.testing.assert_array_equal(_run(out, feeds), _run(ref, feeds))
