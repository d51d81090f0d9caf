"""Intermediate values ("taps") for `--locate`, per framework, read a few at a time.

PyTorch: the nodes of the exported program (`torch.export`), named as the ONNX dynamo exporter names its
tensors, labelled with the module path that computed them (`nn_module_stack`). Keras: each layer's output.
ONNX: each node's first output, labelled with the PyTorch module scope the exporter recorded, else the node
name. A call never keeps more than the values asked for.
"""

from __future__ import annotations

import re

import numpy as np

from modelport.core.model import Tap, cast_feed

_FX_NODE = re.compile(r"^%(\w+) : .*?= (\w+)\[target=([^\]]+)\](.*)$", re.S)
_REF = re.compile(r"%(\w+)")
_LARGE = 1024  # elements: initializers at least this large are fed, not copied into each tap session


def _leaf(name: str) -> str:
    """Inputs and weights by what they are, whatever the program calls them (p_x.weight, x_weight, ...)."""
    return re.sub(r"^(p|b|c)_", "", name).replace(".", "_")


def fx_signatures(texts: dict[str, str], leaves: dict[str, str] | None = None) -> dict[str, str]:
    """A key per fx node: its name, target and arguments as printed, with inputs and weights named by what
    they are (`p_embed_weight`, `embed_weight` and `embed.weight` are one weight). The graph the ONNX exporter
    recorded in each ONNX node's metadata and the program it converted print the same nodes the same way."""
    leaves = leaves or {}
    keys = {}
    for name, text in texts.items():
        m = _FX_NODE.match(text.strip())
        if m and m.group(2) == "call_function":
            args = _REF.sub(lambda r: "%" + _leaf(leaves.get(r.group(1), r.group(1))), m.group(4))
            keys[name] = f"{name}|{m.group(3)}|{args}"
    return keys


def _short(cls) -> str:
    name = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return name.rsplit(".", 1)[-1]


def _graph_module(tm):
    """The program the ONNX dynamo exporter converts (exported, then decomposed as the exporter does: its
    `exported_program`), unlifted and cached on the model. Its nodes are the computations the exporter records
    in each ONNX node, so both sides can be paired. TorchScript cannot be traced layer by layer."""
    import torch

    from modelport.core.logs import quiet

    if getattr(tm, "_taps_gm", None) is None:
        program = tm.program
        if program is None:
            if isinstance(tm.module, torch.jit.ScriptModule):
                raise NotImplementedError("TorchScript modules cannot be traced layer by layer: save the model "
                                          "with torch.export.save (.pt2) to use --locate")
            args, kwargs = tm.example_inputs()
            program = torch.export.export(tm.module, args, kwargs or None)
        try:
            with quiet("torch.onnx", "torch.export", "onnxscript"), torch.no_grad():
                program = torch.onnx.export(program, (), dynamo=True, optimize=False).exported_program
        except Exception:  # keep the program as saved: fewer of its nodes will pair with the ONNX file's
            pass
        tm._taps_gm = program.module()
    return tm._taps_gm


def torch_taps(tm) -> list[Tap]:
    nodes = list(_graph_module(tm).graph.nodes)
    leaves = {n.name: str(n.target) for n in nodes if n.op in ("placeholder", "get_attr")}
    signatures = fx_signatures({n.name: n.format_node() for n in nodes}, leaves)
    taps = []
    for node in nodes:
        if node.op != "call_function":
            continue
        stack = node.meta.get("nn_module_stack") or {}
        path, cls = list(stack.values())[-1] if stack else ("", "")
        layer = f"{path} ({_short(cls)})" if path else "(top level)"
        taps.append(Tap(node.name, layer, str(node.target).replace("aten.", "").replace(".default", ""),
                        signatures.get(node.name, "")))
    return taps


def torch_tap_values(tm, feed: dict, keys: list[str]) -> dict:
    import torch

    gm = _graph_module(tm)
    wanted, captured = set(keys), {}

    class Catch(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.name in wanted and isinstance(out, torch.Tensor):
                captured[n.name] = out.detach().float().numpy() if out.is_floating_point() else out.numpy()
            return out

    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in cast_feed(feed, tm.inputs)]
    with torch.no_grad():
        Catch(gm).run(*tensors)
    return captured


def keras_taps(km) -> list[Tap]:
    """Each layer's output; a layer computing a model output is marked `output:K` (what a TFLite output tensor,
    named after the signature rather than the layer, pairs with)."""
    outputs = {}
    for k, tensor in enumerate(km.model.outputs):
        history = getattr(tensor, "_keras_history", None)
        if history is not None:
            outputs.setdefault(history[0].name, f"output:{k}")
    return [Tap(layer.name, f"{layer.name} ({type(layer).__name__})", type(layer).__name__,
                outputs.get(layer.name, "")) for layer in km.model.layers if type(layer).__name__ != "InputLayer"]


def keras_tap_values(km, feed: dict, keys: list[str]) -> dict:
    import keras

    layers = {layer.name: layer for layer in km.model.layers}
    outputs = []
    for key in keys:
        out = layers[key].output
        outputs.append(out[0] if isinstance(out, (list, tuple)) else out)
    sub = keras.Model(km.model.inputs, outputs)
    values = sub(km.structure(cast_feed(feed, km.inputs)), training=False)
    values = values if isinstance(values, (list, tuple)) else [values]
    return {k: np.asarray(v) for k, v in zip(keys, values)}


def onnx_taps(om) -> list[Tap]:
    import ast

    nodes = [n for n in onnx_proto(om).graph.node if n.output and n.output[0]]
    texts, last = {}, {}
    for node in nodes:  # the fx graph the PyTorch exporter converted, when it recorded one
        text = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.fx_node"), "")
        m = _FX_NODE.match(text.strip())
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


def tflite_taps(lm) -> list[Tap]:
    """Each operator's outputs, labelled with their tensor names: the converter writes the TensorFlow scopes
    (`model/layer/op`) of the values it fused into a tensor, so Keras layers pair by name as with tf2onnx."""
    details = {d["index"]: d for d in lm.interpreter.get_tensor_details()}
    outputs = {d["index"]: f"output:{k}" for k, d in enumerate(lm.interpreter.get_output_details())}
    taps = []
    for op in lm.interpreter._get_ops_details():
        for index in op["outputs"]:
            if index >= 0 and index in details:
                taps.append(Tap(str(index), details[index]["name"], op["op_name"], outputs.get(index, "")))
    return taps


def tflite_tap_values(lm, feed: dict, keys: list[str]) -> dict:
    """The values of one run of an interpreter built for this call, told to keep every tensor (TFLite reuses
    tensor memory otherwise: this is the one way to read an intermediate value). Peak memory is one run's
    activations, freed when the call ends. Quantized values are returned in real units."""
    from modelport.core.logs import native_silenced
    from modelport.loaders.tflite import dequantize, interpreter_class, invoke

    cls, _ = interpreter_class()
    with native_silenced():
        interp = cls(model_path=str(lm.path), experimental_preserve_all_tensors=True)
        invoke(interp, cast_feed(feed, lm.inputs))
    info = {str(d["index"]): d for d in interp.get_tensor_details()}
    values = {key: np.array(dequantize(interp.get_tensor(info[key]["index"]), info[key])) for key in keys
              if key in info}
    return values
