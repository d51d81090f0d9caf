"""Input rules -> generated values, threshold probes, and the noise-floor pass rule (numpy only)."""

from __future__ import annotations

import numpy as np

from modelport.core.artifact import TensorSpec
from modelport.core.model import InputRule
from modelport.verify.compare import compare_output
from modelport.verify.inputs import generate
from modelport.verify.synth import describe, probes


def test_rules_shape_the_generated_values():
    specs = [TensorSpec("img", ("batch", 4, 4, 3)), TensorSpec("ids", ("batch", 6), "int64"),
             TensorSpec("mask", ("batch", 6), "int64")]
    rules = {"img": InputRule("Rescaling", low=0.0, high=255.0), "ids": InputRule("emb", integers=(0, 50)),
             "mask": InputRule("mask", mask=True)}
    case = generate(specs, samples=64, seed=3, rules=rules)[0]
    assert case["img"].min() >= 0 and case["img"].max() <= 255 and case["img"].max() > 200
    assert case["ids"].max() < 50 and case["ids"].max() > 10  # not the default 0..9
    mask = case["mask"]
    assert set(np.unique(mask)) <= {0, 1} and mask[:, 0].all()  # every row keeps its first token
    assert (np.diff(mask, axis=1) <= 0).all() and (mask == 0).any()  # trailing zeros only, some padding


def test_per_feature_statistics_and_rows():
    rule = InputRule("scaler", mean=[1000.0, -5.0], std=[10.0, 0.1], rows=300)
    x = generate([TensorSpec("X", ("batch", 2))], samples=16, seed=0, rules={"X": rule})[0]["X"]
    assert x.shape == (300, 2)
    assert abs(x[:, 0].mean() - 1000) < 3 and abs(x[:, 1].std() - 0.1) < 0.03


def test_probes_sit_just_either_side_of_each_threshold():
    rule = InputRule("trees", low=[0.0, 0.0], high=[4000.0, 1.0], thresholds=[[1000.0, 2500.0], []])
    base = np.full((4, 2), 0.5, np.float32)
    rows = probes(base, rule)
    assert rows.shape == (4, 2)
    values = sorted(rows[:, 0])
    assert values[0] < 1000 < values[1] and values[2] < 2500 < values[3]
    assert max(abs(v - t) for v, t in zip(values, [1000, 1000, 2500, 2500])) <= 4000 * 1e-4 + 1e-3
    # appended to the first (dynamic-batch) case
    cases = generate([TensorSpec("X", ("batch", 2))], samples=8, seed=0, rules={"X": rule})
    assert len(cases[0]["X"]) == 8 + 4 and len(cases[1]["X"]) == 1


def test_describe_says_where_inputs_came_from():
    assert describe(None, "float32", (0, 10)).startswith("generated: N(0, 1)")
    assert describe(InputRule("Embedding(5 rows)"), "int64", (0, 10)) == "generated: Embedding(5 rows)"


def test_the_noise_floor_rescues_float32_rounding_but_not_a_real_error():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((32, 10))  # the float64 twin
    ref = truth + 1e-3 * rng.standard_normal(truth.shape)  # the float32 source: ill-conditioned, noisy
    faithful = truth + 1e-3 * rng.standard_normal(truth.shape)  # another float32 implementation
    broken = truth * 1.05
    strict = compare_output("y", "y", [ref], [faithful], 1e-4, 1e-3)
    assert not strict.passed and strict.noise_floor is None
    ok = compare_output("y", "y", [ref], [faithful], 1e-4, 1e-3, twins=[truth])
    assert ok.passed and ok.passed_by == "noise floor" and 0.3 < ok.floor_ratio < 3
    bad = compare_output("y", "y", [ref], [broken], 1e-4, 1e-3, twins=[truth])
    assert not bad.passed and bad.floor_ratio > 20
    assert 0.99 < bad.cosine <= 1.0 and bad.snr_db is not None and bad.snr_db < 40
    assert bad.top5_agreement is not None and bad.label_agreement is not None


def test_within_tolerance_needs_no_floor():
    ref = np.ones((4, 3))
    res = compare_output("y", "y", [ref], [ref + 1e-6], 1e-4, 1e-3)
    assert res.passed and res.passed_by == "tolerance" and res.cosine > 0.999999
