"""Intermediate values of scikit-learn pipelines for `--locate`: every transformer's output, nested pipelines
and ColumnTransformers walked step by step, in the order skl2onnx converts them.

Each tap says which kind of ONNX value it pairs with (`match`): skl2onnx names a transformer's output
`variable`, `variable1`, ... and a ColumnTransformer's `transformed_column`; the final estimator's is the
model's own output. What a converter names otherwise cannot be paired (the shapes are checked before any
comparison, so a wrong pairing is skipped rather than blamed).
"""

from __future__ import annotations

import numpy as np

from modelport.core.model import Tap

_SKIP = (None, "passthrough", "drop")


def _visit(est, x, path: str, emit) -> object:
    """Walk `est` applied to `x` (None: list the taps only), emitting (tap, value) per transformer."""
    name = type(est).__name__
    if hasattr(est, "steps"):  # a Pipeline inside the pipeline: its steps in order
        for step_name, step in est.steps:
            if not _skipped(step):
                x = _visit(step, x, f"{path}/{step_name}" if path else step_name, emit)
        return x
    if hasattr(est, "transformers_"):  # ColumnTransformer: each transformer on its columns, then the concatenation
        from sklearn.utils import _safe_indexing

        for sub_name, sub, columns in est.transformers_:
            if not _skipped(sub):
                _visit(sub, None if x is None else _safe_indexing(x, columns, axis=1), f"{path}/{sub_name}", emit)
        value = None if x is None else _dense(est.transform(x))
        emit(Tap(path, f"{path} ({name})", name, "transformed_column"), value)
        return value
    value = None if x is None else _dense(est.transform(x))
    emit(Tap(path, f"{path} ({name})", name, "variable"), value)
    return value


def _skipped(step) -> bool:
    return isinstance(step, str) and step in _SKIP or step is None


def _dense(value):
    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


def sklearn_taps(sm) -> list[Tap]:
    """Each transformer of a Pipeline (nested ones and ColumnTransformers included), then the final estimator
    (its value: the model's main output). [] for a lone estimator."""
    steps = getattr(sm.estimator, "steps", None)
    if not steps:
        return []
    taps: list[Tap] = []
    for step_name, step in steps[:-1]:
        if not _skipped(step):
            _visit(step, None, step_name, lambda tap, _: taps.append(tap))
    name, last = steps[-1]
    if not _skipped(last):
        taps.append(Tap(name, f"{name} ({type(last).__name__})", type(last).__name__, "output"))
    return taps


def sklearn_tap_values(sm, feed: dict, keys: list[str]) -> dict:
    x = sm.features(feed)
    wanted, values = set(keys), {}

    def keep(tap, value):
        if tap.key in wanted:
            values[tap.key] = value

    steps = sm.estimator.steps
    for step_name, step in steps[:-1]:
        if not _skipped(step):
            x = _visit(step, x, step_name, keep)
    if steps[-1][0] in wanted:
        values[steps[-1][0]] = sm.run(feed)[main_output(sm)]
    return values


def main_output(sm) -> str:
    """The float output that carries the model's numbers (probabilities, scores, values)."""
    return next((n for n in ("probabilities", "scores", "variable") if n in sm.outputs), sm.outputs[-1])
