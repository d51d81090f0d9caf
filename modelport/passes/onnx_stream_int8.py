"""Dynamic int8 for a large ONNX model without holding its weights: the graph ONNX Runtime's `quantize_dynamic`
writes for MatMul and Gemm, built here tensor by tensor.

ONNX Runtime's quantizer loads every weight, copies the model (quant_pre_process) and keeps the float and the int8
tensors together: 6-7x the weights at its peak on a 2 GB model. Here the graph is read without its weights; each
MatMul / Gemm weight is read from its data file in chunks twice (its range, then its int8 values) and its int8
bytes go straight into the output's data file; the float tensors left are copied across in chunks. Peak memory
is the graph plus one weight's int8 copy.

What is written is what ONNX Runtime writes (tests compare the bytes): per tensor, symmetric int8 weights (scale
= max|w| / 127, zero point 0), a DynamicQuantizeLinear per activation (uint8, shared by the nodes that read it),
MatMulInteger, a Cast back to float and a Mul by the product of the two scales; a Gemm with alpha = beta = 1 and
no transA becomes a MatMul on its transposed weight and an Add of its bias. What differs: the embedding tables
(Gather) stay float, and no quant_pre_process runs first (weights computed at run time from constants are not
seen). Models with other int8 targets (Conv, LSTM, Attention) take ONNX Runtime's path.
"""

from __future__ import annotations

from pathlib import Path

from modelport.passes.onnx_weightless import CHUNK, copy_tensor, extent, external_initializers, point, read_names

OTHER_TARGETS = {"Conv", "ConvTranspose", "LSTM", "GRU", "Attention", "EmbedLayerNormalization"}
QMAX = 127  # symmetric int8: [-127, 127]


def streamable(proto) -> bool:
    """No int8 target but MatMul / Gemm (and Gather, which stays float)."""
    return not any(n.op_type in OTHER_TARGETS for n in proto.graph.node)


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _weight_of(node, initializers: dict, keep: set[str]):
    """(activation, weight name, transposed, bias) for a node to quantize, else None."""
    import onnx

    if node.name in keep or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
        return None
    tensor = initializers.get(node.input[1])
    if tensor is None or tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) != 2:
        return None
    if node.op_type == "MatMul":
        return node.input[0], node.input[1], False, None
    if node.op_type == "Gemm":
        attrs = _attrs(node)
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
            return None
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        return node.input[0], node.input[1], bool(attrs.get("transB", 0)), bias
    return None


class _Reader:
    """A float32 weight's rows, a chunk at a time, from its data file (or its inline bytes)."""

    def __init__(self, tensor, source_dir: Path):
        import onnx

        self.tensor, self.source_dir = tensor, source_dir
        self.rows, self.cols = (int(d) for d in tensor.dims)
        self.external = tensor.data_location == onnx.TensorProto.EXTERNAL

    def chunks(self):
        import numpy as np
        from onnx import numpy_helper

        if not self.external:
            yield numpy_helper.to_array(self.tensor).astype(np.float32, copy=False)
            return
        location, offset, _ = extent(self.tensor)
        step = max(1, CHUNK // (self.cols * 4))
        with open(self.source_dir / location, "rb") as src:
            src.seek(offset)
            for start in range(0, self.rows, step):
                count = min(step, self.rows - start) * self.cols
                data = np.fromfile(src, dtype="<f4", count=count)
                if data.size != count:
                    raise ValueError(f"{location}: ends before tensor {self.tensor.name!r}")
                yield data.reshape(-1, self.cols)


def quantize_weight(reader: _Reader, transposed: bool):
    """(int8 values, float32 scale) as ONNX Runtime computes them (quant_utils.compute_scale_zp and
    quantize_nparray, symmetric int8): the same float32 operations, so the same bytes."""
    import numpy as np

    low = high = np.float32(0)
    for chunk in reader.chunks():
        low, high = min(low, chunk.min()), max(high, chunk.max())
    absmax = max(abs(low), abs(high))
    scale = np.array(np.float64(absmax) * 2 / (2 * QMAX))
    scale = np.array(1.0, np.float32) if scale < np.finfo(np.float32).tiny else scale.astype(np.float32)
    values = np.empty((reader.rows, reader.cols), np.int8)
    row = 0
    for chunk in reader.chunks():
        q = np.asarray(chunk / scale).round()
        np.clip(q, -128, 127, out=q)
        values[row:row + len(chunk)] = q
        row += len(chunk)
    return (np.ascontiguousarray(values.T) if transposed else values), scale


class _Builder:
    """The new nodes and initializers, the int8 bytes appended to the output's data file as they come."""

    def __init__(self, proto, data, data_name: str, source_dir: Path):
        self.proto, self.data, self.data_name, self.source_dir = proto, data, data_name, source_dir
        self.initializers = {t.name: t for t in proto.graph.initializer}
        self.activations: dict[str, tuple[str, str, str]] = {}
        self.weights: dict[tuple[str, bool], tuple[str, str, str]] = {}
        self.taken = {n for node in proto.graph.node for n in (*node.input, *node.output)} | set(self.initializers)
        self.new_initializers: list = []

    def _name(self, wanted: str) -> str:
        name, n = wanted, 0
        while name in self.taken:
            n += 1
            name = f"{wanted}_{n}"
        self.taken.add(name)
        return name

    def activation(self, name: str, nodes: list) -> tuple[str, str, str]:
        import onnx

        if name not in self.activations:
            outs = tuple(self._name(f"{name}_{s}") for s in ("quantized", "scale", "zero_point"))
            nodes.append(onnx.helper.make_node("DynamicQuantizeLinear", [name], list(outs),
                                               self._name(f"{name}_QuantizeLinear")))
            self.activations[name] = outs
        return self.activations[name]

    def weight(self, name: str, transposed: bool) -> tuple[str, str, str]:
        import numpy as np
        import onnx
        from onnx import numpy_helper

        if (name, transposed) not in self.weights:
            base = f"{name}_Transposed" if transposed else name
            values, scale = quantize_weight(_Reader(self.initializers[name], self.source_dir), transposed)
            q = onnx.TensorProto(name=self._name(f"{base}_quantized"), data_type=onnx.TensorProto.INT8,
                                 dims=list(values.shape))
            start = self.data.tell()
            values.tofile(self.data)
            point(q, self.data_name, start, values.nbytes)
            del values
            scale_t = numpy_helper.from_array(scale.reshape(()), self._name(f"{base}_scale"))
            zero = numpy_helper.from_array(np.array(0, np.int8), self._name(f"{base}_zero_point"))
            self.new_initializers += [q, scale_t, zero]
            self.weights[name, transposed] = (q.name, scale_t.name, zero.name)
        return self.weights[name, transposed]

    def replace(self, node, activation: str, weight: str, transposed: bool, bias: str | None) -> list:
        import onnx

        nodes: list = []
        a_q, a_scale, a_zero = self.activation(activation, nodes)
        w_q, w_scale, w_zero = self.weight(weight, transposed)
        base = node.name or node.output[0]
        scales, product, as_float = (self._name(f"{base}_{s}") for s in ("scales", "quantized", "cast"))
        result = self._name(f"{node.output[0]}_MatMul") if bias else node.output[0]
        nodes += [onnx.helper.make_node("Mul", [a_scale, w_scale], [scales], self._name(f"{base}_scales_mul")),
                  onnx.helper.make_node("MatMulInteger", [a_q, w_q, a_zero, w_zero], [product],
                                        self._name(f"{base}_quant")),
                  onnx.helper.make_node("Cast", [product], [as_float], self._name(f"{base}_cast"),
                                        to=onnx.TensorProto.FLOAT),
                  onnx.helper.make_node("Mul", [as_float, scales], [result], self._name(f"{base}_mul"))]
        if bias:
            nodes.append(onnx.helper.make_node("Add", [result, bias], [node.output[0]], self._name(f"{base}_add")))
        return nodes


def quantize_file(src: Path, out: Path, keep_float: set[str]) -> dict:
    """Write the dynamic-int8 model of `src` to `out` and its data file (see the module docstring). Returns the
    step's facts."""
    import onnx

    from modelport.core.errors import UnsupportedError
    from modelport.core.io import side_data

    proto = onnx.load(str(src), load_external_data=False)
    data_path = side_data(out)
    with open(data_path, "wb") as data:
        builder = _Builder(proto, data, data_path.name, src.parent)
        nodes, quantized = [], 0
        for node in proto.graph.node:
            plan = _weight_of(node, builder.initializers, keep_float)
            if plan is None:
                nodes.append(node)
                continue
            nodes += builder.replace(node, *plan)
            quantized += 1
        if not quantized:
            raise UnsupportedError("dynamic-int8: no MatMul or Gemm with a constant float weight to quantize")
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
        used = read_names(proto.graph)  # subgraphs (If, Loop) may read outer initializers too
        kept = [t for t in proto.graph.initializer if t.name in used]
        del proto.graph.initializer[:]
        proto.graph.initializer.extend(kept + builder.new_initializers)
        for tensor in external_initializers(proto):
            if tensor.name in builder.initializers:  # a float tensor still read: copied across
                copy_tensor(tensor, src.parent, data, data_path.name)
    _opset_for_integer_ops(proto)
    onnx.save_model(proto, str(out))
    tables = sum(1 for n in nodes if n.op_type == "Gather" and n.input[0] in builder.initializers)
    return {"steps": [f"{quantized} MatMul/Gemm quantized to int8 tensor by tensor (weights streamed from disk; "
                      "no quant_pre_process, so weights computed at run time from constants stay float)"],
            "warnings": [f"large model: Gather tables stay float ({tables} embedding tables not quantized)"]
            if tables else []}


def _opset_for_integer_ops(proto) -> None:
    """DynamicQuantizeLinear and MatMulInteger need opset 11 and 10."""
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx") and entry.version < 11:
            entry.version = 11
