"""OpenVINO taps for `--locate`: each operation's first output, keyed by its friendly name, with the tensor names
it carries. Those are the source's where the frontend kept them: the ONNX frontend keeps the ONNX tensor names
(the fx node names the PyTorch exporter gave), the PyTorch frontend names values after the exported program's
(decomposed) nodes as `name:0`, the TensorFlow frontend keeps TensorFlow scopes (`model/layer/op`)."""

from __future__ import annotations

from modelport.core.model import Tap, cast_feed

_SKIP = ("Constant", "Parameter", "Result", "Convert", "ShapeOf")


def openvino_taps(vm) -> list[Tap]:
    taps = []
    for op in vm.ir.get_ordered_ops():
        if op.get_type_name() in _SKIP or not op.outputs():
            continue
        names = sorted(n[:-2] if n.endswith(":0") else n for n in op.output(0).get_names())
        taps.append(Tap(op.get_friendly_name(), op.get_friendly_name(), op.get_type_name(), "|".join(names)))
    return taps


def tensor_names(tap: Tap) -> set[str]:
    return set(tap.match.split("|")) - {""}


def openvino_tap_values(vm, feed: dict, keys: list[str]) -> dict:
    """One run of a copy of the model with the wanted operations' outputs added as results (at f32, as verified)."""
    from modelport.core.logs import native_silenced
    from modelport.runtimes.openvino.runtime import compile_options, openvino

    ov = openvino()
    wanted = set(keys)
    with native_silenced():
        core = ov.Core()
        model = core.read_model(str(vm.path))
        ports = {op.get_friendly_name(): op.output(0) for op in model.get_ordered_ops()
                 if op.get_friendly_name() in wanted and op.outputs()}
        first = len(model.outputs)
        model.add_outputs(list(ports.values()))
        compiled = core.compile_model(model, "CPU", compile_options(None))
    result = compiled.create_infer_request().infer(
        {i: a for i, a in enumerate(cast_feed(feed, vm.inputs))}, share_inputs=False)
    outputs = compiled.outputs[first:]
    return {name: result[port].copy() for name, port in zip(ports, outputs)}
