"""PyTorch taps for `--locate`: the nodes of the exported program (`torch.export`), named as the ONNX dynamo
exporter names its tensors, labelled with the module path that computed them (`nn_module_stack`). A call never
keeps more than the values asked for."""

from __future__ import annotations

import numpy as np

from modelport.core.fx_text import fx_signatures, short_name
from modelport.core.model import Tap, cast_feed


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
        layer = f"{path} ({short_name(cls)})" if path else "(top level)"
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
