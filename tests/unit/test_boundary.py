"""Boundary probes on their own (numpy only): rows either side of the source's decision boundary."""

from __future__ import annotations

import numpy as np

from modelport.verify import boundary


def _threshold_model(t: float, calls: list | None = None):
    def run(feed):
        x = feed["X"]
        if calls is not None:
            calls.append(len(x))
        p = 1 / (1 + np.exp(-x[:, 0] - x[:, 1]))
        return {"label": (p >= t).astype(np.int64), "probabilities": np.stack([1 - p, p], 1)}
    return run


def test_rows_straddle_the_sources_boundary_and_catch_a_moved_one():
    x = np.random.default_rng(0).normal(0, 3, (64, 2))
    calls: list = []
    rows = boundary.boundary_rows(_threshold_model(0.8, calls), {"X": x})
    half = len(rows) // 2
    assert 2 <= half <= boundary.MAX_PAIRS
    assert len(calls) == 1 + boundary.STEPS  # the rows' labels, then one batched run per narrowing round
    p = 1 / (1 + np.exp(-rows[:, 0] - rows[:, 1]))
    assert (p[:half] < 0.8).all() and (p[half:] >= 0.8).all() or (p[:half] >= 0.8).all() and (p[half:] < 0.8).all()
    assert np.abs(p - 0.8).max() < 0.01  # close to the boundary
    moved = _threshold_model(0.5)({"X": rows})["label"]
    assert (moved != _threshold_model(0.8)({"X": rows})["label"]).any()


def test_no_rows_without_a_label_output_or_with_one_label():
    x = np.random.default_rng(0).normal(0, 1, (16, 2))
    assert boundary.boundary_rows(lambda feed: {"y": feed["X"].sum(1)}, {"X": x}) is None
    assert boundary.boundary_rows(lambda feed: {"label": np.zeros(len(feed["X"]), np.int64)}, {"X": x}) is None
    assert boundary.boundary_rows(_threshold_model(0.5), {"X": x.astype(np.int64)}) is None


def test_when_every_generated_row_has_one_label_rows_further_out_give_the_other_side():
    """A linear model on features in the thousands, fed N(0, 1) rows: all one label until the rows spread."""
    def run(feed):
        score = feed["X"] @ np.array([0.01, 0.02]) - 3.0  # boundary at x0 + 2 x1 = 300
        return {"label": (score > 0).astype(np.int64)}

    x = np.random.default_rng(0).normal(0, 1, (16, 2))
    assert run({"X": x})["label"].max() == 0
    rows = boundary.boundary_rows(run, {"X": x})
    assert rows is not None
    assert np.abs(rows @ np.array([0.01, 0.02]) - 3.0).max() < 0.05  # on the model's own boundary


def test_a_multi_output_classifiers_row_of_labels_counts_as_one():
    def run(feed):
        x = feed["X"]
        return {"label": np.stack([(x[:, 0] > 0.5), (x[:, 1] > -0.5)], 1).astype(np.int64)}

    rows = boundary.boundary_rows(run, {"X": np.random.default_rng(1).normal(0, 1, (32, 2))})
    assert rows is not None and len(rows) >= 4
    near = np.minimum(np.abs(rows[:, 0] - 0.5), np.abs(rows[:, 1] + 0.5))
    assert near.max() < 0.01
