"""Ties: rows whose label the source decides between two equally good answers (numpy only).

Which of two classes with equal scores an argmax picks, or which of two equidistant neighbours a k-neighbours
model counts, is not a property of a conversion: float32 rounding breaks such a tie either way. A value that
differs only in such a row is counted as a tie and reported, not failed. A label that differs where the
source's decision is clear still fails.

Two sources of ties:
- the outputs themselves: a label output (integers or strings, one per row) beside a score output whose
  argmax (or, for one column, whose sign) gives the label; a row ties where the reference's top two scores
  are within twice the score output's tolerance (each may move by that much) or its float32 noise floor;
- the model (`Model.tie_rows`): rows whose outputs rest on a tie the outputs do not show (the k-th and the
  next neighbour at the same distance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from modelport.core.report import OutputResult

# a score output pairs with a label output when its argmax gives the reference's label on this share of the
# rows with a clear margin (a classifier with a tuned threshold does not decide by argmax: no ties from it)
AGREEMENT = 0.9


def is_label(values: list[np.ndarray]) -> bool:
    """One integer or string value per row."""
    first = values[0]
    return first.dtype.kind in "biuUSO" and (first.ndim == 1 or (first.ndim == 2 and first.shape[1] == 1))


def label_ties(labels: list[np.ndarray], cand_labels: list[np.ndarray], scores: list[np.ndarray],
               result: OutputResult) -> list[np.ndarray] | None:
    """Per case, the rows where the reference's label is a tie of its scores and the candidate's label is one
    of the tied classes. `result` is the score output's comparison (its tolerance and noise floor). None when
    the score output does not give the label (then nothing is a tie)."""
    if len(labels) != len(scores) or any(len(a) != len(s) for a, s in zip(labels, scores)):
        return None
    ref = np.concatenate([np.asarray(a).reshape(len(a)) for a in labels])
    cand = np.concatenate([np.asarray(a).reshape(len(a)) for a in cand_labels])
    matrices = [_as_matrix(s) for s in scores]
    if any(m is None for m in matrices):
        return None
    score = np.concatenate(matrices)
    if score.dtype.kind != "f" or not np.isfinite(score).all():
        return None
    width = np.maximum(result.atol, result.noise_floor or 0.0)
    if score.shape[1] == 1:
        margin = np.abs(score[:, 0])  # a decision function: the boundary is 0
        tol = 2 * (width + result.rtol * margin)
        side = score[:, 0] > 0
        column = _column_of(ref, side.astype(int), margin > tol)
        if column is None:
            return None
        tied = margin <= tol
        cand_ok = np.array([_key(c) in column for c in cand])
    else:
        order = np.sort(score, axis=1)
        top, second = order[:, -1], order[:, -2]
        tol = 2 * (width + result.rtol * np.abs(top))
        column = _column_of(ref, np.argmax(score, axis=1), top - second > tol)
        if column is None:
            return None
        tied = top - second <= tol
        rows = np.arange(len(ref))
        cand_col = np.array([column.get(_key(c), -1) for c in cand])
        cand_ok = (cand_col >= 0) & (score[rows, np.maximum(cand_col, 0)] >= top - tol)
    mask = tied & cand_ok
    out, start = [], 0
    for a in labels:
        out.append(mask[start:start + len(a)])
        start += len(a)
    return out


def _as_matrix(s: np.ndarray) -> np.ndarray | None:
    s = np.asarray(s)
    if s.ndim == 1:
        return s.reshape(-1, 1)
    return s if s.ndim == 2 else None


def _key(value):
    return value.item() if hasattr(value, "item") else value


def _column_of(labels: np.ndarray, columns: np.ndarray, clear: np.ndarray) -> dict | None:
    """label -> score column, learned from the rows whose margin is clear; None when the scores do not give
    the labels (fewer than AGREEMENT of those rows agree, or too few rows to tell)."""
    if clear.sum() < 2:
        return None
    pairs: dict = {}
    for label, col in zip(labels[clear], columns[clear]):
        counts = pairs.setdefault(_key(label), {})
        counts[int(col)] = counts.get(int(col), 0) + 1
    column = {label: max(counts, key=counts.get) for label, counts in pairs.items()}
    if len(set(column.values())) != len(column):
        return None  # two labels on one column: not an argmax
    agree = sum(counts[column[label]] for label, counts in pairs.items())
    return column if agree >= AGREEMENT * clear.sum() else None


class TieRows(list):
    """Per case, the rows (a mask, or None) that rest on a tie, and `rule`: what the tie is."""

    def __init__(self, masks: list[np.ndarray | None], rule: str) -> None:
        super().__init__(masks)
        self.rule = rule


def union(a: list[np.ndarray | None] | None, b: list[np.ndarray | None] | None) -> list[np.ndarray | None] | None:
    if a is None:
        return b
    if b is None:
        return a
    return [x if y is None else y if x is None else (x | y) for x, y in zip(a, b)]
