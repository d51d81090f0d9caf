"""Float64 twins: the same model computed in float64, to measure how far float32 rounding alone moves each
output (the noise floor a faithful conversion cannot beat).

PyTorch: a deep copy moved to float64 (`.double()`; dtype constants in an exported graph are switched too).
Keras: the architecture rebuilt from its config under a float64 dtype policy, with the weights cast to float64
(a saved file's layer configs carry their own dtype entries, which are replaced). A model that cannot be
rebuilt this way (subclassed Keras models, graphs with fixed float32 ops) has no twin: verification says so
and uses the fixed tolerances alone.
"""

from __future__ import annotations

import copy
from typing import Any

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


_ZEROS = {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None}


def _float64_config(obj: Any) -> Any:
    """Every float dtype entry of a Keras config (plain names and DTypePolicy dicts) set to float64, and every
    initializer to zeros: the weights are set right after, and random initialization is half the rebuild."""
    if isinstance(obj, list):
        return [_float64_config(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        if key == "dtype" and isinstance(value, str) and value in FLOATS:
            value = "float64"
        elif key == "dtype" and isinstance(value, dict) and value.get("config", {}).get("name") in FLOATS:
            value = {**value, "config": {**value["config"], "name": "float64"}}
        elif key.endswith("_initializer") and isinstance(value, dict) and value.get("module") == "keras.initializers":
            value = _ZEROS
        else:
            value = _float64_config(value)
        out[key] = value
    return out


def keras_twin(km) -> Model:
    import keras

    from modelport.loaders.keras import flatten_outputs

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        twin = type(km.model).from_config(_float64_config(km.model.get_config()))
    finally:
        keras.config.set_dtype_policy(policy)
    twin.set_weights([np.asarray(w, np.float64) if np.asarray(w).dtype.kind == "f" else w
                      for w in km.model.get_weights()])

    def call(arrays):
        return flatten_outputs(twin(km.structure(arrays), training=False), km.output_names_hint)[1]

    return Twin(km, call, "Keras config rebuilt under a float64 dtype policy")


def torch_twin(tm) -> Model:
    import torch

    from modelport.loaders.torch import tensors

    module = copy.deepcopy(tm.module)
    if isinstance(module, torch.fx.GraphModule):  # dtype constants baked into an exported graph
        for node in module.graph.nodes:
            if node.kwargs.get("dtype") in (torch.float32, torch.float16, torch.bfloat16):
                node.kwargs = {**node.kwargs, "dtype": torch.float64}
        module.recompile()
    module = module.double()

    def call(arrays):
        args, kwargs = tm.split_args([torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])
        with torch.no_grad():
            return [t.detach().numpy() for t in tensors(module(*args, **kwargs))]

    return Twin(tm, call, "module.double()")
