"""The request checks every serving engine shares (no server started): each mistake is named with what the model
expects; a request that fits passes untouched."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.serve.tensors import BadRequest, check_array, check_header, data_error, meta, output_names

SPECS = [meta("ids", "int64", ("batch", "seq")), meta("mask", "int64", ("batch", "seq")),
         meta("x", "float32", (None, 4))]


def test_meta_turns_symbols_into_minus_one_and_keeps_their_names():
    assert SPECS[0].shape == (-1, -1) and SPECS[0].symbols == ("batch", "seq")
    assert SPECS[2].to_dict() == {"name": "x", "datatype": "FP32", "shape": [-1, 4]}
    assert meta("s", "str", (None, 1)).datatype == "BYTES"


@pytest.mark.parametrize("given, words", [
    ([("ids", "INT64", [2, 3]), ("mask", "INT64", [2, 3])], "missing input 'x'"),
    ([("ids", "INT64", [2, 3]), ("mask", "INT64", [2, 3]), ("x", "FP32", [2, 4]), ("y", "FP32", [1])],
     "unknown input 'y'"),
    ([("ids", "INT64", [2, 3]), ("ids", "INT64", [2, 3]), ("x", "FP32", [2, 4])], "given twice"),
    ([("ids", "INT32", [2, 3]), ("mask", "INT64", [2, 3]), ("x", "FP32", [2, 4])], "ids (INT64 [-1, -1])"),
    ([("ids", "INT64", [2, 3]), ("mask", "INT64", [2, 3]), ("x", "FP32", [2, 5])], "x (FP32 [-1, 4])"),
    ([("ids", "INT64", [6]), ("mask", "INT64", [2, 3]), ("x", "FP32", [2, 4])], "has shape [6]"),
    ([("ids", "INT64", [2, -3]), ("mask", "INT64", [2, 3]), ("x", "FP32", [2, 4])], "has shape [2, -3]"),
    ([("ids", "INT64", [2, 3]), ("mask", "INT64", [2, 4]), ("x", "FP32", [2, 4])], "axis 'seq' (3 and 4)"),
    ([("ids", "INT64", "2x3"), ("mask", "INT64", [2, 3]), ("x", "FP32", [2, 4])], "has shape '2x3'"),
])
def test_each_mistake_is_named(given, words):
    with pytest.raises(BadRequest, match=None) as caught:
        check_header(given, SPECS)
    assert words in str(caught.value)


def test_a_fitting_request_passes_and_unnamed_rows_must_agree():
    check_header([("ids", "INT64", [2, 3]), ("mask", "INT64", [2, 3]), ("x", "FP32", [5, 4])], SPECS)
    columns = [meta("age", "float32", (None, 1)), meta("sex", "str", (None, 1))]
    check_header([("age", "FP32", [3, 1]), ("sex", "BYTES", [3, 1])], columns)
    with pytest.raises(BadRequest, match="disagree"):
        check_header([("age", "FP32", [3, 1]), ("sex", "BYTES", [2, 1])], columns)


def test_bytes_become_text_and_data_errors_say_what_is_wrong():
    out = check_array("sex", np.array([[b"male"], [b"female"]], dtype=object), meta("sex", "str", (None, 1)))
    assert out.tolist() == [["male"], ["female"]]
    with pytest.raises(BadRequest, match="UTF-8"):
        check_array("sex", np.array([[b"\xff"]], dtype=object), meta("sex", "str", (None, 1)))
    try:
        np.zeros(7).reshape(2, 4)
    except ValueError as exc:
        assert "(8 values) but carries 7 values" in str(data_error("x", "FP32", [2, 4], exc))
    try:
        np.array(["a"], dtype=np.float32)
    except ValueError as exc:
        assert "not FP32 values" in str(data_error("x", "FP32", [1], exc))
    assert output_names(None, SPECS) == ["ids", "mask", "x"]
    with pytest.raises(BadRequest, match="outputs are ids, mask, x"):
        output_names(["nope"], SPECS)


def test_threads_are_shared_out_between_models(monkeypatch):
    from modelport.serve.run import threads_per_model

    monkeypatch.delenv("MODELPORT_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert threads_per_model(None, 1) is None  # one model: ONNX Runtime's own default (every core)
    assert threads_per_model(None, 2) == 4 and threads_per_model(None, 3) == 2 and threads_per_model(None, 16) == 1
    assert threads_per_model(3, 4) == 3
    monkeypatch.setenv("MODELPORT_THREADS", "5")
    assert threads_per_model(None, 4) == 5


def test_a_ray_proxy_that_cannot_bind_is_exit_2_naming_the_port():
    from modelport.core.errors import UsageError
    from modelport.serve.ray_engine import _bind_error

    failed = RuntimeError("ray::ProxyActor.ready() ... RuntimeError: Failed to bind to address '127.0.0.1:35897'.")
    error = _bind_error(failed, "127.0.0.1", 35897, 35898)
    assert isinstance(error, UsageError) and error.exit_code == 2 and "127.0.0.1:35897" in error.message
    other = ValueError("something else")
    assert _bind_error(other, "127.0.0.1", 1, None) is other
