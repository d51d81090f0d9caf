"""The loaded-model protocol every step receives and every runner implements.

A `Model` is what `modelport.loaders.open_model` returns for any format: its interface (`inputs` as
TensorSpecs with symbolic dims where any size works, `outputs` as names) and `run(feed) -> {name: array}`.
The same object is a step's source and a verification runner. Framework-specific loaders subclass it and
add what their steps need (`TorchModel.module`, `KerasModel.model`, `SklearnModel.estimator`, ...).
"""

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

    def inspect(self) -> dict[str, Any]:
        """Format-specific facts for `modelport inspect`: operators, parameters, versions."""
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
