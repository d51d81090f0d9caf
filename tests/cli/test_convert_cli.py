"""The CLI as a user runs it: exit codes, stderr, JSON, files left behind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import needs, run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("content,name", [
    (b"", "empty.pt2"),
    (b"PK\x03\x04\x14\x00truncated", "trunc.pt2"),
    (b"\x13\x37random bytes here", "noise.dat"),
    (b"not a keras file", "model.keras"),
])
def test_bad_inputs_exit_2_and_write_nothing(tmp_path, cli, content, name):
    src = tmp_path / name
    src.write_bytes(content)
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    code, stdout, err = cli("convert", src, "-o", out)
    assert code == 2, err
    assert err.startswith("modelport: error: ") and "Traceback" not in err
    assert not list(out.parent.iterdir())


def test_missing_path_and_empty_folder(tmp_path, cli):
    code, _, err = cli("convert", tmp_path / "nope.pt2", "-o", tmp_path / "m.onnx")
    assert code == 2 and "no such file" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("convert", tmp_path / "empty", "-o", tmp_path / "m.onnx")
    assert code == 2 and "no model" in err
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


@needs("torch")
def test_subprocess_convert_json_and_provenance(models, tmp_path):
    src = models("cnn_pt2")
    out = tmp_path / "cnn.onnx"
    proc = run_cli("convert", src, "-o", out, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # stdout is pure JSON
    assert data["schema_version"] == 2 and data["ok"] is True
    assert data["attempts"][0]["route"] == "torch-dynamo" and data["attempts"][0]["outcome"] == "ok"
    assert data["verification"]["passed"] is True
    assert {"name", "shape", "max_abs_error", "max_rel_error", "mismatch_ratio", "atol", "rtol", "passed"} <= set(
        data["verification"]["outputs"][0])
    from modelport.core.io import sha256_of
    from modelport.core.provenance import read_onnx

    facts = read_onnx(out)
    assert facts["source_sha256"] == sha256_of(src)
    assert facts["route"] == "torch-dynamo" and facts["verification"] == "passed"
    assert facts["source_format"] == "torch.export" and facts["inputs"][0]["shape"] == [2, 3, 16, 16]
    assert "torch" in facts["converter"] and facts["modelport_version"]


@needs("torch")
def test_existing_output_needs_force(models, tmp_path, cli):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    code, _, err = cli("convert", models("cnn_pt2"), "-o", out)
    assert code == 2 and "--force" in err
    assert out.read_bytes() == b"keep me"
    code, _, _ = cli("convert", models("cnn_pt2"), "-o", out, "--force", "-q")
    assert code == 0 and out.read_bytes() != b"keep me"


@needs("torch")
def test_no_verify_and_json_file(models, tmp_path, cli):
    out = tmp_path / "m.onnx"
    report = tmp_path / "r.json"
    code, _, _ = cli("convert", models("cnn_pt2"), "-o", out, "--no-verify", "--json", report, "-q")
    assert code == 0
    data = json.loads(report.read_text())
    assert data["verification"] is None and data["ok"] is True


def test_missing_dependency_exit_5(tmp_path, cli, monkeypatch, models):
    from modelport.core import registry as reg_mod
    from modelport.core.formats import Format
    from modelport.core.registry import Registry, Step

    class NeedsGhost(Step):
        name = "ghost"
        source = (Format.SKLEARN_SKOPS,)
        target = Format.ONNX
        extra = "ghost"
        requires = ("ghost_framework_not_installed",)

    pytest.importorskip("sklearn")
    monkeypatch.setattr(reg_mod, "load_registry", lambda: Registry([NeedsGhost()]))
    import modelport.commands.convert as convert_mod

    monkeypatch.setattr(convert_mod, "load_registry", lambda: Registry([NeedsGhost()]))
    code, _, err = cli("convert", models("sk_pipeline"), "-o", tmp_path / "m.onnx")
    assert code == 5
    assert "pip install 'modelport[ghost]'" in err
    assert not (tmp_path / "m.onnx").exists()


@needs("sklearn")
def test_bad_flags_exit_2(models, tmp_path, cli):
    src = models("sk_pipeline")
    for args in (["--tol", "oops"], ["--int-range", "5,1"], ["--input", "x"], ["--data", tmp_path / "no.npz"],
                 ["--route", "no-such-route"]):
        code, _, err = cli("convert", src, "-o", tmp_path / "m.onnx", *args)
        assert code in (2, 3), (args, err)
        assert "modelport: error" in err
    assert not (tmp_path / "m.onnx").exists()


def test_unknown_target(tmp_path, cli, models):
    pytest.importorskip("sklearn")
    code, _, err = cli("convert", models("sk_pipeline"), "-o", tmp_path / "m.bin")
    assert code == 2 and "target format" in err


@needs("torch")
def test_internal_errors_exit_70_without_traceback(models, tmp_path, cli, monkeypatch):
    import modelport.commands.convert as convert_mod

    def boom(*a, **k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(convert_mod, "convert", boom)
    code, _, err = cli("convert", models("cnn_pt2"), "-o", tmp_path / "m.onnx")
    assert code == 70 and "internal error" in err and "--debug" in err and "Traceback" not in err
    np.testing.assert_equal(list(tmp_path.iterdir()), [])


@needs("torch")
def test_every_route_mismatching_keeps_the_first_file_and_exits_1(models, tmp_path, cli):
    out = tmp_path / "strict.onnx"
    report = tmp_path / "r.json"
    code, _, err = cli("convert", models("cnn_pt2"), "-o", out, "--atol", "0", "--rtol", "0", "--no-noise-floor",
                       "--json", report)
    assert code == 1, err
    assert "kept" in err and out.exists()
    data = json.loads(report.read_text())
    assert [(a["route"], a["outcome"]) for a in data["attempts"]] == [("torch-dynamo", "mismatch"),
                                                                      ("hf-dynamo-patched", "skipped"),
                                                                      ("torch-torchscript", "mismatch")]
    assert data["attempts"][1]["reason"] == "the program calls no transformers operators"
    from modelport.core.provenance import read_onnx

    facts = read_onnx(out)
    assert facts["verification"] == "failed" and facts["route"] == "torch-dynamo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "strict.onnx"]


@needs("torch")
def test_json_path_is_checked_before_work(models, tmp_path, cli):
    out = tmp_path / "m.onnx"
    code, _, err = cli("convert", models("cnn_pt2"), "-o", out, "--json", tmp_path / "nodir" / "r.json")
    assert code == 2 and "does not exist" in err and not out.exists()
    code, _, err = cli("convert", models("cnn_pt2"), "-o", out, "--json", out)
    assert code == 2 and "overwrite a model" in err and not out.exists()


@needs("torch")
def test_wrong_input_shape_is_a_usage_error(models, tmp_path, cli):
    code, _, err = cli("convert", models("mlp_ts"), "-o", tmp_path / "m.onnx", "--input", "x:1,7")
    assert code == 2 and "--input" in err and "internal" not in err


@needs("sklearn")
def test_nan_tolerance_is_refused(models, tmp_path, cli):
    code, _, err = cli("convert", models("sk_pipeline"), "-o", tmp_path / "m.onnx", "--atol", "nan")
    assert code == 2 and "tolerance" in err
