from __future__ import annotations

import numpy as np
import pytest

from modelport.core.artifact import TensorSpec, parse_input_spec
from modelport.core.errors import UsageError
from modelport.verify.inputs import batch_sizes, generate, load_npz, merge_specs


def test_parse_input_spec():
    assert parse_input_spec("pixel_values:1,3,64,64") == TensorSpec("pixel_values", (1, 3, 64, 64), "float32")
    assert parse_input_spec("ids:1,?:int64") == TensorSpec("ids", (1, None), "int64")
    for bad in ("x", "x:1,a-b", "x:1:complex", ":1,2"):
        with pytest.raises(UsageError):
            parse_input_spec(bad)


def test_dynamic_batch_is_exercised_at_two_sizes():
    specs = [TensorSpec("x", ("batch", 3), "float32"), TensorSpec("ids", ("batch", None), "int64")]
    cases = generate(specs, samples=16, seed=1, int_range=(0, 5))
    assert [c["x"].shape for c in cases] == [(16, 3), (1, 3)]
    assert [c["ids"].shape for c in cases] == [(16, 8), (1, 5)]
    assert cases[0]["ids"].min() >= 0 and cases[0]["ids"].max() < 5 and cases[0]["ids"].dtype == np.int64
    again = generate(specs, samples=16, seed=1, int_range=(0, 5))
    np.testing.assert_array_equal(cases[0]["x"], again[0]["x"])  # seeded


def test_fixed_batch_uses_several_cases():
    assert batch_sizes([TensorSpec("x", (4, 2))], 16) == [4, 4, 4, 4]
    assert batch_sizes([TensorSpec("x", ("b", 2))], 1) == [1]


def test_merge_specs_fixes_what_either_side_fixes():
    merged = merge_specs([TensorSpec("x", ("batch", 3))], [TensorSpec("x", (2, 3))])
    assert merged == [TensorSpec("x", (2, 3))]


def test_load_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((5, 3), np.float32), labels=np.zeros(5))
    cases = load_npz(path, [TensorSpec("x", ("batch", 3))])
    assert cases[0]["x"].shape == (5, 3)
    with pytest.raises(UsageError, match="no array named"):
        load_npz(path, [TensorSpec("a", ("batch", 3)), TensorSpec("b", ("batch", 3))])
    with pytest.raises(UsageError, match="shape"):
        load_npz(path, [TensorSpec("x", ("batch", 4))])


def test_default_rows_are_fewer_only_for_large_rows():
    """16 rows unless they pass 2^19 values: a 224x224 image gets 4 (the cap's floor), a 96x96 image and
    tabular rows keep 16, a dynamic dim counts 1; the input that set the cap is named."""
    from modelport.verify.inputs import default_rows

    image = [TensorSpec("pixels", ("batch", 3, 224, 224), "float32")]
    assert default_rows(image) == (4, "pixels")
    assert default_rows([TensorSpec("x", ("batch", 3, 96, 96), "float32")]) == (16, None)
    assert default_rows([TensorSpec("x", ("batch", 30), "float32"),
                         TensorSpec("ids", ("batch", None), "int64")]) == (16, None)
    mid = [TensorSpec("a", ("batch", 64, 64, 3), "float32"), TensorSpec("b", ("batch", 3, 128, 128), "float32")]
    assert default_rows(mid) == (8, "b")  # 12,288 + 49,152 values a row: 9 rows would pass the cap
