"""What a verification looked like, for people (`--report PATH.html`): per output, the distribution of the
absolute error, a sample of source vs candidate values, where the mismatched elements sit, the confusion of
labels; per input, the distribution of the values fed. Plain numbers: they go into the JSON report
(`verification.detail`) and the HTML page draws them, so the page shows nothing the JSON lacks.

Computed only when a report page is asked for (`VerifyOptions.detail`): a CI gate pays nothing for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BINS = 30
SAMPLE = 400  # points of the source-vs-candidate scatter
SAMPLE_MISMATCHED = 150  # of them, at most this many mismatched ones (shown first)
FIRST = 10  # mismatched elements listed by index
AXIS_MAX = 512  # per-axis mismatch counts are given for axes at most this long
CLASSES_MAX = 20  # a confusion matrix for at most this many labels


def describe(cases: list[dict], ref_outs: list[dict], cand_outs: list[dict], pairs: list[tuple[str, str | None]],
             results: list, inputs_from: dict[str, str], seed: int = 0) -> dict[str, Any]:
    """{"outputs": {name: {...}}, "inputs": {name: {...}}} for the page (see the module's docstring)."""
    by_name = {r.name: r for r in results}
    outputs = {}
    for ref_name, cand_name in pairs:
        result = by_name.get(ref_name)
        if cand_name is None or result is None or result.reason and "shape" in result.reason:
            continue
        refs = [np.asarray(o[ref_name]) for o in ref_outs]
        cands = [np.asarray(o[cand_name]) for o in cand_outs]
        cands = [c.reshape(r.shape) if c.size == r.size else c for r, c in zip(refs, cands)]
        try:
            outputs[ref_name] = output_detail(refs, cands, result, seed)
        except (ValueError, TypeError):  # values that are not numbers (strings): nothing to draw
            continue
    inputs = {name: input_detail([np.asarray(c[name]) for c in cases], inputs_from.get(name, ""))
              for name in (cases[0] if cases else {})}
    return {"outputs": outputs, "inputs": inputs}


def _histogram_log(values: np.ndarray) -> dict[str, Any]:
    """Counts of the positive values in BINS log-spaced bins, and how many are exactly zero."""
    positive = values[values > 0]
    out: dict[str, Any] = {"zeros": int((values == 0).sum()), "total": int(values.size)}
    if positive.size:
        lo, hi = float(positive.min()), float(positive.max())
        hi = hi * (1 + 1e-9) if hi > lo else lo * 1.5
        edges = np.geomspace(lo, hi, BINS + 1)
        counts, _ = np.histogram(positive, edges)
        out.update(edges=[float(e) for e in edges], counts=[int(c) for c in counts])
    return out


def output_detail(refs: list[np.ndarray], cands: list[np.ndarray], result, seed: int = 0) -> dict[str, Any]:
    r = np.concatenate([x.ravel() for x in refs])
    c = np.concatenate([x.ravel() for x in cands])
    out: dict[str, Any] = {"passed": result.passed, "exact": result.exact}
    if result.exact or r.dtype.kind in "USOb" or c.dtype.kind in "USOb":
        labels = _confusion(r, c)
        if labels:
            out["confusion"] = labels
        if r.shape == c.shape:
            fails = r != c if r.dtype.kind in "USOb" else r.astype(np.float64) != c.astype(np.float64)
            out["mismatched"] = int(fails.sum())
            out["first_mismatches"] = _first(fails, [x.shape for x in refs])
        return out
    r64, c64 = r.astype(np.float64), c.astype(np.float64)
    finite = np.isfinite(r64) & np.isfinite(c64)
    diff = np.abs(c64 - r64)
    allowed = result.atol + result.rtol * np.abs(r64)
    fails = ~finite | (diff > allowed)
    out["error_histogram"] = _histogram_log(diff[finite])
    absref = np.abs(r64[finite])
    out["tolerance"] = {"atol": result.atol, "rtol": result.rtol,
                        "allowed_min": float(result.atol + result.rtol * absref.min()) if absref.size else None,
                        "allowed_max": float(result.atol + result.rtol * absref.max()) if absref.size else None,
                        "noise_floor": result.noise_floor, "floor_multiple": result.floor_multiple}
    out["sample"] = _sample(r64, c64, fails & finite, seed)
    out["mismatched"] = int(fails.sum())
    out["first_mismatches"] = _first(fails, [x.shape for x in refs])
    axes = _per_axis(fails, [x.shape for x in refs])
    if axes:
        out["mismatch_by_axis"] = axes
    if refs[0].ndim == 2 and 2 <= refs[0].shape[1] <= CLASSES_MAX:  # (N, C) scores: labels by argmax
        top_r = np.concatenate([x.argmax(1) for x in refs])
        top_c = np.concatenate([x.reshape(x.shape[0], -1).argmax(1) for x in cands])
        out["confusion"] = _confusion(top_r, top_c, of="argmax")
    return out


def _sample(r: np.ndarray, c: np.ndarray, bad: np.ndarray, seed: int) -> dict[str, Any]:
    """Up to SAMPLE (source, candidate) pairs: mismatched ones first, the rest spread at random."""
    rng = np.random.default_rng(seed)
    finite = np.flatnonzero(np.isfinite(r) & np.isfinite(c))
    wrong = np.flatnonzero(bad)
    if wrong.size > SAMPLE_MISMATCHED:
        wrong = np.sort(rng.choice(wrong, SAMPLE_MISMATCHED, replace=False))
    rest = np.setdiff1d(finite, wrong, assume_unique=True)
    room = SAMPLE - wrong.size
    if rest.size > room:
        rest = np.sort(rng.choice(rest, room, replace=False))
    return {"source": [float(x) for x in r[wrong]] + [float(x) for x in r[rest]],
            "candidate": [float(x) for x in c[wrong]] + [float(x) for x in c[rest]],
            "mismatched": [True] * int(wrong.size) + [False] * int(rest.size), "of": int(finite.size)}


def _locate(flat: int, shapes: list[tuple]) -> list[int]:
    """[case, *index] of the flat position `flat` in the cases' concatenation."""
    for case, shape in enumerate(shapes):
        size = int(np.prod(shape)) if shape else 1
        if flat < size:
            return [case, *(int(i) for i in np.unravel_index(flat, shape))] if shape else [case]
        flat -= size
    return []


def _first(fails: np.ndarray, shapes: list[tuple]) -> list[list[int]]:
    return [_locate(int(i), shapes) for i in np.flatnonzero(fails)[:FIRST]]


def _per_axis(fails: np.ndarray, shapes: list[tuple]) -> list[dict[str, Any]]:
    """Mismatch counts per index of axis 1 (a channel, a position) and of the last axis, when the output has
    them and they are short enough to draw."""
    if not fails.any() or len(shapes[0]) < 2 or any(len(s) != len(shapes[0]) for s in shapes):
        return []
    found = []
    axes = [1] + ([len(shapes[0]) - 1] if len(shapes[0]) > 2 else [])
    for axis in axes:
        length = shapes[0][axis]
        if not 1 < length <= AXIS_MAX or any(s[axis] != length for s in shapes):
            continue
        counts = np.zeros(length, np.int64)
        start = 0
        for shape in shapes:
            size = int(np.prod(shape))
            part = fails[start:start + size].reshape(shape)
            counts += part.sum(axis=tuple(i for i in range(len(shape)) if i != axis))
            start += size
        found.append({"axis": axis, "length": int(length), "counts": [int(x) for x in counts]})
    return found


def _confusion(r: np.ndarray, c: np.ndarray, of: str = "label") -> dict[str, Any] | None:
    """Counts of (source label, candidate label) pairs, for at most CLASSES_MAX distinct labels."""
    labels = sorted(set(np.unique(r).tolist()) | set(np.unique(c).tolist()), key=str)
    if not 1 < len(labels) <= CLASSES_MAX:
        return None
    index = {v: i for i, v in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), np.int64)
    for a, b in zip(r.tolist(), c.tolist()):
        matrix[index[a], index[b]] += 1
    return {"of": of, "labels": [str(v) for v in labels], "matrix": matrix.tolist(),
            "agreement": float(np.trace(matrix) / max(1, matrix.sum()))}


def input_detail(values: list[np.ndarray], rule: str) -> dict[str, Any]:
    """An input's dtype, shape per case, the rule it came from, and its value distribution."""
    flat = np.concatenate([v.ravel() for v in values]) if values else np.zeros(0)
    out: dict[str, Any] = {"dtype": str(values[0].dtype) if values else "", "shapes": [list(v.shape) for v in values],
                           "rule": rule, "generated": bool(rule) and not rule.endswith(".npz")}
    if flat.dtype.kind not in "biuf" or not flat.size:
        return out
    x = flat.astype(np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return out
    out["stats"] = {"min": float(x.min()), "max": float(x.max()), "mean": float(x.mean()), "std": float(x.std())}
    distinct = np.unique(x)
    if distinct.size <= BINS:  # integers, categories, booleans: a count per value
        out["values"] = {"values": [float(v) for v in distinct],
                         "counts": [int((x == v).sum()) for v in distinct]}
    else:
        counts, edges = np.histogram(x, BINS)
        out["histogram"] = {"edges": [float(e) for e in edges], "counts": [int(v) for v in counts]}
    return out
