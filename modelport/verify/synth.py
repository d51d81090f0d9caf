"""Generated values that look like the model's data, from the `InputRule`s the loaded model reports.

Without a rule an input gets N(0, 1) floats or integers in --int-range: fine for a model with no preprocessing,
useless for one whose first layer maps pixels in [0, 255] or whose trees split at 4,000 (RECIPES: N(0, 1)
inputs passed an ONNX copy with moved thresholds that got 1.9% of real labels wrong).
"""

from __future__ import annotations

import numpy as np

from modelport.core.model import InputRule, ending_with

MAX_PROBES_PER_FEATURE = 24
MAX_PROBE_ROWS = 4096


def _per_feature(value, width: int) -> np.ndarray | float | None:
    """A scalar, or a per-feature list broadcast along the last axis (None when the widths disagree)."""
    if value is None or np.isscalar(value):
        return value
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        return float(arr[0])
    return arr if arr.size == width else None


def values(rng: np.random.Generator, shape: list[int], dtype: str, int_range: tuple[int, int],
           rule: InputRule | None) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.5
    width = shape[-1] if shape else 1
    if rule is not None and rule.mask and shape:
        keep = rng.integers(1, width + 1, size=shape[:-1] + [1])  # each row: 1..width real tokens, then padding
        return (np.arange(width) < keep).astype(dtype)
    if rule is not None and rule.examples is not None and len(shape) == 2:
        rows = np.asarray(rule.examples)
        if rows.ndim == 2 and rows.shape[1] == width:
            return rows[rng.integers(0, len(rows), shape[0])].astype(dtype)
    if rule is not None and rule.choices is not None and len(rule.choices) == width:
        columns = [np.asarray(c)[rng.integers(0, len(c), shape[:-1])] for c in rule.choices]
        return np.stack(columns, -1).astype(dtype)
    if not dtype.startswith("float"):
        low, high = rule.integers if rule is not None and rule.integers else int_range
        ids = rng.integers(low, high, size=shape).astype(dtype)
        return ending_with(ids, rule.ends_with, low, high) if rule is not None and rule.ends_with is not None \
            else ids

    if rule is not None:
        low, high = _per_feature(rule.low, width), _per_feature(rule.high, width)
        if low is not None and high is not None:
            return (low + (np.asarray(high) - low) * rng.random(shape)).astype(dtype)
        mean, std = _per_feature(rule.mean, width), _per_feature(rule.std, width)
        if mean is not None and std is not None:
            return (mean + np.asarray(std) * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def probes(base: np.ndarray, rule: InputRule) -> np.ndarray:
    """Rows placed just either side of each split threshold (one feature changed per row, from base rows).

    The step is 1e-4 of the feature's spread: far beyond float32 rounding of the value (so the float32 and the
    float64 model agree on which side it is), far below the distance a real threshold change moves it.
    """
    if base.ndim != 2 or not rule.thresholds or len(rule.thresholds) != base.shape[1]:
        return base[:0]
    lo = _per_feature(rule.low, base.shape[1])
    hi = _per_feature(rule.high, base.shape[1])
    blocks, count = [], 0
    for j, points in enumerate(rule.thresholds):
        if len(points) == 0:
            continue
        pts = np.unique(np.asarray(points, dtype=np.float64))
        if len(pts) > MAX_PROBES_PER_FEATURE:
            pts = pts[np.linspace(0, len(pts) - 1, MAX_PROBES_PER_FEATURE).round().astype(int)]
        spread = (np.asarray(hi)[j] - np.asarray(lo)[j]) if isinstance(lo, np.ndarray) and isinstance(hi, np.ndarray) \
            else (pts[-1] - pts[0])
        eps = max(float(spread) * 1e-4, float(np.abs(pts).max()) * 1e-6, 1e-6)
        k = np.repeat(np.arange(len(pts)), 2)  # point k: a row below it, then a row above it
        side = np.tile([0, 1], len(pts))
        block = base[(count + 3 * k + side) % len(base)].copy()  # base rows taken in turn
        block[:, j] = pts[k] + np.where(side == 1, eps, -eps)
        blocks.append(block)
        count += len(block)
    out = np.concatenate(blocks).astype(base.dtype, copy=False) if blocks else base[:0]
    return out[:MAX_PROBE_ROWS]


def describe(rule: InputRule | None, dtype: str, int_range: tuple[int, int]) -> str:
    if rule is not None:
        return f"generated: {rule.source}"
    if dtype == "bool":
        return "generated: random booleans"
    if dtype.startswith("float"):
        return "generated: N(0, 1) (the model says nothing about its values)"
    return f"generated: integers in [{int_range[0]}, {int_range[1]})"
