"""Float64 twins: the same model computed in float64, to measure how far float32 rounding alone moves each
output (the noise floor a faithful conversion cannot beat).

PyTorch: a deep copy moved to float64 (`.double()`; dtype constants in an exported graph are switched too).
Keras: the architecture rebuilt from its config under a float64 dtype policy, with the weights cast to float64
(a saved file's layer configs carry their own dtype entries, which are replaced). A model that cannot be
rebuilt this way (subclassed Keras models, graphs with fixed float32 ops) has no twin: verification says so
and uses the fixed tolerances alone.
"""

from __future__ import annotations

import numpy as np

from modelport.core.artifact import TensorSpec
from modelport.core.model import Model, cast_feed

FLOATS = ("float16", "bfloat16", "float32")


class Twin(Model):
    """Runs `call(arrays) -> flat outputs` on float64 copies of the inputs."""

    def __init__(self, model: Model, call, how: str) -> None:
        self.format, self.path, self.outputs = model.format, model.path, list(model.outputs)
        self.framework_version = f"{model.framework_version} (float64 twin: {how})"
        self.inputs = [TensorSpec(s.name, s.shape, "float64" if s.dtype in FLOATS else s.dtype) for s in model.inputs]
        self.call = call

    def run(self, feed):
        arrays = cast_feed(feed, self.inputs)
        return {n: np.asarray(v, dtype=np.float64) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
                for n, v in zip(self.outputs, self.call(arrays))}
