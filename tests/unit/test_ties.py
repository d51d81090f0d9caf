"""The tie rule on its own (numpy only): a label that differs where the reference's top two scores are within
tolerance is a tie; where they are apart it is a mismatch; scores that do not give the labels give no ties."""

from __future__ import annotations

import numpy as np

from modelport.core.report import OutputResult
from modelport.verify.compare import compare_output
from modelport.verify.ties import label_ties


def _scores_result(**kw) -> OutputResult:
    return OutputResult("p", "p", [4, 3], [4, 3], True, kw.get("atol", 1e-4), kw.get("rtol", 1e-3),
                        noise_floor=kw.get("floor"))


PROBS = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.45, 0.45, 0.1], [0.1, 0.2, 0.7], [0.3, 0.6, 0.1]])
LABELS = np.array([10, 20, 10, 30, 20])  # class labels, not column numbers


def test_a_label_differing_at_a_tie_is_counted_as_a_tie():
    cand = LABELS.copy()
    cand[2] = 20  # row 2: 0.45 vs 0.45
    ties = label_ties([LABELS], [cand], [PROBS], _scores_result())
    assert ties[0].tolist() == [False, False, True, False, False]
    result = compare_output("label", "label", [LABELS], [cand], 0, 0, ties=ties)
    assert result.passed and result.ties == 1 and result.label_agreement == 0.8


def test_a_label_differing_where_the_margin_is_clear_fails():
    cand = LABELS.copy()
    cand[4] = 10  # row 4: 0.6 vs 0.3
    ties = label_ties([LABELS], [cand], [PROBS], _scores_result())
    result = compare_output("label", "label", [LABELS], [cand], 0, 0, ties=ties)
    assert not result.passed and result.ties == 0


def test_a_candidate_label_outside_the_tied_classes_is_no_tie():
    cand = LABELS.copy()
    cand[2] = 30  # row 2 ties 10 and 20; 30 scores 0.1 there
    result = compare_output("label", "label", [LABELS], [cand], 0, 0,
                            ties=label_ties([LABELS], [cand], [PROBS], _scores_result()))
    assert not result.passed


def test_the_margin_allowed_is_the_scores_tolerance_or_noise_floor():
    probs = PROBS.copy()
    probs[2] = [0.45075, 0.44925, 0.1]  # 1.5e-3 apart: beyond 2 x (1e-4 + 1e-3 x 0.45), within 2 x a 1e-3 floor
    cand = LABELS.copy()
    cand[2] = 20
    assert not label_ties([LABELS], [cand], [probs], _scores_result())[0][2]
    assert label_ties([LABELS], [cand], [probs], _scores_result(floor=1e-3))[0][2]


def test_scores_that_do_not_decide_the_labels_give_no_ties():
    labels = np.array([20, 10, 10, 20, 10])  # not the argmax of PROBS on the clear rows
    assert label_ties([labels], [labels], [PROBS], _scores_result()) is None


def test_a_decision_function_ties_at_zero():
    scores = np.array([2.0, -1.5, 1e-6, -3.0, 0.8])
    labels = np.array([1, 0, 1, 0, 1])
    cand = labels.copy()
    cand[2] = 0
    assert label_ties([labels], [cand], [scores], _scores_result())[0].tolist() == [False, False, True, False, False]
    cand = labels.copy()
    cand[4] = 0
    result = compare_output("label", "label", [labels], [cand], 0, 0,
                            ties=label_ties([labels], [cand], [scores], _scores_result()))
    assert not result.passed


def test_ties_in_float_outputs_leave_the_error_figures():
    ref = np.array([[0.2, 0.8], [0.6, 0.4]])
    cand = np.array([[0.2, 0.8], [0.4, 0.6]])  # row 1 differs by 0.2: the source's tie (equidistant neighbours)
    result = compare_output("p", "p", [ref], [cand], 1e-4, 0, ties=[np.array([False, True])])
    assert result.passed and result.ties == 2 and result.max_abs_error == 0
    result = compare_output("p", "p", [ref], [cand], 1e-4, 0, ties=[np.array([True, False])])
    assert not result.passed and result.ties == 0
