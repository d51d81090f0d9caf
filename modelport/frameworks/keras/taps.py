"""Keras taps for `--locate`: each layer's output."""

from __future__ import annotations

import numpy as np

from modelport.core.model import Tap, cast_feed


def keras_taps(km) -> list[Tap]:
    """Each layer's output; a layer computing a model output is marked `output:K` (what a TFLite output tensor,
    named after the signature rather than the layer, pairs with)."""
    outputs = {}
    for k, tensor in enumerate(km.model.outputs):
        history = getattr(tensor, "_keras_history", None)
        if history is not None:
            outputs.setdefault(history[0].name, f"output:{k}")
    return [Tap(layer.name, f"{layer.name} ({type(layer).__name__})", type(layer).__name__,
                outputs.get(layer.name, "")) for layer in km.model.layers if type(layer).__name__ != "InputLayer"]


def keras_tap_values(km, feed: dict, keys: list[str]) -> dict:
    import keras

    layers = {layer.name: layer for layer in km.model.layers}
    outputs = []
    for key in keys:
        out = layers[key].output
        outputs.append(out[0] if isinstance(out, (list, tuple)) else out)
    sub = keras.Model(km.model.inputs, outputs)
    values = sub(km.structure(cast_feed(feed, km.inputs)), training=False)
    values = values if isinstance(values, (list, tuple)) else [values]
    return {k: np.asarray(v) for k, v in zip(keys, values)}
