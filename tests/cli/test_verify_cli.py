"""`modelport verify`: the CI gate catches a corrupted model with exit 1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import needs, run_cli

pytestmark = [pytest.mark.slow, needs("sklearn")]


@pytest.fixture
def converted(models, tmp_path):
    import modelport

    out = tmp_path / "pipe.onnx"
    modelport.convert(models("sk_pipeline"), out)
    return models("sk_pipeline"), out


def _corrupt(src, dst, scale=1.5):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and arr.size > 1:
            init.CopyFrom(numpy_helper.from_array((arr * scale).astype(arr.dtype), init.name))
    for node in model.graph.node:  # ai.onnx.ml operators keep their weights in attributes
        for attr in node.attribute:
            if attr.name == "coefficients":
                attr.floats[:] = [v * scale for v in attr.floats]
    onnx.save(model, str(dst))
    return dst


def test_verify_passes_on_the_converted_model(converted, cli):
    src, out = converted
    code, stdout, err = cli("verify", src, out)
    assert code == 0, err
    assert "models match" in stdout


def test_verify_catches_a_corrupted_model(converted, tmp_path):
    src, out = converted
    bad = _corrupt(out, tmp_path / "bad.onnx")
    proc = run_cli("verify", src, bad, "--json", "-")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["verification"]["passed"] is False
    probs = next(o for o in data["verification"]["outputs"] if o["name"] == "probabilities")
    assert probs["passed"] is False and probs["max_abs_error"] > 1e-3 and probs["mismatch_ratio"] > 0
    assert "verification failed" in proc.stderr


def test_onnx_vs_onnx_and_tolerances(converted, tmp_path, cli):
    _, out = converted
    slightly = _corrupt(out, tmp_path / "slightly.onnx", scale=1.0001)
    assert cli("verify", out, slightly, "--atol", "0", "--rtol", "0")[0] == 1
    code, _, _ = cli("verify", out, slightly, "--tol", "probabilities=1e-2", "--tol", "label=0")
    assert code == 0


def test_verify_with_real_data(converted, tmp_path, cli):
    from tests.builders import iris

    src, out = converted
    x, y = iris()
    data = tmp_path / "holdout.npz"
    np.savez(data, X=x, labels=y)
    report = tmp_path / "r.json"
    code, _, err = cli("verify", src, out, "--data", data, "--json", report, "-q")
    assert code == 0, err
    v = json.loads(report.read_text())["verification"]
    assert set(v["inputs_from"].values()) == {str(data)} and v["samples"] == len(x)


def test_candidate_that_cannot_run_fails_verification(models, tmp_path, cli):
    import modelport

    five = tmp_path / "five.onnx"
    modelport.convert(models("sk_five"), five)  # takes 5 features; the reference takes 4
    report = tmp_path / "r.json"
    code, _, err = cli("verify", models("sk_pipeline"), five, "--json", report)
    assert code == 1, err
    v = json.loads(report.read_text())["verification"]
    assert v["passed"] is False and "fails to run" in v["error"]
