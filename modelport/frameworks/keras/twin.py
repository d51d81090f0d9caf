"""The float64 twin of a Keras model: the architecture rebuilt from its config under a float64 dtype policy, with
the weights cast to float64 (a saved file's layer configs carry their own dtype entries, which are replaced)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.core.model import Model
from modelport.core.twin import FLOATS, Twin

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

    from modelport.frameworks.keras.outputs import flatten_outputs

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
