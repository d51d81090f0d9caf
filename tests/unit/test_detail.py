"""verify/detail.py: what a report page draws, checked against NumPy on arrays made here."""

from __future__ import annotations

import numpy as np

from modelport.core.report import OutputResult
from modelport.verify.detail import describe


def _result(name, passed=False, atol=1e-3, rtol=0.0):
    return OutputResult(name, "cand", [2, 3, 4], [2, 3, 4], passed=passed, atol=atol, rtol=rtol)


def test_outputs_matched_by_position_are_described_by_their_reference_name():
    rng = np.random.default_rng(0)
    refs = [rng.standard_normal((2, 3, 4)).astype(np.float32) for _ in range(2)]
    cands = [r.copy() for r in refs]
    cands[1][1, 2, 3] += 1.0  # one element off, in the second case
    cands[0][0, 1, 0] += 0.5
    cases = [{"x": rng.standard_normal((20, 4)).astype(np.float32)} for _ in range(2)]
    detail = describe(cases, [{"y": r} for r in refs], [{"Identity:0": c} for c in cands], [("y", "Identity:0")],
                      [_result("y")], {"x": "generated: N(0, 1)"})
    out = detail["outputs"]["y"]
    diff = np.abs(np.concatenate([c.ravel() for c in cands]) - np.concatenate([r.ravel() for r in refs]))
    hist = out["error_histogram"]
    assert hist["total"] == diff.size and hist["zeros"] == int((diff == 0).sum())
    assert sum(hist["counts"]) == int((diff > 0).sum())
    assert out["mismatched"] == 2 and out["first_mismatches"] == [[0, 0, 1, 0], [1, 1, 2, 3]]
    axis1 = next(a for a in out["mismatch_by_axis"] if a["axis"] == 1)
    assert axis1["counts"] == [0, 1, 1]
    assert sum(out["sample"]["mismatched"]) == 2 and len(out["sample"]["source"]) == diff.size
    x = detail["inputs"]["x"]
    values = np.concatenate([c["x"].ravel() for c in cases]).astype(np.float64)
    assert x["stats"]["min"] == values.min() and x["generated"] and sum(x["histogram"]["counts"]) == values.size


def test_labels_get_a_confusion_matrix_and_their_first_differences():
    refs = [np.array([0, 1, 2, 1, 0])]
    cands = [np.array([0, 2, 2, 1, 1])]
    result = OutputResult("label", "label", [5], [5], passed=False, atol=0, rtol=0, exact=True)
    out = describe([{"x": np.zeros((5, 1), np.float32)}], [{"label": r} for r in refs],
                   [{"label": c} for c in cands], [("label", "label")], [result], {})["outputs"]["label"]
    assert out["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert out["first_mismatches"] == [[0, 1], [0, 4]] and out["mismatched"] == 2
