"""Task accuracy on labelled data (`--data` with a `labels` array), for before/after comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelport.verify.inputs import load_npz

if TYPE_CHECKING:
    from modelport.core.model import Model


def top1(model: Model, data: Path | None) -> float | None:
    """Top-1 accuracy: a classifier's own `label` output, else the argmax of its first (N, C) float output.
    None without data, without labels, or for a model that is not a classifier."""
    import numpy as np

    if data is None:
        return None
    arrays = dict(np.load(str(data), allow_pickle=False))
    if "labels" not in arrays:
        return None
    labels = np.asarray(arrays["labels"]).ravel()
    preds = []
    for case in load_npz(data, model.inputs):
        out = model.run(case)
        if "label" in out:
            preds.append(np.asarray(out["label"]).ravel())
            continue
        scores = next((v for v in out.values() if v.ndim == 2 and v.shape[1] > 1 and v.dtype.kind == "f"), None)
        if scores is None:
            return None
        preds.append(np.argmax(scores, 1))
    pred = np.concatenate(preds)
    return float(np.mean(pred == labels[: len(pred)]))
