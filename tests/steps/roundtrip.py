"""Round-trip helper shared by step tests (like tf2onnx's run_test_case): convert, check the report,
then check the ONNX file independently of modelport's own runners."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import modelport
from modelport.core.artifact import parse_input_spec

ROUTES_TESTED: set[str] = set()


def round_trip(src, out: Path, *, route: str | None = None, inputs=(), trust: bool = False, **kwargs):
    report = modelport.convert(src, out, route=route, inputs=[parse_input_spec(i) for i in inputs], trust=trust,
                         **kwargs)
    assert report.ok, [a.__dict__ for a in report.attempts]
    assert out.exists() and out.stat().st_size > 0
    if route:
        assert report.route == route
    ROUTES_TESTED.add(report.route)
    v = report.verification
    assert v is not None and v.passed
    for o in v.outputs:
        assert o.passed and o.mismatch_ratio == 0.0
        assert o.max_abs_error < 1e-3, (o.name, o.max_abs_error)
    leftovers = [p.name for p in out.parent.iterdir() if ".partial" in p.name]
    assert not leftovers, leftovers
    return report


def ort_run(path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    values = sess.run(None, feed)
    return {o.name: v for o, v in zip(sess.get_outputs(), values)}


def onnx_io(path: Path) -> tuple[list[str], list[str]]:
    import onnx

    graph = onnx.load(str(path)).graph
    inits = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in inits], [o.name for o in graph.output]


def batch_dim(path: Path) -> str | int:
    import onnx

    dim = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_param or dim.dim_value
