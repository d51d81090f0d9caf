from __future__ import annotations

import numpy as np

from modelport.verify.compare import Tolerance, compare_output, match_outputs


def test_allclose_semantics_and_required_atol():
    ref = np.array([1.0, 100.0, -2.0], dtype=np.float32)
    cand = ref + np.array([1e-5, 0.05, 0.0], dtype=np.float32)
    r = compare_output("y", "y", [ref], [cand], atol=1e-4, rtol=1e-3)
    assert r.passed  # 0.05 <= 1e-4 + 1e-3 * 100
    r = compare_output("y", "y", [ref], [cand], atol=1e-4, rtol=0.0)
    assert not r.passed
    assert abs(r.mismatch_ratio - 1 / 3) < 1e-9
    assert abs(r.max_abs_error - 0.05) < 1e-5
    assert abs(r.required_atol - 0.05) < 1e-5
    assert abs(r.max_rel_error - 5e-4) < 1e-6


def test_integers_compare_exactly():
    r = compare_output("label", "label", [np.array([0, 1, 2])], [np.array([0, 1, 1])], 1.0, 1.0)
    assert r.exact and not r.passed and abs(r.mismatch_ratio - 1 / 3) < 1e-9


def test_nan_handling():
    ref = np.array([np.nan, 1.0, np.inf])
    assert compare_output("y", "y", [ref], [ref.copy()], 1e-4, 0).passed
    r = compare_output("y", "y", [np.array([1.0, 2.0])], [np.array([np.nan, 2.0])], 1e-4, 0)
    assert not r.passed and "NaN" in r.nonfinite


def test_label_agreement_on_probabilities():
    ref = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    cand = np.array([[0.8, 0.2], [0.6, 0.4], [0.2, 0.8]])
    r = compare_output("p", "p", [ref], [cand], 1e-4, 0)
    assert abs(r.label_agreement - 2 / 3) < 1e-9


def test_shape_mismatch_fails_but_rank_squeeze_passes():
    assert compare_output("v", "v", [np.ones(4)], [np.ones((4, 1))], 1e-4, 0).passed
    r = compare_output("v", "v", [np.ones(4)], [np.ones(5)], 1e-4, 0)
    assert not r.passed and "shape" in r.reason


def test_cases_accumulate():
    r = compare_output("y", "y", [np.zeros(3), np.zeros(1)], [np.zeros(3), np.ones(1)], 0.5, 0)
    assert not r.passed and r.mismatch_ratio == 0.25


def test_matching_by_name_then_position():
    assert match_outputs(["a", "b"], ["b", "a", "c"]) == ([("a", "a"), ("b", "b")], "name")
    assert match_outputs(["a", "b"], ["x", "y"]) == ([("a", "x"), ("b", "y")], "position")
    assert match_outputs(["a", "b"], ["a"]) == ([("a", "a"), ("b", None)], "name")


def test_matching_by_shape_when_names_differ():
    ref = {"cls": (4, 3), "reg": (4, 1)}
    cand = {"output_0": (4, 1), "output_1": (4, 3)}  # TFLite renamed and reordered
    pairs, how = match_outputs(["cls", "reg"], ["output_0", "output_1"], ref, cand)
    assert how == "shape" and pairs == [("cls", "output_1"), ("reg", "output_0")]
    pairs, how = match_outputs(["a", "b"], ["x", "y"], {"a": (2,), "b": (2,)}, {"x": (2,), "y": (2,)})
    assert how == "position" and pairs == [("a", "x"), ("b", "y")]


def test_per_output_tolerance():
    tol = Tolerance(1e-4, 1e-3, {"logits": (1e-2, 0.0)})
    assert tol.for_output("logits") == (1e-2, 0.0)
    assert tol.for_output("other") == (1e-4, 1e-3)


def test_int8_atol_is_a_share_of_the_outputs_range_and_labels_must_hold():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 100, (50, 4))  # logits spanning ~500
    ref[np.arange(50), rng.integers(0, 4, 50)] += 400  # a clear winner per row
    noisy = ref + rng.normal(0, 2, ref.shape)  # int8-like error: ~0.4% of the range
    fixed = compare_output("y", "y", [ref], [noisy], 0.1, 0.1, max_mismatch=0.02)
    assert not fixed.passed
    ranged = compare_output("y", "y", [ref], [noisy], 0.1, 0.1, max_mismatch=0.02, range_share=0.02)
    assert ranged.passed and ranged.atol > 10 and "range" in ranged.atol_rule
    assert ranged.clear_label_agreement == 1.0
    small = compare_output("p", "p", [ref / 1e4], [noisy / 1e4], 0.1, 0.1, range_share=0.02)
    assert small.atol == 0.1 and small.atol_rule is None  # never stricter than the fixed atol
    swapped = noisy.copy()
    top2 = np.argsort(ref, axis=1)[:5, -2:]
    rows = np.arange(5)[:, None]
    swapped[rows, top2] = swapped[rows, top2[:, ::-1]]  # five rows' top two swapped: 5% of the elements off
    result = compare_output("y", "y", [ref], [swapped], 0.1, 0.1, max_mismatch=0.06, range_share=0.02)
    assert result.mismatch_ratio <= 0.06  # within the share of elements allowed off...
    assert not result.passed and result.clear_label_agreement == 0.9  # ...but 10% of the labels moved


def test_an_output_smaller_than_atol_is_compared_at_its_own_size():
    """A depth head of random weights outputs values around 1e-8: atol 1e-4 would pass any candidate, so atol is
    scaled to the output's size; float32-sized differences still pass."""
    rng = np.random.default_rng(0)
    ref = (rng.random((4, 16, 16)) * 1e-8).astype(np.float32)
    faithful = ref * (1 + rng.standard_normal(ref.shape).astype(np.float32) * 1e-6)
    broken = ref * 1.05
    fixed = compare_output("depth", "depth", [ref], [broken], atol=1e-4, rtol=1e-3)
    assert fixed.passed  # what a fixed atol says of it (a user's --atol keeps this)
    good = compare_output("depth", "depth", [ref], [faithful], atol=1e-4, rtol=1e-3, own_scale=True)
    assert good.passed and good.atol < 1e-11 and "largest value" in good.atol_rule
    bad = compare_output("depth", "depth", [ref], [broken], atol=1e-4, rtol=1e-3, own_scale=True)
    assert not bad.passed
    usual = compare_output("logits", "logits", [ref * 1e8], [ref * 1e8 * 1.0000001], atol=1e-4, rtol=1e-3,
                           own_scale=True)
    assert usual.passed and usual.atol == 1e-4 and usual.atol_rule is None
