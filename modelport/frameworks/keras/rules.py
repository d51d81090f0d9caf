"""Input rules of Keras models: what the first layer an input meets says about its values. A `Rescaling` maps raw
values into [0, 1] (or [-1, 1] with a negative offset): raw inputs are uniform over the range it maps there (0-255
for 1/255 or 1/127.5 - 1); a `Normalization` gives a mean and variance; an `Embedding` gives the vocabulary size."""

from __future__ import annotations

import numpy as np

from modelport.core.logs import quiet
from modelport.core.model import InputRule


def _flat(value) -> float | list[float]:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    return float(arr[0]) if arr.size == 1 else arr.tolist()


def keras_layer_rule(layer) -> InputRule | None:
    kind = type(layer).__name__
    if kind == "Rescaling":
        scale = np.asarray(layer.scale, dtype=np.float64)
        offset = np.asarray(layer.offset, dtype=np.float64)
        t_lo = -1.0 if np.any(offset < 0) else 0.0
        lo, hi = (t_lo - offset) / scale, (1.0 - offset) / scale
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        text = f"Rescaling(scale={_flat(scale)}, offset={_flat(offset)}) maps to [{t_lo:g}, 1]: uniform " \
               f"[{np.min(lo):.4g}, {np.max(hi):.4g}]"
        return InputRule(text, low=_flat(lo), high=_flat(hi))
    if kind == "Normalization" and not getattr(layer, "invert", False):
        mean, var = getattr(layer, "mean", None), getattr(layer, "variance", None)
        if mean is None or var is None:
            return None
        mean, std = np.asarray(mean, np.float64), np.sqrt(np.asarray(var, np.float64))
        return InputRule(f"Normalization(mean, variance): normal per channel (mean {np.mean(mean):.4g})",
                         mean=_flat(mean), std=_flat(std))
    if kind == "Embedding":
        return InputRule(f"Embedding({layer.input_dim} rows): integers in [0, {layer.input_dim})",
                         integers=(0, int(layer.input_dim)))
    return None


def keras_rules(model, specs) -> dict[str, InputRule]:
    """The first layer each model input feeds, and what it says."""
    rules = {}
    inputs = list(getattr(model, "inputs", None) or [])
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    for spec, tensor in zip(specs, inputs):
        consumers = [layer for layer in layers
                     if any(t is tensor for node in getattr(layer, "_inbound_nodes", [])
                            for t in (getattr(node, "input_tensors", None) or []))]
        if not consumers and type(model).__name__ == "Sequential" and layers:
            consumers = layers[:1]
        for layer in consumers[:1]:
            rule = keras_layer_rule(layer)
            if rule is not None:
                rules[spec.name] = rule
    if len(rules) == 1 and len(inputs) == 1 and rules[specs[0].name].low is not None:
        rules[specs[0].name] = _agree_with_batchnorm(model, specs[0], rules[specs[0].name])
    return rules


def _agree_with_batchnorm(model, spec, rule: InputRule) -> InputRule:
    """A Rescaling says what the raw input range *should* be; the first BatchNormalization's moving statistics
    say what the model was actually trained on. When they disagree (a net built for 0-255 pixels but trained
    on 0-1 images), generate what the statistics match: that is where the model's numbers are meaningful."""
    import keras

    bn = next((layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"), None)
    if bn is None or not spec.shape or any(not isinstance(d, int) for d in spec.shape[1:]):
        return rule
    mean = np.asarray(bn.moving_mean, np.float64)
    var = np.asarray(bn.moving_variance, np.float64)
    if np.allclose(mean, 0) and np.allclose(var, 1):
        return rule  # never trained: the statistics say nothing
    try:
        probe = keras.Model(model.inputs, bn.input)
    except Exception:
        return rule
    lo, hi = np.min(rule.low), np.max(rule.high)
    candidates = [(lo, hi), (0.0, 1.0), (-1.0, 1.0)]
    rng = np.random.default_rng(0)
    shape = [8, *spec.shape[1:]]
    scores = []
    for c_lo, c_hi in candidates:
        x = (c_lo + (c_hi - c_lo) * rng.random(shape)).astype(spec.dtype)
        with quiet("keras"):
            act = np.asarray(probe(x, training=False), np.float64)
        axes = tuple(range(act.ndim - 1))
        b_mean, b_var = act.mean(axis=axes), act.var(axis=axes)
        eps = 1e-3 + 1e-3 * var
        scores.append(float(np.mean(np.abs(np.log((b_var + eps) / (var + eps))))
                            + np.mean(np.abs(b_mean - mean) / np.sqrt(var + eps))))
    best = int(np.argmin(scores))
    if best == 0:
        return rule
    c_lo, c_hi = candidates[best]
    return InputRule(f"uniform [{c_lo:g}, {c_hi:g}]: the statistics of the first BatchNormalization "
                     f"({bn.name}) match it (score {scores[best]:.2g}) better than the range the Rescaling "
                     f"implies, [{lo:.4g}, {hi:.4g}] (score {scores[0]:.2g})", low=c_lo, high=c_hi)
