"""Provenance written into every converted ONNX file (`metadata_props`, keys prefixed `modelport.`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFIX = "modelport."


def write_onnx(path: str | Path, facts: dict[str, Any], model=None) -> None:
    """Add modelport facts to an ONNX file (`model`: its already-loaded proto, to skip a reload)."""
    import onnx

    if model is None:
        model = onnx.load(str(path), load_external_data=False)
    keep = [p for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in facts.items():
        entry = model.metadata_props.add()
        entry.key = PREFIX + key
        entry.value = value if isinstance(value, str) else json.dumps(value)
    onnx.save(model, str(path))


def read_onnx(path: str | Path) -> dict[str, Any]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    facts = {}
    for prop in model.metadata_props:
        if prop.key.startswith(PREFIX):
            try:
                facts[prop.key[len(PREFIX):]] = json.loads(prop.value)
            except ValueError:
                facts[prop.key[len(PREFIX):]] = prop.value
    return facts
