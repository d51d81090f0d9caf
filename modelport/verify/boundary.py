"""Boundary probes: rows either side of a classifier's own decision boundary (numpy only).

Generated rows land where the input rules put them, and a classifier's decision often changes in a thin band
between them: a tuned decision threshold (label positive when p >= 0.82, not 0.5) changes labels only for rows
whose probability lies between the two thresholds, and rows drawn from a scaler's statistics give a linear
model probabilities of 0 or 1. A converter that drops the threshold then passes on every generated row.

So for a model with a label output, take pairs of generated rows the source labels differently, narrow the
segment between them with the source itself, and add the two ends of the last bracket: rows just either side
of the source's boundary. A candidate that draws the boundary elsewhere labels one of them differently. The
count is bounded (PAIRS_PER_CLASS_PAIR per pair of labels, MAX_PAIRS in all). Each of the STEPS rounds cuts
every bracket in SECTIONS in one batched run of the source (3 runs of 15 points a pair rather than 12 runs of
one: a forest's run costs its per-call overhead, 25 ms for 200 trees, whatever the rows).
When the source gives every generated row the same label (a model that says nothing about its data, fed
N(0, 1) rows on features in the thousands), rows spread 10, 100 and 1000 times further from their centre are
tried (one run each) until one is labelled otherwise, and the pairs cross from one to the other.
A multi-output classifier's row of labels counts as one label.

Where the source decides by argmax, the two ends straddle a tie of its scores, and a float32 candidate may
label either way there: verify/ties.py counts such a difference as a tie. A threshold drawn elsewhere is no
tie: the scores at the source's boundary are far apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PAIRS_PER_CLASS_PAIR = 4
MAX_PAIRS = 32
# the last bracket is 1/16**3 = 1/4096 of the segment: close to the boundary, yet far beyond float32 rounding
SECTIONS = 16
STEPS = 3
WIDER = (10.0, 100.0, 1000.0)  # spreads tried when every generated row gets the same label


def boundary_rows(run: Callable[[dict], dict], feed: dict[str, np.ndarray], seed: int = 0) -> np.ndarray | None:
    """Rows either side of the source's decision boundary, for a lone 2-D float input `feed`; None when the
    model has no label output or no two labels can be found around these rows."""
    if len(feed) != 1:
        return None
    name, x = next(iter(feed.items()))
    if x.ndim != 2 or x.dtype.kind != "f" or len(x) < 2:
        return None
    outputs = run(feed)
    label_name = _label_output(outputs)
    if label_name is None:
        return None
    x, values = _both_sides(run, name, x, np.asarray(outputs[label_name]).reshape(len(x), -1), label_name)
    pairs = _pairs(_row_ids(values), np.random.default_rng(seed))
    if not pairs:
        return None
    first, second = np.array(pairs).T
    lo, hi = x[first].astype(np.float64), x[second].astype(np.float64)
    cuts = np.arange(1, SECTIONS) / SECTIONS
    for _ in range(STEPS):
        # every pair's SECTIONS - 1 inner points, in one run; lo keeps the first row's label, hi does not
        points = (lo[:, None, :] + (hi - lo)[:, None, :] * cuts[None, :, None]).astype(x.dtype)
        labels = _labels_of(run, name, points.reshape(-1, x.shape[1]), label_name)
        same = _same(labels, np.repeat(values[first], len(cuts), axis=0)).reshape(len(lo), len(cuts))
        # k: the first inner point labelled otherwise, or len(cuts) when none is (the bracket is then the last
        # point and hi); ends[k] keeps lo's label, ends[k + 1] does not
        k = np.where(same.all(axis=1), len(cuts), np.argmin(same, axis=1))
        ends = np.concatenate([lo[:, None, :], points.astype(np.float64), hi[:, None, :]], axis=1)
        rows = np.arange(len(lo))
        lo, hi = ends[rows, k], ends[rows, k + 1]
    return np.concatenate([lo, hi]).astype(x.dtype)


def _both_sides(run, name: str, x: np.ndarray, values: np.ndarray, label_name: str):
    """The rows and their labels (a row of them each); when all share one, rows further out (the generated rows
    spread about their centre by 10, 100, 1000) that the source labels otherwise are added: a model that says
    nothing about its data (N(0, 1) rows on features in the thousands) may label every generated row alike."""
    if len(np.unique(values, axis=0)) > 1:
        return x, values
    centre = x.mean(axis=0)
    for spread in WIDER:
        wide = (centre + (x - centre) * spread).astype(x.dtype)
        wide_values = _labels_of(run, name, wide, label_name)
        other = ~_same(wide_values, values[:1])
        if other.any():
            return np.concatenate([x, wide[other]]), np.concatenate([values, wide_values[other]])
    return x, values


def _labels_of(run, name: str, rows: np.ndarray, label_name: str) -> np.ndarray:
    value = np.asarray(run({name: rows})[label_name])
    return value.reshape(len(rows), -1)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row by row: the same label (every target's, for a multi-output model)."""
    return (a == b).all(axis=1)


def _row_ids(values: np.ndarray) -> np.ndarray:
    """One id per row's label (a multi-output model's row of labels counts as one)."""
    return np.unique(values, axis=0, return_inverse=True)[1].reshape(len(values))


def _label_output(outputs: dict) -> str | None:
    """The first output holding labels: integers or strings, a row of them per input row."""
    for out_name, value in outputs.items():
        value = np.asarray(value)
        if value.ndim in (1, 2) and value.dtype.kind in "biuUSO":
            return out_name
    return None


def _pairs(labels: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Row pairs with different labels: up to PAIRS_PER_CLASS_PAIR per pair of labels, MAX_PAIRS in all."""
    values = list(dict.fromkeys(labels.tolist()))
    rows = {v: np.flatnonzero(labels == v) for v in values}
    pairs = []
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            count = min(PAIRS_PER_CLASS_PAIR, len(rows[a]), len(rows[b]))
            pairs += zip(rng.choice(rows[a], count, replace=False).tolist(),
                         rng.choice(rows[b], count, replace=False).tolist())
    if len(pairs) > MAX_PAIRS:
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), MAX_PAIRS, replace=False))]
    return pairs
