"""Load models of every format into a `Model`: its interface plus a `run(feed)` method.

Each framework module imports its framework inside functions only. `open_model` is the one entry.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.core.formats import UNSAFE, Format

if TYPE_CHECKING:
    from modelport.core.artifact import TensorSpec
    from modelport.loaders.base import Model

_MODULES = {
    "torch": "modelport.loaders.torch",
    "tensorflow": "modelport.loaders.keras",
    "sklearn": "modelport.loaders.sklearn",
    "onnx": "modelport.loaders.onnx",
}


def open_model(
    path: str | Path,
    fmt: Format,
    *,
    trust: bool = False,
    input_specs: list[TensorSpec] | None = None,
) -> Model:
    from modelport.core.errors import UnsafeError, UnsupportedError

    if fmt in UNSAFE and not trust:
        raise UnsafeError(*_unsafe_message(path, fmt))
    module = _MODULES.get(fmt.framework)
    if module is None:
        raise UnsupportedError(f"modelport cannot run {fmt} models yet", hint="convert from the source model")
    return importlib.import_module(module).load(path, fmt, trust=trust, input_specs=input_specs or [])


def _unsafe_message(path: str | Path, fmt: Format) -> tuple[str, str]:
    if fmt is Format.SKLEARN_PICKLE:
        return (
            f"{path}: refusing to load a pickle: unpickling runs arbitrary code from the file",
            "save the model with skops (skops.io.dump(model, 'model.skops')), or pass --trust if you "
            "trust where this file came from",
        )
    if fmt is Format.TORCH_PY:
        return (f"{path}: loading a factory runs its Python code", "pass --trust if you trust this code")
    return (
        f"{path}: a fully pickled PyTorch module loads only by running arbitrary code (weights_only=False)",
        "save it with torch.export.save (.pt2) or torch.jit.save, or pass --trust if you trust this file",
    )
