"""Regressions from `benchmarks/fuzz.py`: damaged models get exit 2 and one clear line, never exit 70.

Each model is built by hand (onnx.helper, the TFLite flatbuffer schema): no torch or TensorFlow needed.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError
from modelport.core.specs import MAX_INPUT_ELEMENTS, check_input_sizes

HAS_LITERT = importlib.util.find_spec("ai_edge_litert") is not None


def relu_onnx(path, dims=("N", 4)):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))
    return path


def relu_tflite(path, metadata: bytes | None = None, metadata_buffer: int = 3):
    """A one-RELU TFLite file written through the flatbuffer schema, with an optional `modelport` metadata buffer
    (`metadata_buffer`: the buffer index the metadata entry names)."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.RELU
    code.version = 1
    model.operatorCodes = [code]
    tensors = []
    for i, name in enumerate(("x", "y")):
        tensor = schema.TensorT()
        tensor.name, tensor.type, tensor.buffer = name, schema.TensorType.FLOAT32, i + 1
        tensor.shape = np.array([1, 4], np.int32)
        tensor.shapeSignature = np.array([-1, 4], np.int32)
        tensors.append(tensor)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, np.array([0], np.int32), np.array([1], np.int32)
    sub = schema.SubGraphT()
    sub.name, sub.tensors, sub.operators = "main", tensors, [op]
    sub.inputs, sub.outputs = np.array([0], np.int32), np.array([1], np.int32)
    model.subgraphs = [sub]
    model.buffers = [schema.BufferT() for _ in range(4)]
    if metadata is not None:
        model.buffers[3].data = np.frombuffer(metadata, dtype=np.uint8)
        entry = schema.MetadataT()
        entry.name, entry.buffer = "modelport", metadata_buffer
        model.metadata = [entry]
    fbu.write_model(model, str(path))
    return path


# ---------------------------------------------------------------- impossible input shapes (verify: MemoryError)
@pytest.mark.parametrize("dims", [(2**31 - 1, 4), (2**40, 4), ("N", 2**40)])  # past RAM: fails fast unfixed
def test_onnx_declaring_a_huge_input_is_exit_2(tmp_path, cli, dims):
    bad = relu_onnx(tmp_path / "bad.onnx", dims)
    good = relu_onnx(tmp_path / "good.onnx")
    for args in (("verify", good, bad), ("verify", bad, good), ("bench", bad)):
        code, _, err = cli(*args)
        assert code == 2, err
        assert err.startswith(f"modelport: error: {bad}: input 'x' declares shape (") and "internal" not in err
        assert len(err.strip().splitlines()) == 2


def test_input_size_rule():
    check_input_sizes("m", [TensorSpec("x", ("batch", 3, 4096, 4096)), TensorSpec("y", (None, 2**28))])
    check_input_sizes("m", [TensorSpec("x", (0, 5)), TensorSpec("y", (-1, 7))])
    with pytest.raises(UsageError, match=r"input 'x' declares shape \(batch, 2, 134217729\)"):
        check_input_sizes("m", [TensorSpec("x", ("batch", 2, MAX_INPUT_ELEMENTS // 2 + 1))])


# ---------------------------------------------------------------- TFLite tables and metadata
@pytest.mark.skipif(not HAS_LITERT, reason="needs ai-edge-litert")
def test_tflite_with_damaged_provenance_is_exit_2(tmp_path, cli):
    good = relu_tflite(tmp_path / "good.tflite", json.dumps({"route": "keras-tflite"}).encode())
    code, out, err = cli("inspect", good, "--json", "-")
    assert code == 0, err
    assert json.loads(out)["model"]["provenance"] == {"route": "keras-tflite"}
    bad = relu_tflite(tmp_path / "bad.tflite", b'{"route": "keras\x01tflite"}')  # one flipped bit in the JSON
    code, _, err = cli("inspect", bad)
    assert code == 2, err
    assert err.startswith(f"modelport: error: {bad}: not a valid TFLite file (corrupt or truncated?)")
    assert "JSONDecodeError" in err and len(err.strip().splitlines()) == 2


@pytest.mark.skipif(not HAS_LITERT, reason="needs ai-edge-litert")
def test_tflite_with_a_metadata_entry_past_the_buffers_is_exit_2(tmp_path, cli):
    """The interpreter opens it; reading the tables for `inspect` raised IndexError (fuzz: a flipped bit)."""
    bad = relu_tflite(tmp_path / "bad.tflite", b"{}", metadata_buffer=2**24 + 3)
    code, _, err = cli("inspect", bad)
    assert code == 2, err
    assert err.startswith(f"modelport: error: {bad}: not a valid TFLite file (corrupt or truncated?) (IndexError")


@pytest.mark.skipif(not HAS_LITERT, reason="needs ai-edge-litert")
def test_tflite_failing_after_the_constructor_is_exit_2(tmp_path, cli):
    """A file the interpreter opens but cannot allocate (an impossible dim, no signature) is a load error."""
    path = relu_tflite(tmp_path / "m.tflite")
    raw = path.read_bytes()
    shape = bytes.fromhex("02000000 01000000 04000000")  # the tensors' shape vectors [1, 4]
    assert raw.count(shape) == 2
    path.write_bytes(raw.replace(shape, bytes.fromhex("02000000 ffffff7f 04000000")))  # [2**31 - 1, 4]
    code, _, err = cli("inspect", path)
    assert code == 2, err
    assert err.startswith(f"modelport: error: {path}: ") and "internal" not in err


# ---------------------------------------------------------------- torch.export: the error torch only logs
@pytest.mark.slow
def test_pt2_missing_a_weight_names_it_without_a_traceback(models, tmp_path):
    """torch logs the real error, traceback included, as a warning and raises "check the warnings above": the
    user gets the real error in one line, and the logged traceback stays off stderr."""
    pytest.importorskip("torch")
    import zipfile

    from tests.conftest import run_cli

    src = zipfile.ZipFile(models("cnn_pt2"))
    path = tmp_path / "damaged.pt2"
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            if not info.filename.endswith("weights/weight_0"):
                out.writestr(info.filename, src.read(info.filename))
    proc = run_cli("inspect", path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "warnings above" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "data/weights/weight_0" in lines[0]
