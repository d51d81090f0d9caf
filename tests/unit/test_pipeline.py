"""The job runner with fake steps and an in-memory model: no framework, no file format beyond a tiny ONNX."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelport.core.artifact import TensorSpec
from modelport.core.formats import Format
from modelport.core.model import Model
from modelport.core.registry import Registry, Step, StepOptions
from modelport.pipeline import Job, Measure, Stage, VerifyOptions, run


def test_a_job_round_trips_through_json():
    job = Job("compress", "m.onnx", "m.int8.onnx",
              [Stage("quantize", ["onnx-static-int8", "onnx-dynamic-int8"], pick="fastest",
                     options=StepOptions(calibration="c.npz", imports=("x.py",)))],
              inputs=["x:1,4"], verify=VerifyOptions(data="d.npz", atol=0.1, per_output={"y": (1.0, 2.0)}),
              measure=Measure(runs=7, baseline=None))
    again = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job


class Doubler(Model):
    """y = 2x, in memory."""

    format = Format.ONNX
    path = "doubler"
    framework_version = "numpy"
    inputs = [TensorSpec("x", ("batch", 3), "float32")]
    outputs = ["y"]

    def run(self, feed):
        return {"y": 2 * np.asarray(feed["x"], np.float32)}


def _onnx_scale(path, factor: float) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(np.asarray(factor, np.float32), "k")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _step(name: str, factor: float | None, order: int, kind: str = "convert"):
    def run_(self, source, out, options):
        if factor is None:
            raise RuntimeError("this converter always fails")
        _onnx_scale(out, factor)
        return {"converter": f"fake {name}"}

    return type(name, (Step,), {"name": name, "kind": kind, "source": (Format.ONNX,), "target": Format.ONNX,
                                "order": order, "run": run_})()


def _job(tmp_path, steps, **kw):
    return Job("convert", "", str(tmp_path / "out.onnx"), [Stage("convert", steps)], **kw)


def test_the_chain_falls_back_to_the_first_route_that_verifies(tmp_path):
    reg = Registry([_step("broken", None, 1), _step("wrong", 3.0, 2), _step("right", 2.0, 3)])
    report = run(_job(tmp_path, ["broken", "wrong", "right"]), registry=reg, model=Doubler())
    assert report.ok and report.route == "right"
    assert [(a.route, a.outcome) for a in report.attempts] == [("broken", "error"), ("wrong", "mismatch"),
                                                              ("right", "ok")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx"]  # nothing else left behind
    from modelport.core.provenance import read_onnx

    assert read_onnx(tmp_path / "out.onnx")["route"] == "right"


def test_only_mismatches_keep_the_first_file_flagged(tmp_path):
    reg = Registry([_step("wrong", 3.0, 1), _step("worse", 5.0, 2)])
    report = run(_job(tmp_path, ["wrong", "worse"]), registry=reg, model=Doubler())
    assert not report.ok and report.route == "wrong"
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "out.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": np.ones((1, 3), np.float32)})[0], 3.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx"]


def test_every_route_failing_leaves_nothing(tmp_path):
    from modelport.core.errors import ConversionFailed

    reg = Registry([_step("broken", None, 1)])
    with pytest.raises(ConversionFailed, match="every route failed"):
        run(_job(tmp_path, ["broken"]), registry=reg, model=Doubler())
    assert list(tmp_path.iterdir()) == []


def test_stages_chain_and_verify_against_the_source(tmp_path):
    reg = Registry([_step("to-onnx", 2.0, 1), _step("identity-pass", 2.0, 1, kind="optimize")])
    job = Job("batch", "", str(tmp_path / "out.onnx"),
              [Stage("convert", ["to-onnx"]), Stage("optimize", ["identity-pass"])])
    report = run(job, registry=reg, model=Doubler())
    assert report.ok and [a.route for a in report.attempts] == ["to-onnx", "identity-pass"]
    assert set(report.step_facts) == {"to-onnx", "identity-pass"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx"]


@pytest.mark.parametrize("error,data,code", [
    (ValueError("Negative values in data"), False, 3),  # the model refuses what modelport generated: --data
    (ValueError("bad shape"), True, 2),                  # the model refuses the user's --data
    (AttributeError("no decision_function"), False, None),  # modelport called it wrongly: internal (70)
])
def test_a_reference_that_cannot_run_says_whose_fault_it_is(tmp_path, error, data, code):
    from modelport.core.errors import ModelportError
    from modelport.verify.check import InputPlan, Reference, ReferenceBug

    class Refuses(Doubler):
        def run(self, feed):
            raise error

    path = None
    if data:
        path = tmp_path / "d.npz"
        np.savez(path, x=np.ones((2, 3), np.float32))
    reference = Reference(Refuses(), InputPlan(data=path))
    with pytest.raises(ModelportError if code else ReferenceBug) as info:
        reference.cases_for(Doubler())
    if code:
        assert info.value.exit_code == code and ("--data" in (info.value.hint or ""))
