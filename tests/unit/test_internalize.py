"""internalize: weights a step wrote to `NAME.data` come back into the file, byte for byte, streamed when they
are top-level initializers and re-saved otherwise. Checked against onnx's own loader and onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from modelport.core.io import side_data
from modelport.core.onnx_files import inline_if_small, internalize, locations


def _model(constant_node: bool = False) -> onnx.ModelProto:
    """y = (x @ W + b) * s, with W big enough to go external, b small (stays inline), s in a Constant node."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    s = rng.standard_normal(32).astype(np.float32) * 100  # 128 bytes: external only at size_threshold 0
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["z"])]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b[:4].repeat(8), "b")]
    if constant_node:
        nodes.append(helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(s, "s")))
    else:
        inits.append(numpy_helper.from_array(s, "s"))
    nodes.append(helper.make_node("Mul", ["z", "s"], ["y"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="k", value="v")
    return model


def _save_external(model: onnx.ModelProto, path, threshold: int) -> None:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # onnx.save_model moves the tensors of the proto it is given
    onnx.save_model(copy, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=side_data(path).name, size_threshold=threshold, convert_attribute=True)


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _check_round_trip(tmp_path, monkeypatch, constant_node: bool, threshold: int) -> None:
    import modelport.core.onnx_files as onnx_files

    streamed = []
    real = onnx_files._stream_inline
    monkeypatch.setattr(onnx_files, "_stream_inline", lambda *a: streamed.append(1) or real(*a))
    original = _model(constant_node)
    path = tmp_path / "m.onnx"
    _save_external(original, path, threshold)
    assert locations(onnx.load(str(path), load_external_data=False)) == {"m.onnx.data"}
    x = np.random.default_rng(1).standard_normal((3, 64)).astype(np.float32)
    before = _run(path, x)
    internalize(path)
    assert streamed == ([] if constant_node else [1])  # a Constant's data is not an initializer: full load
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    got = onnx.load(str(path))
    onnx.checker.check_model(got, full_check=True)
    assert not locations(got)
    assert got.metadata_props == original.metadata_props
    assert [(n.op_type, n.input, n.output) for n in got.graph.node] == [
        (n.op_type, n.input, n.output) for n in original.graph.node]
    for a, b in zip(got.graph.node, original.graph.node):
        if a.op_type == "Constant":
            np.testing.assert_array_equal(*(numpy_helper.to_array(n.attribute[0].t) for n in (a, b)))
    assert [t.name for t in got.graph.initializer] == [t.name for t in original.graph.initializer]
    for a, b in zip(got.graph.initializer, original.graph.initializer):
        np.testing.assert_array_equal(numpy_helper.to_array(a), numpy_helper.to_array(b))
    np.testing.assert_array_equal(_run(path, x), before)
    w, b = numpy_helper.to_array(original.graph.initializer[0]), numpy_helper.to_array(original.graph.initializer[1])
    s = np.random.default_rng(0)  # the reference computed with numpy, not through onnx
    s.standard_normal((64, 32)), s.standard_normal(32)
    scale = s.standard_normal(32).astype(np.float32) * 100
    np.testing.assert_allclose(before, (x @ w + b) * scale, rtol=1e-5, atol=1e-3)


def test_initializers_in_the_data_file_are_streamed_back(tmp_path, monkeypatch):
    _check_round_trip(tmp_path, monkeypatch, constant_node=False, threshold=0)  # every initializer external


def test_a_mix_of_inline_and_external_initializers(tmp_path, monkeypatch):
    _check_round_trip(tmp_path, monkeypatch, constant_node=False, threshold=1024)  # W external, b and s inline


def test_a_constant_attribute_in_the_data_file_takes_the_full_load_path(tmp_path, monkeypatch):
    _check_round_trip(tmp_path, monkeypatch, constant_node=True, threshold=0)


def test_a_self_contained_file_is_left_alone_and_big_weights_stay_out(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    onnx.save_model(_model(), str(path))
    before = path.read_bytes()
    internalize(path)
    assert path.read_bytes() == before
    _save_external(_model(), path, 0)
    import modelport.core.onnx_files as onnx_files

    monkeypatch.setattr(onnx_files, "EXTERNAL_ABOVE", 100)  # the data file is "too big" to inline
    inline_if_small(path)
    assert side_data(path).exists()
    monkeypatch.undo()
    inline_if_small(path)
    assert not side_data(path).exists() and not locations(onnx.load(str(path)))


def test_an_openvino_ir_moves_and_is_removed_with_its_bin(tmp_path):
    """A candidate set aside (it ran but did not verify) is an IR too: its .bin follows, and neither is parsed as
    ONNX (a FNet IR crashed the chain with a protobuf DecodeError)."""
    from modelport.core.io import remove
    from modelport.core.onnx_files import move

    (tmp_path / "out.xml").write_text("<net/>")
    (tmp_path / "out.bin").write_bytes(b"\0" * 8)
    move(tmp_path / "out.xml", tmp_path / "kept.xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.bin", "kept.xml"]
    remove(tmp_path / "kept.xml")
    assert not list(tmp_path.iterdir())
