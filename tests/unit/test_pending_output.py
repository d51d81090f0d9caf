"""PendingOutput and WorkFolder: a model and its `NAME.data` weights land together or not at all, a killed run's
work folder is swept by the next run (a live one's never), and concurrent writers take turns."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modelport.core.errors import UsageError
from modelport.core.io import PendingOutput, WorkFolder, is_work_path, sha256_of, side_data, size_of_path


def _write(pending: PendingOutput, model: bytes, data: bytes | None = None) -> None:
    pending.path.write_bytes(model)
    if data is not None:
        side_data(pending.path).write_bytes(data)


def test_model_and_data_are_committed_together_and_force_replaces_both(tmp_path):
    final = tmp_path / "m.onnx"
    with PendingOutput(final) as pending:
        assert pending.path.name == "m.onnx" and pending.path.parent != tmp_path  # converters name data m.onnx.data
        _write(pending, b"model-1", b"weights-1")
        pending.commit()
    assert final.read_bytes() == b"model-1" and side_data(final).read_bytes() == b"weights-1"
    assert oct(side_data(final).stat().st_mode & 0o777) == oct(final.stat().st_mode & 0o777)
    with PendingOutput(final, force=True) as pending:
        _write(pending, b"model-2", b"weights-2")
        pending.commit()
    assert side_data(final).read_bytes() == b"weights-2"
    with PendingOutput(final, force=True) as pending:  # self-contained now: the old weights go
        _write(pending, b"model-3")
        pending.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_failed_run_leaves_the_old_pair_untouched(tmp_path):
    final = tmp_path / "m.onnx"
    final.write_bytes(b"old")
    side_data(final).write_bytes(b"old-weights")
    with pytest.raises(RuntimeError), PendingOutput(final, force=True) as pending:
        _write(pending, b"new", b"new-weights")
        raise RuntimeError("boom")
    assert final.read_bytes() == b"old" and side_data(final).read_bytes() == b"old-weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]


def test_a_writer_that_finished_first_wins_without_force(tmp_path):
    final = tmp_path / "m.onnx"
    first, second = PendingOutput(final), PendingOutput(final)  # both started before either finished
    _write(first, b"first")
    _write(second, b"second")
    first.commit()
    with pytest.raises(UsageError, match="already exists"):
        second.commit()
    second.discard()
    assert final.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_killed_runs_folder_is_swept_but_a_live_ones_is_not(tmp_path):
    final = tmp_path / "m.onnx"
    live = PendingOutput(final)
    _write(live, b"live", b"live-weights")
    # a run killed with -9: its work folder and lock die with it
    code = (f"import os; from pathlib import Path; from modelport.core.io import PendingOutput; "
            f"p = PendingOutput(Path({str(final)!r})); p.path.write_bytes(b'x'); os._exit(9)")
    subprocess.run([sys.executable, "-c", code], check=False)
    side_data(final).write_bytes(b"orphan")  # weights renamed in before a kill, their model never was
    assert len([p for p in tmp_path.iterdir() if p.name.endswith(".modelport")]) == 2
    with PendingOutput(final) as pending:
        folders = [p for p in tmp_path.iterdir() if p.name.endswith(".modelport")]
        assert sorted(folders) == sorted([live.dir, pending.dir])  # the killed one went, the live one stayed
        assert not side_data(final).exists()
    assert live.path.read_bytes() == b"live"
    live.commit()
    assert final.read_bytes() == b"live"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]


def test_a_run_killed_while_setting_up_its_folder_is_swept_at_once(tmp_path):
    """Killed between creating `.starting` and locking it: its process is gone, so the next run removes it
    without waiting for it to age; a live process's is left alone."""
    final = tmp_path / "m.onnx"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".m.onnx.0123abcd-{gone.stdout.strip()}.starting"
    alive = tmp_path / f".m.onnx.4567cdef-{os.getpid()}.starting"
    dead.mkdir()
    alive.mkdir()
    with PendingOutput(final):
        assert not dead.exists() and alive.exists()


def test_work_paths_are_recognised_and_sizes_include_the_weights(tmp_path):
    final = tmp_path / "m.onnx"
    with WorkFolder(final) as work:  # this process's own intermediates are readable; another run's are not
        assert not is_work_path(work / "m.onnx") and not is_work_path(final)
        other = tmp_path / ".m.onnx.0123abcd.modelport"
        other.mkdir()
        assert is_work_path(other / "m.onnx")
        other.rmdir()
    final.write_bytes(b"12345")
    before = sha256_of(final)
    side_data(final).write_bytes(b"678")
    assert size_of_path(final) == 8
    assert sha256_of(final) != before  # the weights are part of the model's identity
    with pytest.raises(UsageError, match="does not exist"):
        WorkFolder(tmp_path / "missing" / "m.onnx")
    assert not any(p.name.endswith((".modelport", ".starting")) for p in tmp_path.iterdir())
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]


def test_a_work_file_is_never_taken_as_input(tmp_path):
    from modelport.core.formats import detect

    killed = tmp_path / ".m.onnx.0123abcd.modelport"
    killed.mkdir()
    (killed / "m.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(UsageError, match="unfinished"):
        detect(killed / "m.onnx")
