"""Zip archives (.keras, .skops, .pt2, TorchScript) with escaping entry names or bomb-sized declared totals are
refused with exit 4 before any framework reads them. The archives are built by hand: no framework needed."""

from __future__ import annotations

import struct
import sys
import zipfile
from pathlib import Path

import pytest

from modelport.core.archive import MAX_TOTAL, check_archive, unsafe_name
from modelport.core.errors import UnsafeError
from modelport.core.formats import Format, detect
from tests.conftest import HAS, run_cli

# entry layouts that format detection recognises (what the frameworks write, minus the content)
LAYOUTS = {
    "m.keras": ["metadata.json", "config.json", "model.weights.h5"],
    "m.skops": ["schema.json", "1.npy"],
    "m.pt2": ["archive/archive_format", "archive/models/model.json", "archive/data/weights/w0"],
    "m.ts": ["m/code/__torch__.py", "m/constants.pkl", "m/data.pkl"],
}


def make_zip(path: Path, names: list[str], data: bytes = b"{}") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # ZipInfo() would normalise '/x' and 'C:x'; a hostile writer does not
            zf.writestr(info, data)
    return path


def declare_sizes(path: Path, size: int, count: int = 1000) -> Path:
    """Patch the first `count` central-directory records to declare `size` uncompressed bytes (no data behind)."""
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    assert at > 0
    while at != -1 and count:
        struct.pack_into("<I", raw, at + 24, size)
        at = raw.find(b"PK\x01\x02", at + 4)
        count -= 1
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("name", ["/etc/passwd", "\\windows\\x", "C:/boot.ini", "c:evil", "../x",
                                  "a/../../x", "a\\..\\x", ".."])
def test_unsafe_names(name):
    assert unsafe_name(name)


@pytest.mark.parametrize("name", ["archive/data.pkl", "a..b/c", "...", "x/.hidden", "model.weights.h5"])
def test_safe_names(name):
    assert unsafe_name(name) is None


@pytest.mark.parametrize("filename", list(LAYOUTS))
@pytest.mark.parametrize("evil", ["/tmp/pwned", "../../pwned", "C:\\pwned"])
def test_escaping_entry_refused_by_detect(tmp_path, filename, evil):
    path = make_zip(tmp_path / filename, LAYOUTS[filename] + [evil])
    with pytest.raises(UnsafeError) as err:
        detect(path)
    assert err.value.exit_code == 4 and str(path) in err.value.message and repr(evil) in err.value.message
    assert "\n" not in err.value.message and err.value.hint


def test_entry_name_with_newline_stays_on_one_line(tmp_path):
    path = make_zip(tmp_path / "m.keras", LAYOUTS["m.keras"] + ["../a\nb"])
    with pytest.raises(UnsafeError) as err:
        check_archive(path)
    assert "\n" not in err.value.message


@pytest.mark.parametrize("filename", list(LAYOUTS))
def test_bomb_refused(tmp_path, filename):
    path = declare_sizes(make_zip(tmp_path / filename, LAYOUTS[filename]), 0xFFFFFFF0)  # ~4 GB each
    with pytest.raises(UnsafeError) as err:
        detect(path)
    total = len(LAYOUTS[filename]) * 0xFFFFFFF0
    assert err.value.exit_code == 4 and f"declare {total:,} bytes" in err.value.message
    assert str(path) in err.value.message and "\n" not in err.value.message


def test_bomb_needs_both_ratio_and_total(tmp_path):
    # over 1 GiB in total but entries that add up to less than 100x the file: a big uncompressed model is fine
    small_total = declare_sizes(make_zip(tmp_path / "a.keras", LAYOUTS["m.keras"]), 1000)
    check_archive(small_total)  # 100x+ the file, but far under 1 GiB
    path = make_zip(tmp_path / "big.keras", LAYOUTS["m.keras"])
    with zipfile.ZipFile(path, "a") as zf:  # 20 MB stored for real: 1.5 GiB declared is then under 100x
        zf.writestr("pad.bin", b"\0" * 20_000_000, compress_type=zipfile.ZIP_STORED)
    declare_sizes(path, MAX_TOTAL // 2, count=3)
    assert sum(i.file_size for i in zipfile.ZipFile(path).infolist()) > MAX_TOTAL
    check_archive(path)
    assert detect(path) is Format.KERAS


def test_flag_path_is_checked_by_open_model(tmp_path):
    """--from skips detection: the loader entry still refuses before a framework is imported."""
    from modelport.loaders import open_model

    path = make_zip(tmp_path / "model.bin", LAYOUTS["m.pt2"] + ["../../evil"])
    before = set(sys.modules)
    with pytest.raises(UnsafeError):
        open_model(path, Format.TORCH_EXPORT)
    assert "torch" not in set(sys.modules) - before


@pytest.mark.parametrize("filename", list(LAYOUTS))
def test_well_formed_layouts_pass(tmp_path, filename):
    path = make_zip(tmp_path / filename, LAYOUTS[filename])
    check_archive(path)
    assert detect(path) in (Format.KERAS, Format.SKLEARN_SKOPS, Format.TORCH_EXPORT, Format.TORCHSCRIPT)


def test_not_a_zip_passes(tmp_path):
    for data in (b"\x89HDF\r\n\x1a\n" + b"\0" * 32, b"PK\x03\x04garbage", b"\x1c\0\0\0TFL3"):
        path = tmp_path / "x.bin"
        path.write_bytes(data)
        check_archive(path)
    check_archive(tmp_path)  # a folder


@pytest.mark.parametrize("command", ["inspect", "verify", "verify-candidate", "convert"])
def test_cli_exit_4_one_line_no_traceback(tmp_path, command):
    evil = make_zip(tmp_path / "evil.keras", LAYOUTS["m.keras"] + ["../../../home/user/.bashrc"])
    other = make_zip(tmp_path / "other.keras", LAYOUTS["m.keras"])
    args = {"inspect": ["inspect", evil], "verify": ["verify", evil, other],
            "verify-candidate": ["verify", other, evil],
            "convert": ["convert", evil, "-o", tmp_path / "out.onnx"]}[command]
    proc = run_cli(*args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("modelport: error: ") and "evil.keras" in lines[0] and ".bashrc" in lines[0]
    assert len(lines) == 2 and lines[1].lstrip().startswith("hint:")  # the one error line plus its hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.keras", "other.keras"]


def test_cli_bomb_exit_4(tmp_path):
    evil = declare_sizes(make_zip(tmp_path / "evil.skops", LAYOUTS["m.skops"]), 0xFFFFFFF0)
    proc = run_cli("inspect", evil)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert "zip bomb" in proc.stderr.splitlines()[0] and len(proc.stderr.strip().splitlines()) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name,fmt", [("keras_seq", Format.KERAS), ("sk_pipeline", Format.SKLEARN_SKOPS),
                                      ("cnn_pt2", Format.TORCH_EXPORT), ("mlp_ts", Format.TORCHSCRIPT)])
def test_real_archives_still_load(models, cli, name, fmt):
    framework = {"keras": "tensorflow", "sklearn": "sklearn"}.get(fmt.framework, fmt.framework)
    if not HAS[framework]:
        pytest.skip(f"needs {framework}")
    path = models(name)
    check_archive(path)
    assert detect(path) is fmt
    code, _, err = cli("inspect", path)
    assert code == 0, err
