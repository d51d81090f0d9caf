"""What a Keras model returns, as named outputs."""

from __future__ import annotations

from typing import Any


def flatten_outputs(out: Any, names: list[str] | None) -> tuple[list[str], list[Any]]:
    """Flatten a Keras output: dicts in sorted key order (as tf.nest), lists in order."""
    if isinstance(out, dict):
        keys = sorted(out)
        return list(keys), [out[k] for k in keys]
    if isinstance(out, (list, tuple)):
        if names and len(names) == len(out):
            return list(names), list(out)
        return [f"output_{i}" for i in range(len(out))], list(out)
    return [names[0] if names and len(names) == 1 else "output"], [out]
