from __future__ import annotations

import zipfile

import pytest

from modelport.core.errors import UsageError
from modelport.core.formats import Format, detect, is_factory_ref, target_format


def _zip(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"{}")
    return path


@pytest.mark.parametrize("names,fmt", [
    (["m/models/model.json", "m/archive_format"], Format.TORCH_EXPORT),
    (["m/code/__torch__/x.py", "m/constants.pkl", "m/data.pkl"], Format.TORCHSCRIPT),
    (["m/data.pkl", "m/version"], Format.TORCH_PICKLE),
])
def test_torch_zip_layouts_by_magic(tmp_path, names, fmt):
    assert detect(_zip(tmp_path / "model.pt", names)) is fmt


def test_extension_and_magic(tmp_path):
    assert detect(_zip(tmp_path / "a.keras", ["config.json", "metadata.json", "model.weights.h5"])) is Format.KERAS
    assert detect(_zip(tmp_path / "a.skops", ["schema.json"])) is Format.SKLEARN_SKOPS
    h5 = tmp_path / "weights.bin"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 32)
    assert detect(h5) is Format.KERAS
    tfl = tmp_path / "m.bin"
    tfl.write_bytes(b"\x1c\0\0\0TFL3" + b"\0" * 32)
    assert detect(tfl) is Format.TFLITE
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"x")
    assert detect(tmp_path / "sm") is Format.TF_SAVEDMODEL


def test_flag_wins(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert detect(f, "onnx") is Format.ONNX


@pytest.mark.parametrize("content,name,needle", [
    (b"", "empty.pt2", "empty"),
    (b"PK\x03\x04garbage", "trunc.pt2", "corrupt"),
    (b"\x00\x01\x02random bytes", "noise.bin", "unrecognised"),
    (b"not a zip", "m.keras", "corrupt"),
])
def test_bad_files_are_usage_errors(tmp_path, content, name, needle):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(UsageError) as info:
        detect(f)
    assert needle in info.value.message
    assert info.value.exit_code == 2


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        detect(tmp_path / "nope.onnx")
    with pytest.raises(UsageError, match="no model"):
        detect(tmp_path)


def test_factory_refs(tmp_path):
    assert is_factory_ref("models/build.py:make")
    assert is_factory_ref("mypkg.models:make")
    assert not is_factory_ref("model.onnx")
    assert detect("pkg.mod:build") is Format.TORCH_PY


def test_target_format():
    assert target_format("a.onnx") is Format.ONNX
    assert target_format("a.bin", "onnx") is Format.ONNX
    with pytest.raises(UsageError):
        target_format("a.bin")
    with pytest.raises(UsageError):
        target_format("a.onnx", "keras")
