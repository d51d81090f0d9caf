"""ONNX taps for `--locate`: each node's first output, labelled with the PyTorch module scope the exporter
recorded, else the node name; paired with PyTorch's nodes by the fx text the exporter recorded."""

from __future__ import annotations

import numpy as np

from modelport.core.fx_text import FX_NODE, fx_signatures
from modelport.core.model import Tap, cast_feed

_LARGE = 1024  # elements: initializers at least this large are fed, not copied into each tap session


def onnx_taps(om) -> list[Tap]:
    import ast

    nodes = [n for n in onnx_proto(om).graph.node if n.output and n.output[0]]
    texts, last = {}, {}
    for node in nodes:  # the fx graph the PyTorch exporter converted, when it recorded one
        text = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.fx_node"), "")
        m = FX_NODE.match(text.strip())
        if m:
            texts[m.group(1)] = text
            last[m.group(1)] = node.output[0]  # the last ONNX node of an fx node produces its value
    by_output = {out: key for name, key in fx_signatures(texts).items() if (out := last.get(name))}
    taps = []
    for node in nodes:
        meta = {p.key: p.value for p in node.metadata_props}
        layer = node.name or node.output[0]
        scopes = meta.get("pkg.torch.onnx.name_scopes")
        if scopes:
            try:
                parts = ast.literal_eval(scopes)[1:-1]
                layer = parts[-1] if parts else "(top level)"
            except (ValueError, SyntaxError):
                pass
        taps.append(Tap(node.output[0], layer, node.op_type, by_output.get(node.output[0], "")))
    return taps


def onnx_proto(om):
    """The model's ONNX graph, read once and kept on it (taps, tap values and damage all use it), with its large
    initializers moved out to graph inputs: their arrays are kept beside it (`onnx_weights`) and fed at each
    tap run, so the sessions built for a few values never copy the weights."""
    if getattr(om, "_taps_proto", None) is None:
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(om.path))
        graph, weights, kept = model.graph, {}, []
        declared = {i.name for i in graph.input}
        for init in graph.initializer:
            if int(np.prod(init.dims, dtype=np.int64)) >= _LARGE:
                weights[init.name] = numpy_helper.to_array(init)
                if init.name not in declared:
                    graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, init.dims))
            else:
                kept.append(init)
        del graph.initializer[:]
        graph.initializer.extend(kept)
        om._taps_proto, om._taps_weights = model, weights
    return om._taps_proto


def onnx_weights(om) -> dict:
    onnx_proto(om)
    return om._taps_weights


def onnx_tap_values(om, feed: dict, keys: list[str]) -> dict:
    """The values as extra graph outputs of a session built for this call only, its weights fed from the arrays
    kept beside the graph (never a second copy), without ONNX Runtime's memory arena: what it allocates for these
    few values goes back when the call ends. Without constant weights, ONNX Runtime does not fuse quantized
    patterns: values of a QDQ model are computed as its graph states them."""
    import onnx
    import onnxruntime as ort

    model = onnx_proto(om)
    present = {o.name for o in model.graph.output}
    added = [onnx.ValueInfoProto(name=key) for key in keys if key not in present]
    model.graph.output.extend(added)
    try:
        data = model.SerializeToString()
    finally:
        del model.graph.output[len(model.graph.output) - len(added):]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.enable_cpu_mem_arena = False
    session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    del data
    arrays = cast_feed(feed, om.inputs)
    values = session.run(list(keys), {**onnx_weights(om), **{s.name: a for s, a in zip(om.inputs, arrays)}})
    return dict(zip(keys, values))
