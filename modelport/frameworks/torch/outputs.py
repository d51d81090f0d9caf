"""What a PyTorch model returns, as outputs: the tensor leaves of dicts, tuples and transformers ModelOutputs,
named by their path (None and constants are not outputs)."""

from __future__ import annotations

from typing import Any


def _named_leaves(structure: Any) -> list[tuple[str, Any]]:
    """(name, leaf) for each flattened leaf of a model output (dicts, tuples, transformers ModelOutputs)."""
    import torch.utils._pytree as pytree

    flat = pytree.tree_flatten_with_path(structure)[0]
    if [path for path, _ in flat] == [()]:
        return [("output", flat[0][1])]
    named = []
    for path, leaf in flat:
        parts = []
        for key in path:
            for attr in ("key", "idx", "name"):
                if hasattr(key, attr):
                    parts.append(str(getattr(key, attr)))
                    break
        name = ".".join(parts)
        named.append((f"output_{name}" if name[:1].isdigit() else name, leaf))
    return named


def is_output(leaf: Any) -> bool:
    """A leaf that is an output: a tensor, or in an exported graph the node computing one. None and Python
    constants in an output tuple are not outputs (the exporters drop them: `return_dict=False` tuples hold
    None where a model computes nothing)."""
    import torch

    return isinstance(leaf, (torch.Tensor, torch.fx.Node))


def output_names(structure: Any) -> list[str]:
    """Names of the tensor leaves of a model output."""
    return [name for name, leaf in _named_leaves(structure) if is_output(leaf)]


def not_outputs(structure: Any) -> list[str]:
    """What the report says of the leaves that are not tensors ("output_1 (None)")."""
    return [f"{name} ({type(leaf).__name__})" for name, leaf in _named_leaves(structure) if not is_output(leaf)]


def flatten(structure: Any) -> list:
    import torch.utils._pytree as pytree

    return pytree.tree_leaves(structure)


def tensors(structure: Any) -> list:
    """The tensor leaves of a model output, in the order `output_names` names them."""
    return [leaf for leaf in flatten(structure) if is_output(leaf)]
