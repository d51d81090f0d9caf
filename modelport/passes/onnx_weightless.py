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
    used = read_names(proto.graph)
    inputs = [i for i in proto.graph.input if i.name not in held]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
    back = [held[name] for name in held if name in used]
    proto.graph.initializer.extend(back)
    return len(held) - len(back)


def read_names(graph) -> set[str]:
    """Every name a node of `graph` or of its subgraphs reads, and the graph's outputs."""
    return {name for node in all_nodes(graph) for name in node.input} | {o.name for o in graph.output}


def all_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:  # subgraphs (If, Loop, Scan) may read outer initializers
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                yield from all_nodes(sub)


def copy_weights(proto, source_dir: Path, data: Path) -> None:
    """Copy each external tensor's bytes from where it points (under `source_dir`) into `data`, and point it
    there."""
    with open(data, "wb") as out:
        for tensor in external_initializers(proto):
            copy_tensor(tensor, source_dir, out, data.name)


def extent(tensor) -> tuple[str, int, int]:
    """An external tensor's file (relative to its model), offset and length in bytes."""
    import numpy as np
    import onnx

    info = {e.key: e.value for e in tensor.external_data}
    length = int(info["length"]) if "length" in info else \
        int(np.prod(tensor.dims, dtype=np.int64)) * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    return info["location"], int(info.get("offset", 0)), length


def point(tensor, location: str, offset: int, length: int) -> None:
    """Make `tensor` external at `location` (a file name beside the model)."""
    import onnx

    tensor.data_location = onnx.TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def copy_tensor(tensor, source_dir: Path, out, name: str) -> None:
    """Append an external tensor's bytes to the open file `out` (called `name`) in chunks, and point it there."""
    location, offset, length = extent(tensor)
    start, left = out.tell(), length
    with open(source_dir / location, "rb") as src:
        src.seek(offset)
        while left:
            chunk = src.read(min(CHUNK, left))
            if not chunk:
                raise ValueError(f"{location}: ends before tensor {tensor.name!r}")
            out.write(chunk)
            left -= len(chunk)
    point(tensor, name, start, length)


WEIGHTLESS_ABOVE = 64 << 20  # external weights larger than this are not read by the passes that can avoid it


def weights_on_disk(path: Path) -> bool:
    """Weights in an external data file, more than WEIGHTLESS_ABOVE of them."""
    import onnx

    from modelport.core.io import size_of_path
    from modelport.core.onnx_files import locations

    if size_of_path(path) - path.stat().st_size <= WEIGHTLESS_ABOVE:
        return False
    return bool(locations(onnx.load(str(path), load_external_data=False)))


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
