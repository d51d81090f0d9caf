"""Numeric comparison of model outputs (numpy only, no framework imports).

An element fails when |candidate - reference| > atol + rtol * |reference| (numpy.allclose with the
reference as `b`). Integer and boolean outputs are compared exactly. For each output we also report the
smallest atol that would have passed at the given rtol, so a user can tell a near miss from a broken model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modelport.core.report import OutputResult

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3
# An output whose error is within this multiple of its float32 noise floor passes even outside atol/rtol.
# Measured (benchmarks/noise_floor.py): faithful conversions sit at 0.5-4x their floor; a 1% change to one
# weight tensor at 50x and more.
FLOOR_MULTIPLE = 8.0

# outputs whose largest value is below this are compared with atol scaled by (largest value / UNIT_SCALE):
# random-weight depth heads output 1e-8, SegFormer logits 1e-3, where a weight x1.01 moves them less than 1e-4
UNIT_SCALE = 0.1


@dataclass
class Tolerance:
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    per_output: dict[str, tuple[float, float]] = field(default_factory=dict)
    # share of elements allowed outside atol/rtol (0 for conversions; quantized models get a little slack)
    max_mismatch: float = 0.0
    # int8 results: each output's atol is at least this share of its range on the reference (int8 error grows
    # with the range a tensor is quantized over: raw logits spanning 400 miss a fixed 0.1 while their labels
    # all agree), and classifier-like outputs must keep top-1 agreement >= 1 - max_mismatch on rows whose
    # top two scores are further apart than that error (see _range_labels)
    range_share: float = 0.0
    # the default atol (the user gave none): an output whose largest value is below UNIT_SCALE is compared with
    # atol scaled to its size (see compare_output's `own_scale`)
    own_scale: bool = False

    def for_output(self, name: str) -> tuple[float, float]:
        return self.per_output.get(name, (self.atol, self.rtol))


def match_outputs(
    ref_names: list[str],
    cand_names: list[str],
    ref_shapes: dict[str, tuple] | None = None,
    cand_shapes: dict[str, tuple] | None = None,
) -> tuple[list[tuple[str, str | None]], str]:
    """Pair reference outputs with candidate outputs: by name, then by shape, then by position.

    TFLite renames and reorders outputs (`output_0`, `StatefulPartitionedCall:1`, ...), so when names do not
    line up, outputs whose shapes are unique on both sides are paired by shape; outputs sharing a shape keep
    their relative order. Returns (pairs, how).
    """
    if set(ref_names) <= set(cand_names):
        return [(n, n) for n in ref_names], "name"
    if ref_shapes and cand_shapes and len(ref_names) == len(cand_names):
        groups: dict[tuple, list[str]] = {}
        for name in cand_names:
            groups.setdefault(tuple(cand_shapes[name]), []).append(name)
        unique = all(len(g) == 1 for g in groups.values())
        pairs, ok = [], True
        for name in ref_names:
            group = groups.get(tuple(ref_shapes[name]))
            if not group:
                ok = False
                break
            pairs.append((name, group.pop(0)))
        if ok:
            return pairs, "shape" if unique else "position"
    if len(ref_names) == len(cand_names):
        return list(zip(ref_names, cand_names)), "position"
    common = set(ref_names) & set(cand_names)
    return [(n, n if n in common else None) for n in ref_names], "name"


def _is_exact(a: np.ndarray) -> bool:
    return a.dtype.kind in "biuUSO"


def compare_output(
    name: str, cand_name: str, refs: list[np.ndarray], cands: list[np.ndarray], atol: float, rtol: float,
    max_mismatch: float = 0.0, twins: list[np.ndarray] | None = None, multiple: float = FLOOR_MULTIPLE,
    ties: list[np.ndarray | None] | None = None, range_share: float = 0.0, own_scale: bool = False,
) -> OutputResult:
    """Compare one output over all verification cases (lists hold one array per case).

    `twins`: the same output from the source's float64 twin. Then |reference - twin| is the output's noise
    floor (what float32 rounding alone moves it), and an output within `multiple` of it passes.
    `ties`: per case, a mask of the rows whose value the source decides by a tie (two classes whose scores are
    equal within rounding, equidistant neighbours: see verify/ties.py). A difference in such a row is counted
    as a tie, not a mismatch, and left out of the error figures.
    `own_scale`: an output whose largest value is below UNIT_SCALE (a random-weight depth head's 1e-8) has its
    atol scaled by (largest value / UNIT_SCALE): a fixed atol would pass a changed model.
    `range_share`: the atol is at least this share of the output's range on the reference (int8 results),
    and a classifier-like output must also keep its top-1 labels (`_range_labels`).
    """
    refs = [np.asarray(r) for r in refs]
    cands = [np.asarray(c) for c in cands]
    shape, cshape = list(refs[0].shape), list(cands[0].shape)
    result = OutputResult(name, cand_name, shape, cshape, passed=False, atol=atol, rtol=rtol)
    for i, (r, c) in enumerate(zip(refs, cands)):
        if r.shape != c.shape:
            if r.size == c.size and tuple(d for d in r.shape if d != 1) == tuple(d for d in c.shape if d != 1):
                cands[i] = c.reshape(r.shape)  # (N,) vs (N, 1): same values, different rank
                continue
            result.reason = f"shape {list(c.shape)} differs from reference {list(r.shape)}"
            return result
    ref = np.concatenate([r.ravel() for r in refs])
    cand = np.concatenate([c.ravel() for c in cands])
    tied = _tie_elements(ties, refs)
    if ref.size == 0:
        result.passed = True
        return result
    if _is_exact(ref) or _is_exact(cand):
        result.exact = True
        if _is_exact(ref) != _is_exact(cand) and not _integral(ref if not _is_exact(ref) else cand):
            result.reason = f"dtype {cand.dtype} differs from reference {ref.dtype}"
            return result
        same = ref.astype(np.float64) == cand.astype(np.float64) if ref.dtype.kind not in "USO" else ref == cand
        result.label_agreement = float(same.mean())
        if tied is not None:
            result.ties = int((~same & tied).sum())
            same = same | tied
        result.mismatch_ratio = float(1.0 - same.mean())
        result.passed = bool(same.all())
        if not result.passed:
            result.reason = f"{int((~same).sum())} of {same.size} values differ (compared exactly)"
        return result

    r = ref.astype(np.float64)
    c = cand.astype(np.float64)
    finite = np.abs(r[np.isfinite(r)])
    scale = float(finite.max()) if finite.size else 0.0
    if own_scale and 0.0 < scale < UNIT_SCALE:  # an absolute atol on values this small would pass a changed model
        atol = result.atol = atol * scale / UNIT_SCALE
        result.atol_rule = (f"atol x (the output's largest value {scale:.3g} / {UNIT_SCALE}): a fixed atol is "
                            "coarse against values this small")
    if range_share:
        finite = r[np.isfinite(r)]
        span = float(finite.max() - finite.min()) if finite.size else 0.0
        if range_share * span > atol:
            atol = result.atol = range_share * span
            result.atol_rule = f"{range_share:.0%} of the output's range {span:.4g}"
    r_nan, c_nan = np.isnan(r), np.isnan(c)
    r_inf, c_inf = np.isinf(r), np.isinf(c)
    both_nan = r_nan & c_nan
    same_inf = r_inf & c_inf & (np.sign(r) == np.sign(c))
    special = both_nan | same_inf
    bad_special = (r_nan ^ c_nan) | ((r_inf | c_inf) & ~same_inf & ~both_nan)
    if bad_special.any():
        result.nonfinite = (
            f"{int((c_nan & ~r_nan).sum())} NaN and {int((c_inf & ~r_inf).sum())} Inf in candidate, "
            f"{int((r_nan & ~c_nan).sum())} NaN and {int((r_inf & ~c_inf).sum())} Inf in reference"
        )
    ok = ~(special | bad_special)
    if tied is not None:  # a tied row that differs is left out of the comparison (and counted)
        off = tied & ok & (np.abs(c - r) > atol + rtol * np.abs(r))
        result.ties = int(off.sum())
        ok &= ~off
    diff_ok = np.abs(c[ok] - r[ok])
    if diff_ok.size:
        result.max_abs_error = float(diff_ok.max())
        result.mean_abs_error = float(diff_ok.mean())
        absref = np.abs(r[ok])
        result.max_rel_error = float((diff_ok / np.maximum(absref, np.finfo(np.float64).tiny)).max())
        result.required_atol = float(max(0.0, (diff_ok - rtol * absref).max()))
    fails = bad_special.copy()
    fails[ok] = diff_ok > atol + rtol * np.abs(r[ok])
    result.mismatch_ratio = float(fails.mean())
    result.passed = not bad_special.any() and result.mismatch_ratio <= max_mismatch
    if result.passed:
        result.passed_by = "tolerance"
    _agreement_statistics(result, r[ok], c[ok], refs, cands)
    if twins is not None and diff_ok.size:
        t = np.concatenate([np.asarray(x, np.float64).ravel() for x in twins])
        floor = np.abs(r - t)[ok] if t.shape == r.shape else np.zeros(0)
        if floor.size and np.isfinite(floor).all():
            result.noise_floor = float(floor.max())
            result.floor_multiple = multiple
            if result.noise_floor > 0:
                result.floor_ratio = result.max_abs_error / result.noise_floor
                if not result.passed and not bad_special.any() and result.floor_ratio <= multiple:
                    result.passed, result.passed_by = True, "noise floor"
    if range_share and result.passed:
        _range_labels(result, refs, cands, atol, 1.0 - max_mismatch)
    if result.nonfinite and not result.passed:
        result.reason = result.nonfinite
    if special.any() and not result.nonfinite:
        result.nonfinite = f"{int(both_nan.sum())} NaN and {int(same_inf.sum())} Inf on both sides"
    if not ok.any():  # all NaN/Inf on both sides: nothing was compared, the gate must not pass
        result.passed = False
        result.reason = "no finite values to compare: both models output only NaN/Inf"
    result.label_agreement = _label_agreement(refs, cands)
    return result


def _agreement_statistics(result: OutputResult, r: np.ndarray, c: np.ndarray, refs, cands) -> None:
    """Cosine similarity, SNR (dB) and, for (N, C) scores, top-5 agreement."""
    if not r.size:
        return
    norm = float(np.linalg.norm(r) * np.linalg.norm(c))
    result.cosine = float(np.dot(r, c) / norm) if norm else (1.0 if not np.any(r - c) else 0.0)
    noise = float(np.sum((c - r) ** 2))
    result.snr_db = float(10 * np.log10(np.sum(r ** 2) / noise)) if noise and np.any(r) else None
    if refs[0].ndim == 2 and refs[0].shape[-1] > 5 and all(a.shape == b.shape for a, b in zip(refs, cands)):
        hits = total = 0
        for a, b in zip(refs, cands):
            top_a = np.argsort(-a, axis=-1)[:, :5]
            top_b = np.argsort(-b, axis=-1)[:, :5]
            hits += sum(len(set(x) & set(y)) for x, y in zip(top_a, top_b))
            total += top_a.size
        result.top5_agreement = hits / total if total else None


def _range_labels(result: OutputResult, refs, cands, atol: float, least: float) -> None:
    """A classifier-like (N, C) output judged by a range-relative atol must keep its top-1 labels: on the rows
    whose top two reference scores are more than 2 x atol apart (the rest may swap within the tolerance),
    at least `least` of them."""
    if refs[0].ndim != 2 or refs[0].shape[-1] < 2 or any(a.shape != b.shape for a, b in zip(refs, cands)):
        return
    r = np.concatenate([np.asarray(a, np.float64) for a in refs])
    c = np.concatenate([np.asarray(b, np.float64) for b in cands])
    top2 = np.sort(r, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * atol
    if not clear.any():
        return
    agree = float((np.argmax(r[clear], 1) == np.argmax(c[clear], 1)).mean())
    result.clear_label_agreement = agree
    if agree < least:
        result.passed, result.passed_by = False, None
        result.reason = (f"top-1 labels agree on {agree:.1%} of the {int(clear.sum())} rows with a clear margin "
                         f"(at least {least:.0%} needed)")


def _tie_elements(ties: list[np.ndarray | None] | None, refs: list[np.ndarray]) -> np.ndarray | None:
    """The per-row tie masks spread over each case's elements, flattened like the outputs (None: no ties)."""
    if not ties or not any(t is not None and t.any() for t in ties):
        return None
    parts = []
    for mask, ref in zip(ties, refs):
        if mask is None or not ref.ndim or len(mask) != ref.shape[0]:
            parts.append(np.zeros(ref.size, bool))
        else:
            parts.append(np.broadcast_to(mask.reshape((-1,) + (1,) * (ref.ndim - 1)), ref.shape).ravel())
    return np.concatenate(parts)


def _integral(a: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def _label_agreement(refs: list[np.ndarray], cands: list[np.ndarray]) -> float | None:
    """argmax agreement over the last axis, for (N, C) classifier-like outputs with C >= 2."""
    if refs[0].ndim != 2 or refs[0].shape[-1] < 2:
        return None
    agree = total = 0
    for r, c in zip(refs, cands):
        if r.shape != c.shape:
            return None
        same = np.argmax(r, axis=-1) == np.argmax(c, axis=-1)
        agree += int(same.sum())
        total += same.size
    return agree / total if total else None
