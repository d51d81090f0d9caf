"""ONNX graph composition: members namespaced with prefixes (onnx.compose), opsets and IR unified."""

from __future__ import annotations

from typing import Any

from modelport.core.errors import UnsupportedError, one_line

DEFAULT = ""


def opsets(protos: list[Any]) -> dict[str, int]:
    """The highest opset of every domain any member uses (ai.onnx.ml and others are kept)."""
    result: dict[str, int] = {}
    for proto in protos:
        for op in proto.opset_import:
            domain = "" if op.domain == "ai.onnx" else op.domain
            result[domain] = max(result.get(domain, 0), op.version)
    result.setdefault(DEFAULT, 17)
    return result


def unify(proto: Any, target: int, warnings: list[str], label: str) -> Any:
    """Bring a member's default-domain opset up to `target` (onnx.version_converter)."""
    import onnx
    from onnx import version_converter

    current = next((op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")), target)
    if current == target:
        return proto
    try:
        return version_converter.convert_version(proto, target)
    except Exception as exc:
        warnings.append(f"{label}: opset {current} kept (version converter: {type(exc).__name__}); "
                        f"the fused model declares {target} and is verified against the members")
        copy = onnx.ModelProto()
        copy.CopyFrom(proto)
        return copy


def save(proto: Any, path) -> None:
    from modelport.core.onnx_files import save_onnx

    save_onnx(proto, path)


def renamed_output(value_info: Any, name: str) -> Any:
    """A copy of a graph output's ValueInfo (type and shape) under another name."""
    import onnx

    copy = onnx.ValueInfoProto()
    copy.CopyFrom(value_info)
    copy.name = name
    return copy


def prefixed(proto: Any, prefix: str, rename_inputs: bool = False) -> Any:
    from onnx import compose

    return compose.add_prefix(proto, prefix, rename_inputs=rename_inputs)


def build(segments: list[Any], initializers: list, inputs: list, outputs: list,
          domains: dict[str, int], name: str) -> Any:
    """One model from segments in topological order: namespaced graphs (ModelProto) and lists of nodes."""
    import onnx
    from onnx import helper

    graph = helper.make_graph([], name, inputs, outputs)
    seen_functions = set()
    functions = []
    parts = [s for s in segments if isinstance(s, onnx.ModelProto)]
    for segment in segments:
        if not isinstance(segment, onnx.ModelProto):
            graph.node.extend(segment)
            continue
        part = segment
        graph.node.extend(part.graph.node)
        graph.initializer.extend(part.graph.initializer)
        graph.sparse_initializer.extend(part.graph.sparse_initializer)
        graph.value_info.extend(part.graph.value_info)
        for fn in part.functions:
            key = (fn.domain, fn.name)
            if key not in seen_functions:
                seen_functions.add(key)
                functions.append(fn)
    graph.initializer.extend(initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in domains.items()],
                              functions=functions)
    model.ir_version = max([p.ir_version for p in parts] + [8])
    model.producer_name = "modelport-fuse"
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise UnsupportedError(f"the fused graph is not valid ONNX: {one_line(exc)}") from exc
    return model


def fused_inputs(members) -> list:
    """The fused graph's inputs: member 0's real inputs (initializers listed as inputs left out)."""
    proto = members[0].proto
    inits = {i.name for i in proto.graph.initializer}
    return [vi for vi in proto.graph.input if vi.name not in inits]


def assemble(members, combiner, domains: dict[str, int], name: str) -> Any:
    """Members side by side (namespaced m0_, m1_, ...) followed by a combiner's nodes, parts and tail."""
    segments = [prefixed(m.proto, f"m{m.index}_") for m in members]
    segments += [combiner.nodes, *combiner.parts, combiner.tail]
    return build(segments, combiner.initializers, fused_inputs(members), combiner.outputs, domains, name)
