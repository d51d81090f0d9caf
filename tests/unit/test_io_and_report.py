from __future__ import annotations

import json

import pytest

from modelport.core.errors import UsageError
from modelport.core.io import PendingOutput, sha256_of
from modelport.core.report import Attempt, OutputResult, Report, Verification


def test_pending_output_commits_or_leaves_nothing(tmp_path):
    final = tmp_path / "m.onnx"
    with PendingOutput(final) as pending:
        pending.path.write_bytes(b"abc")
        pending.commit()
    assert final.read_bytes() == b"abc"
    with pytest.raises(UsageError, match="exists"):
        PendingOutput(final)
    with pytest.raises(RuntimeError):
        with PendingOutput(final, force=True) as pending:
            pending.path.write_bytes(b"half")
            raise RuntimeError("boom")
    assert final.read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_input_is_never_overwritten(tmp_path):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"x")
    with pytest.raises(UsageError, match="overwrite the input"):
        PendingOutput(src, force=True, source=src)


def test_sha256_of_folder_is_stable(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("2")
    assert sha256_of(tmp_path) == sha256_of(tmp_path)
    assert len(sha256_of(tmp_path / "a")) == 64


def test_report_json_schema():
    out = OutputResult("y", "y", [2], [2], passed=False, atol=1e-4, rtol=1e-3, max_abs_error=0.5)
    report = Report("convert", ok=False, attempts=[Attempt("r", "mismatch", 0.1, "off")],
                    verification=Verification(False, [out], [2]))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["schema_version"] == 2 and data["ok"] is False
    assert data["attempts"][0] == {"route": "r", "outcome": "mismatch", "seconds": 0.1, "reason": "off", "hint": None}
    o = data["verification"]["outputs"][0]
    for key in ("name", "shape", "max_abs_error", "max_rel_error", "mismatch_ratio", "atol", "rtol", "passed"):
        assert key in o
    assert "differ" in report.verification.summary()
