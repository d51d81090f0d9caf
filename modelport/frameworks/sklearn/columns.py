"""Pipelines fitted on a DataFrame whose ColumnTransformer picks columns by name: one model input per column,
named after it, `[batch, 1]` (what skl2onnx converts: RECIPES), strings where an encoder learnt string
categories. The reference gets the columns back as a DataFrame.
"""

from __future__ import annotations

import numpy as np

from modelport.core.artifact import TensorSpec
from modelport.core.model import InputRule


def _named_transformers(estimator):
    """(transformer, [column names]) of every ColumnTransformer that selects columns by name."""
    from modelport.frameworks.sklearn.estimators import walk

    for node in walk(estimator):
        for _, trans, cols in getattr(node, "transformers_", None) or []:
            if isinstance(cols, str):
                cols = [cols]
            if isinstance(trans, str) or not isinstance(cols, (list, tuple, np.ndarray)):
                continue
            if len(cols) and all(isinstance(c, str) for c in cols):
                steps = getattr(trans, "steps", None)
                yield (steps[0][1] if steps else trans), [str(c) for c in cols]


def column_specs(estimator, dtype: str) -> list[TensorSpec] | None:
    """One spec per DataFrame column when a ColumnTransformer selects columns by name, else None."""
    names = getattr(estimator, "feature_names_in_", None)
    picked = list(_named_transformers(estimator))
    if names is None or not picked:
        return None
    kinds: dict[str, str] = {}
    for first, cols in picked:
        categories = getattr(first, "categories_", None)
        if categories is None or len(categories) != len(cols):
            continue
        for col, cats in zip(cols, categories):
            kind = np.asarray(cats).dtype.kind
            kinds[col] = "str" if kind in "OUS" else "int64" if kind in "iu" else dtype
    return [TensorSpec(str(n), ("batch", 1), kinds.get(str(n), dtype)) for n in names]


def column_rules(estimator) -> dict[str, InputRule]:
    """Per column: an encoder's categories, a StandardScaler's or MinMaxScaler's statistics."""
    rules: dict[str, InputRule] = {}
    for first, cols in _named_transformers(estimator):
        name = type(first).__name__
        categories = getattr(first, "categories_", None)
        for j, col in enumerate(cols):
            if categories is not None and len(categories) == len(cols):
                cats = [c for c in np.asarray(categories[j], dtype=object) if c is not None and c == c]
                rules[col] = InputRule(f"{name} categories of '{col}'", choices=[cats])
            elif name == "StandardScaler" and getattr(first, "mean_", None) is not None:
                rules[col] = InputRule(f"{name} statistics of '{col}'", mean=float(first.mean_[j]),
                                       std=float(first.scale_[j]) if first.scale_ is not None else 1.0)
            elif name == "MinMaxScaler":
                rules[col] = InputRule(f"{name} range of '{col}'", low=float(first.data_min_[j]),
                                       high=float(first.data_max_[j]))
    return rules


def frame(arrays: list[np.ndarray], specs: list[TensorSpec]):
    """The DataFrame the estimator was fitted on, from one [rows, 1] array per column."""
    import pandas as pd

    return pd.DataFrame({s.name: (a.reshape(-1).astype(object) if s.dtype == "str" else a.reshape(-1))
                         for s, a in zip(specs, arrays)})
