"""Boundary probes: rows either side of a classifier's own decision boundary (numpy only).

Generated rows land where the input rules put them, and a classifier's decision often changes in a thin band
between them: a tuned decision threshold (label positive when p >= 0.82, not 0.5) changes labels only for rows
whose probability lies between the two thresholds, and rows drawn from a scaler's statistics give a linear
model probabilities of 0 or 1. A converter that drops the threshold then passes on every generated row.

So for a model with a label output, take pairs of generated rows the source labels differently, bisect the
segment between them with the source itself, and add the two ends of the last bracket: rows just either side
of the source's boundary. A candidate that draws the boundary elsewhere labels one of them differently. The
count is bounded (PAIRS_PER_CLASS_PAIR per pair of labels, MAX_PAIRS in all) and the bisection costs STEPS
batched runs of the source.

Where the source decides by argmax, the two ends straddle a tie of its scores, and a float32 candidate may
label either way there: verify/ties.py counts such a difference as a tie. A threshold drawn elsewhere is no
tie: the scores at the source's boundary are far apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from modelport.verify.ties import is_label

PAIRS_PER_CLASS_PAIR = 4
MAX_PAIRS = 32
# the last bracket is 1/4096 of the segment: close to the boundary, yet far beyond float32 rounding of a row
STEPS = 12


def boundary_rows(run: Callable[[dict], dict], feed: dict[str, np.ndarray], seed: int = 0) -> np.ndarray | None:
    """Rows either side of the source's decision boundary, for a lone 2-D float input `feed`; None when the
    model has no label output or fewer than two labels on these rows."""
    if len(feed) != 1:
        return None
    name, x = next(iter(feed.items()))
    if x.ndim != 2 or x.dtype.kind != "f" or len(x) < 2:
        return None
    outputs = run(feed)
    label_name = _label_output(outputs)
    if label_name is None:
        return None
    labels = np.asarray(outputs[label_name]).reshape(len(x))
    pairs = _pairs(labels, np.random.default_rng(seed))
    if not pairs:
        return None
    first, second = np.array(pairs).T
    lo, hi = x[first].astype(np.float64), x[second].astype(np.float64)
    lo_label = labels[first]
    for _ in range(STEPS):
        mid = ((lo + hi) / 2).astype(x.dtype)
        same = np.asarray(run({name: mid})[label_name]).reshape(len(mid)) == lo_label
        lo = np.where(same[:, None], mid, lo)
        hi = np.where(same[:, None], hi, mid)
    return np.concatenate([lo, hi]).astype(x.dtype)


def _label_output(outputs: dict) -> str | None:
    for out_name, value in outputs.items():
        value = np.asarray(value)
        if value.ndim and is_label([value]):
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
