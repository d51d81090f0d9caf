"""int4 weights for a large ONNX model, one weight in memory at a time: ONNX Runtime's own node quantizer (RTN or
HQQ) called node by node, each weight read from disk alone and its packed blocks written straight to the output's
data file.

`MatMulNBitsQuantizer.process()` holds the whole float model and the packed copies it adds. Its node quantizer
only needs the node and a graph stack in which to find the weight, so each call gets the model's graph (no
weights loaded: shapes for the rank checks) and, innermost, a scratch graph holding just that weight. The nodes
and bytes are ONNX Runtime's own. Only the top-level graph is streamed (weights used inside If/Loop bodies stay
float).
"""

from __future__ import annotations

from pathlib import Path

from modelport.passes.onnx_weightless import copy_tensor, extent, external_initializers, point, read_names

INLINE_BELOW = 1024  # new tensors under this many bytes stay in the graph (ONNX's own size_threshold)


def _loaded(tensor, source_dir: Path):
    """A copy of `tensor` with its bytes read into it."""
    import onnx

    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        location, offset, length = extent(tensor)
        with open(source_dir / location, "rb") as src:
            src.seek(offset)
            copy.raw_data = src.read(length)
        del copy.external_data[:]
        copy.data_location = onnx.TensorProto.DEFAULT
    return copy


def _weight_input(node) -> str | None:
    if node.op_type == "MatMul" and len(node.input) > 1:
        return node.input[1]
    if node.op_type == "Gather":
        return node.input[0]
    return None


def quantize_file(src: Path, out: Path, proto, node_quantizer, ops: tuple[str, ...], exclude: set[str]) -> int:
    """Quantize `proto` (the model at `src`, loaded without its weights) into `out` and its data file with
    `node_quantizer` (an ONNX Runtime WeightOnlyQuantizer). Returns how many nodes changed."""
    import onnx

    from modelport.core.io import side_data

    graph = proto.graph
    initializers = {t.name: t for t in graph.initializer}
    data_path = side_data(out)
    nodes, changed, added = [], 0, []
    with open(data_path, "wb") as data:
        for node in graph.node:
            name = _weight_input(node)
            if node.op_type not in ops or node.name in exclude or name not in initializers:
                nodes.append(node)
                continue
            scratch = onnx.GraphProto(name="weight")
            scratch.initializer.append(_loaded(initializers[name], src.parent))
            new = node_quantizer.quantize(node, [graph, scratch])
            if len(new) == 1 and new[0] is node:
                nodes.append(node)
                continue
            changed += 1
            for tensor in scratch.initializer[1:]:
                if len(tensor.raw_data) >= INLINE_BELOW:
                    start, size = data.tell(), len(tensor.raw_data)
                    data.write(tensor.raw_data)
                    tensor.ClearField("raw_data")
                    point(tensor, data_path.name, start, size)
                added.append(tensor)
            nodes += new
            del scratch
        del graph.node[:]
        graph.node.extend(nodes)
        used = read_names(graph)
        kept = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept + added)
        for tensor in external_initializers(proto):
            if tensor.name in initializers:  # a float tensor still read: copied across
                copy_tensor(tensor, src.parent, data, data_path.name)
    _opsets(proto, ops)
    onnx.save_model(proto, str(out))
    return changed


def _opsets(proto, ops: tuple[str, ...]) -> None:
    """What MatMulNBitsQuantizer.process() sets: the com.microsoft domain, and opset 21 / IR 10 for int4 Gather
    tables."""
    import onnx

    domains = {o.domain: o for o in proto.opset_import}
    if "com.microsoft" not in domains:
        proto.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    if "Gather" in ops:
        for entry in proto.opset_import:
            if entry.domain in ("", "ai.onnx") and entry.version < 21:
                entry.version = 21
        proto.ir_version = max(proto.ir_version, 10)
