"""Small helpers on ONNX protos shared by routes, passes, fuse and inspect (onnx imported lazily)."""

from __future__ import annotations

from typing import Any


def dims(value_info: Any) -> list:
    """A value's shape: ints for fixed dims, the symbol (or None) for dynamic ones."""
    shape = value_info.type.tensor_type.shape
    return [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in shape.dim]


def value_spec(value_info: Any) -> dict:
    """{"name", "shape", "dtype"} of a graph input or output (numpy dtype name, or "unknown")."""
    import numpy as np
    import onnx

    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type)).name
    except Exception:
        dtype = "unknown"
    return {"name": value_info.name, "shape": dims(value_info), "dtype": dtype}


def graph_io(model: Any) -> tuple[list[dict], list[dict]]:
    """Real inputs (initializers listed as inputs, as IR-3 files do, left out) and outputs of a model."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [value_spec(v) for v in model.graph.input if v.name not in inits]
    return inputs, [value_spec(v) for v in model.graph.output]


def rename_io(model: Any, inputs: list[str] | None = None, outputs: list[str] | None = None) -> None:
    """Rename ONNX graph inputs/outputs by position, rewiring every node that uses them."""
    mapping = {}
    if inputs:
        for vi, new in zip(model.graph.input, inputs):
            if vi.name != new:
                mapping[vi.name] = new
    if outputs:
        for vi, new in zip(model.graph.output, outputs):
            if vi.name != new:
                mapping[vi.name] = new
    if not mapping:
        return
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if vi.name in mapping:
            vi.name = mapping[vi.name]
    for node in model.graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]


def sort_topologically(graph: Any) -> None:
    """Reorder a graph's nodes so each comes after the nodes producing its inputs, as the ONNX spec requires
    (onnxruntime's float16 converter appends input Casts at the end: ORT runs that, onnx.checker and other
    runtimes refuse it). Nodes in a cycle or fed by unknown names keep their relative order at the end."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    available |= {t.name for t in graph.sparse_initializer}
    pending = list(graph.node)
    ordered = []
    progress = True
    while pending and progress:
        progress = False
        rest = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
                progress = True
            else:
                rest.append(node)
        pending = rest
    ordered += pending
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def repair_ir3(model, steps: list[str]) -> None:
    """IR < 4 lists weights as graph inputs: drop them from the inputs and raise IR to 4."""
    inits = {i.name for i in model.graph.initializer}
    listed = [vi for vi in model.graph.input if vi.name in inits]
    if model.ir_version < 4 or listed:
        keep = [vi for vi in model.graph.input if vi.name not in inits]
        del model.graph.input[:]
        model.graph.input.extend(keep)
        if model.ir_version < 4:
            model.ir_version = 4
        steps.append(f"IR-3 repair: {len(listed)} initializers removed from graph inputs")
