"""The runner protocol shared by every format: interface (inputs/outputs) plus `run(feed)`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError
from modelport.core.formats import Format

if TYPE_CHECKING:
    import numpy as np


class Model:
    """A loaded model. `inputs` are specs with symbolic dims where the model accepts any size."""

    format: Format
    path: Path | str
    inputs: list[TensorSpec]
    outputs: list[str]
    framework_version: str = ""

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Format-specific facts for `inspect`: operators, parameters, versions."""
        return {}

    def info(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format.value,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": list(self.outputs),
        }


def cast_feed(feed: dict[str, np.ndarray], specs: list[TensorSpec]) -> list[np.ndarray]:
    """Arrays for `specs` in order, taken by name (or by position), cast to each spec's dtype."""
    import numpy as np

    names = list(feed)
    arrays = []
    for i, spec in enumerate(specs):
        if spec.name in feed:
            value = feed[spec.name]
        elif len(feed) == len(specs):
            value = feed[names[i]]
        else:
            raise UsageError(
                f"no data for input '{spec.name}'", hint=f"inputs given: {', '.join(names) or 'none'}"
            )
        arrays.append(np.asarray(value).astype(spec.dtype, copy=False))
    return arrays


def require_specs(model_kind: str, specs: list[TensorSpec]) -> list[TensorSpec]:
    if not specs:
        raise UsageError(
            f"{model_kind} does not record its input shapes",
            hint="pass --input NAME:D1,D2,...[:DTYPE], e.g. --input x:1,3,224,224",
        )
    return specs


class native_stderr_silenced:
    """Silence C++ log lines (TensorFlow's oneDNN banner) written straight to fd 2 during a block.

    Python exceptions are unaffected; set MODELPORT_DEBUG=1 to see everything.
    """

    def __enter__(self):
        import os
        import sys

        self.saved = None
        if os.environ.get("MODELPORT_DEBUG"):
            return self
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:
            self.saved = None
        return self

    def __exit__(self, *exc):
        import os

        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
