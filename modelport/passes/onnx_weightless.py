"""Optimize a large ONNX model without reading its weights: the graph goes through onnxslim while the weights
stay in their data file, then are copied, tensor by tensor, into the output's.

A model whose weights are in an external data file is loaded without them. Each external initializer becomes a
graph input of its type and shape for the time of the pass: onnxslim's shape inference, fusions and dead-node
elimination see a value like any other, and nothing folds it (folding would need its bytes). Afterwards the
inputs still used become initializers again, pointing at the output's data file, into which each used tensor's
bytes are copied in chunks. Peak memory is the graph plus one chunk, not onnxslim's several copies of the
weights (a 2 GB model: 6.7x its weights through the in-memory path).

What this skips: folding or fusing that needs a weight's values (a Transpose of a weight, MatMul + Add into
Gemm with a constant bias), and `--level` (ONNX Runtime's offline pass loads the weights itself: that runs the
in-memory path). The step says so in its facts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHUNK = 64 << 20


def external_initializers(proto) -> list:
    import onnx

    return [t for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]


def lift(proto) -> dict[str, Any]:
    """Take the external initializers out of the graph as inputs; returns them by name (their references)."""
    import onnx

    held = {}
    for tensor in external_initializers(proto):
        held[tensor.name] = onnx.TensorProto()
        held[tensor.name].CopyFrom(tensor)
        proto.graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    keep = [t for t in proto.graph.initializer if t.name not in held]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    return held


def lower(proto, held: dict[str, Any]) -> int:
    """Put the held tensors still used back as initializers (and out of the inputs); returns how many went."""
    used = {name for node in _nodes(proto.graph) for name in node.input}
    inputs = [i for i in proto.graph.input if i.name not in held]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
    back = [held[name] for name in held if name in used]
    proto.graph.initializer.extend(back)
    return len(held) - len(back)


def _nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:  # subgraphs (If, Loop, Scan) may read outer initializers
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                yield from _nodes(sub)


def copy_weights(proto, source_dir: Path, data: Path) -> None:
    """Copy each external tensor's bytes from where it points (under `source_dir`) into `data`, and point it
    there."""
    import numpy as np
    import onnx

    with open(data, "wb") as out:
        for tensor in external_initializers(proto):
            info = {e.key: e.value for e in tensor.external_data}
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else \
                int(np.prod(tensor.dims, dtype=np.int64)) * onnx.helper.tensor_dtype_to_np_dtype(
                    tensor.data_type).itemsize
            start = out.tell()
            with open(source_dir / info["location"], "rb") as src:
                src.seek(offset)
                left = length
                while left:
                    chunk = src.read(min(CHUNK, left))
                    if not chunk:
                        raise ValueError(f"{info['location']}: ends before tensor {tensor.name!r}")
                    out.write(chunk)
                    left -= len(chunk)
            del tensor.external_data[:]
            for key, value in (("location", data.name), ("offset", str(start)), ("length", str(length))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value


def optimize_file(src: Path, out: Path, optimize) -> dict:
    """The weightless path (see the module docstring): `optimize(proto, held_bytes)` is the in-memory pass, run
    on the graph alone. Returns the step's facts."""
    import onnx

    from modelport.core.io import side_data

    proto = onnx.load(str(src), load_external_data=False)
    held = lift(proto)
    result = optimize(proto, sum(int(e.value) for t in held.values() for e in t.external_data if e.key == "length"))
    slim = result.model
    dropped = lower(slim, held)
    copy_weights(slim, src.parent, side_data(out))
    onnx.save_model(slim, str(out))
    note = (f"weights over the in-memory size stayed on disk ({len(held)} tensors): passes that need their values "
            "(folding, constant fusions) did not run on them")
    steps = [*result.steps, note] + ([f"{dropped} unused weight tensors dropped"] if dropped else [])
    return {"steps": steps, "skipped": result.skipped, "warnings": result.skipped + result.warnings}
