"""Rows a k-neighbours model decides by a tie: the k-th and the next neighbour at the same distance.

Which of two equidistant stored rows counts as the k-th neighbour is arbitrary (scikit-learn's argpartition and
ONNX Runtime's TopK choose differently, and float32 rounding of the distances can break the tie either way),
and it moves every output of that row: the probabilities by 1/k, the label, a regressor's mean, the neighbour
indices. Data sets repeat rows (iris does), so such rows are common. Verification counts a difference in such
a row as a tie (verify/ties.py), not a mismatch.
"""

from __future__ import annotations

import numpy as np

# distances within this share of their scale (the row's norm, the distance itself) are equal in float32 terms:
# float32 keeps 6e-8 of a value, and a squared distance summed over features loses a few times more
RELATIVE = 1e-5


def neighbour_ties(estimator, x) -> tuple[str, np.ndarray] | None:
    """(what the tie is, a mask of the rows of x) for a k-neighbours estimator, or a pipeline ending in one;
    None for anything else."""
    final = estimator
    if hasattr(estimator, "steps"):
        final = estimator.steps[-1][1]
        if len(estimator.steps) > 1:
            x = estimator[:-1].transform(x)
    k = getattr(final, "n_neighbors", None)
    if not hasattr(final, "kneighbors") or not isinstance(k, int):
        return None
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
    stored = int(getattr(final, "n_samples_fit_", 0))
    if stored <= k:
        return None  # every stored row is a neighbour: nothing to choose between
    distances, _ = final.kneighbors(x, n_neighbors=k + 1)
    scale = np.maximum(np.linalg.norm(x, axis=1), distances[:, -1]) + 1.0
    close = np.diff(distances, axis=1) <= RELATIVE * scale[:, None]
    if hasattr(final, "predict") or hasattr(final, "transform"):
        # a classifier, regressor, outlier factor or graph: only which rows are the k nearest matters
        return "the k-th and the next nearest neighbours are equidistant", close[:, k - 1]
    # NearestNeighbors: the order of the k neighbours is an output too
    return "two of the k+1 nearest neighbours are equidistant", close.any(axis=1)
