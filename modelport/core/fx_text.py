"""The text of torch.fx nodes as both sides print it: the program `torch.export` made and the graph the ONNX
dynamo exporter recorded in each ONNX node's metadata. Pure text (no torch import): the PyTorch and ONNX taps pair
their nodes with it."""

from __future__ import annotations

import re

FX_NODE = re.compile(r"^%(\w+) : .*?= (\w+)\[target=([^\]]+)\](.*)$", re.S)
_REF = re.compile(r"%(\w+)")


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
        m = FX_NODE.match(text.strip())
        if m and m.group(2) == "call_function":
            args = _REF.sub(lambda r: "%" + _leaf(leaves.get(r.group(1), r.group(1))), m.group(4))
            keys[name] = f"{name}|{m.group(3)}|{args}"
    return keys


def short_name(cls) -> str:
    name = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return name.rsplit(".", 1)[-1]
