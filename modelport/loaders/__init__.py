"""Load models of every format into a `Model`: its interface plus a `run(feed)` method.

Each framework module imports its framework inside functions only. `open_model` is the one entry.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.core.archive import check_archive
from modelport.core.formats import UNSAFE, ZIP_FORMATS, Format

if TYPE_CHECKING:
    from modelport.core.artifact import TensorSpec
    from modelport.core.model import Model

_MODULES = {
    "torch": "modelport.frameworks.torch.model",
    "transformers": "modelport.frameworks.hf.model",  # by format: a transformers folder is a torch-framework format
    "tensorflow": "modelport.frameworks.keras.model",
    "sklearn": "modelport.frameworks.sklearn.model",
    "onnx": "modelport.runtimes.onnx.model",
    "tflite": "modelport.runtimes.tflite.model",
    "openvino": "modelport.runtimes.openvino.model",
    "executorch": "modelport.runtimes.executorch.model",
}


def open_model(
    path: str | Path,
    fmt: Format,
    *,
    trust: bool = False,
    input_specs: list[TensorSpec] | None = None,
    purpose: str = "run",
    threads: int | None = None,
    task: str | None = None,
) -> Model:
    """Load a model. purpose="inspect" loads what can be described without input shapes. `threads` caps the
    runtime's intra-op threads (ONNX Runtime, TFLite, PyTorch) for steady latency figures. `task`: what a
    Hugging Face folder is exported for (default: from its config's architectures)."""
    from modelport.core.errors import UnsafeError, UnsupportedError
    from modelport.core.signature_policy import ensure

    ensure(str(path).rsplit(":", 1)[0] if fmt is Format.TORCH_PY and ".py:" in str(path) else path)
    if fmt in ZIP_FORMATS:
        check_archive(path)  # also when --from skipped detection: exit 4 before a framework opens the zip
    if fmt in UNSAFE and not trust:
        raise UnsafeError(*_unsafe_message(path, fmt))
    if fmt in (Format.SKLEARN_PICKLE, Format.TORCH_PICKLE):
        from modelport.core.pickles import check

        check(path)  # --trust, and still not a pickle that runs commands (exit 4 unless --trust-unsafe)
    module = _MODULES.get(fmt.value) or _MODULES.get(fmt.framework)
    if module is None:
        raise UnsupportedError(f"modelport cannot run {fmt} models yet", hint="convert from the source model")
    if threads and fmt.framework == "torch":
        import torch

        torch.set_num_threads(threads)
    if fmt in (Format.ONNX, Format.TFLITE, Format.OPENVINO, Format.EXECUTORCH):
        return importlib.import_module(module).load(path, fmt, threads=threads)
    if fmt is Format.TRANSFORMERS:
        return importlib.import_module(module).load(path, trust=trust, task=task, input_specs=input_specs or [])
    return importlib.import_module(module).load(path, fmt, trust=trust, input_specs=input_specs or [],
                                                purpose=purpose)


def import_user_code(refs: Sequence[str], trust: bool) -> None:
    """Import modules or .py files that define custom classes (Keras subclassed models, custom layers,
    classes a pickle or program refers to). Running them is running code: --trust is required."""
    from modelport.core.errors import UnsafeError, UsageError

    if not refs:
        return
    if not trust:
        raise UnsafeError(f"--import runs code from {', '.join(refs)}", hint="pass --trust if you trust this code")
    import importlib.util
    import sys

    for ref in refs:
        try:
            if ref.endswith(".py"):
                path = Path(ref).resolve()
                if not path.exists():
                    raise UsageError(f"--import {ref}: no such file")
                name = f"_modelport_user_{path.stem}"
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(ref)
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"--import {ref} failed ({type(exc).__name__}: {exc})") from exc


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
