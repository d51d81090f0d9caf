"""What a model file is, takes, returns and holds, for every readable format.

One function per format family; framework imports stay inside them. Loading is as safe as for convert.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from modelport.core.formats import Format
from modelport.core.io import size_of_path


def inspect_model(path: str | Path, fmt: Format, *, trust: bool = False, input_specs=None, task: str | None = None
                  ) -> dict[str, Any]:
    """Facts about a model file for `modelport inspect` (see docs/inspect.md)."""
    info: dict[str, Any] = {"path": str(path), "format": fmt.value, "size_bytes": size_of_path(path)}
    if fmt is Format.ONNX:
        info.update(_onnx(path))
    elif fmt is Format.TFLITE:
        info.update(_tflite(path))
    else:
        from modelport.loaders import open_model

        model = open_model(path, fmt, trust=trust, input_specs=input_specs, purpose="inspect", task=task)
        info.update({
            "framework": model.framework_version,
            "inputs": [s.to_dict() for s in model.inputs],
            "outputs": [{"name": n} for n in model.outputs],
        })
        info.update(model.inspect())
    info.setdefault("provenance", {})
    return info


def _onnx(path) -> dict[str, Any]:
    import numpy as np
    import onnx

    from modelport.core.errors import UsageError
    from modelport.core.onnx_graph import graph_io
    from modelport.core.provenance import read_onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{path}: cannot read ONNX model ({type(exc).__name__})",
                         hint="is the file complete?") from exc
    graph = model.graph
    inputs, outputs = graph_io(model)
    ops: Counter = Counter()
    stack = [graph]
    while stack:  # count nodes in subgraphs (If/Loop/Scan bodies) too
        g = stack.pop()
        for node in g.node:
            ops[f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    stack.append(attr.g)
                stack.extend(attr.graphs)
    # weights: float and 8-bit (quantized) initializers; int64/int32 ones are shape constants
    weight_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                    onnx.TensorProto.BFLOAT16, onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    params = sum(int(np.prod(t.dims)) if t.dims else 1 for t in graph.initializer if t.data_type in weight_types)
    return {
        "framework": f"onnx {onnx.__version__}",
        "ir_version": model.ir_version,
        "opsets": {op.domain or "ai.onnx": op.version for op in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": inputs,
        "outputs": outputs,
        "operators": dict(ops.most_common()),
        "nodes": sum(ops.values()),
        "parameters": params,
        "provenance": read_onnx(path, model),
    }


def _tflite(path) -> dict[str, Any]:
    from modelport.core.errors import UsageError, one_line
    from modelport.runtimes.tflite.model import TfliteModel

    model = TfliteModel(path)
    info: dict[str, Any] = {
        "framework": model.framework_version,
        "signature": model.signature,
        "inputs": [s.to_dict() for s in model.inputs],
        "outputs": [{"name": n, "shape": model.output_shapes.get(n) if model.runner else None}
                    for n in model.outputs],
    }
    try:  # the interpreter accepted the file; a damaged table or metadata buffer can still break these reads
        info.update(_tflite_tables(path))
    except Exception as exc:
        raise UsageError(f"{path}: not a valid TFLite file (corrupt or truncated?) ({one_line(exc)})",
                         hint="re-save the model") from exc
    return info


def _tflite_tables(path) -> dict[str, Any]:
    """Operators, parameters and modelport provenance, read from the flatbuffer itself."""
    import numpy as np

    from modelport.core.provenance import read_tflite, tflite_tools

    info: dict[str, Any] = {}
    tools = tflite_tools()
    flat = None
    if tools is not None:
        _, fbu = tools
        flat = fbu.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
        ops: Counter = Counter()
        params = 0
        for sub in flat.subgraphs or []:
            for op in sub.operators or []:
                ops[fbu.opcode_to_name(flat, op.opcodeIndex)] += 1
            for tensor in sub.tensors or []:
                buf = flat.buffers[tensor.buffer] if tensor.buffer < len(flat.buffers) else None
                if buf is not None and buf.data is not None and len(buf.data):
                    params += int(np.prod(tensor.shape)) if tensor.shape is not None and len(tensor.shape) else 1
        info.update({"schema_version": flat.version, "operators": dict(ops.most_common()),
                     "nodes": sum(ops.values()), "parameters": params})
    info["provenance"] = read_tflite(path, flat)
    return info
