"""kill -9 at spread-out moments during convert, compress, optimize and fuse; two writers to one output; Ctrl-C.

Whatever the moment, OUT is absent or a complete file that computes what an uninterrupted run's file computes
(checked with onnxruntime, not with modelport), and the next run for OUT removes the killed runs' work
folders. The assertions hold whenever a kill lands, so a slow or busy machine only moves the kills around.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs, run_cli

pytestmark = [pytest.mark.slow, needs("torch", "sklearn")]

KILLS_PER_COMMAND = 5


def _mlp(path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 256), torch.nn.Tanh(), torch.nn.Linear(256, 3)).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(torch.export.export(model, (torch.randn(2, 4),), dynamic_shapes=({0: batch},)), str(path))
    return path


def _outputs(path: Path) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _work_folders(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def _wait_for_work(proc: subprocess.Popen, folder: Path) -> None:
    """Until the run's work folder appears (an event, not a timing race) or the run ends."""
    deadline = time.monotonic() + 120
    while not _work_folders(folder) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def _start(args: list) -> subprocess.Popen:
    """A run as a terminal starts it: SIGINT at its default (a test runner launched in the background by a
    non-interactive shell inherits it ignored, and Python then never raises KeyboardInterrupt)."""
    return subprocess.Popen([sys.executable, "-m", "modelport", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    pt2 = _mlp(folder / "mlp.pt2")
    onnx_path, other = folder / "mlp.onnx", folder / "other.onnx"
    assert run_cli("convert", pt2, "-o", onnx_path, "--external-data").returncode == 0
    assert run_cli("convert", pt2, "-o", other).returncode == 0
    return {"pt2": pt2, "onnx": onnx_path, "other": other}


COMMANDS = {
    "convert": lambda s, out: ["convert", s["pt2"], "-o", out, "--external-data"],
    "compress": lambda s, out: ["compress", s["onnx"], "-o", out, "--method", "fp16", "--runs", "5"],
    "optimize": lambda s, out: ["optimize", s["onnx"], "-o", out, "--runs", "5", "--external-data"],
    "fuse": lambda s, out: ["fuse", s["onnx"], s["other"], "-o", out, "--strategy", "mean"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_kill_9_leaves_nothing_or_a_complete_file(command, sources, tmp_path):
    golden = tmp_path / "golden" / "m.onnx"
    golden.parent.mkdir()
    start = time.perf_counter()
    got = run_cli(*COMMANDS[command](sources, golden))
    duration = time.perf_counter() - start
    assert got.returncode == 0, got.stderr
    expected = _outputs(golden)
    out = tmp_path / "m.onnx"
    seen = {"absent": 0, "complete": 0}
    for i in range(KILLS_PER_COMMAND):
        proc = _start(COMMANDS[command](sources, out) + (["--force"] if out.exists() else []))
        _wait_for_work(proc, tmp_path)  # the run has reserved its output: loading, converting, verifying follow
        time.sleep(duration * 0.9 * i / KILLS_PER_COMMAND)  # from then to the commit; finishing first is fine too
        proc.kill()
        proc.wait()
        if out.exists():
            np.testing.assert_allclose(_outputs(out), expected, atol=1e-6)  # complete: computes the same
            seen["complete"] += 1
        else:  # weights renamed in before the kill may remain: the next run removes them
            seen["absent"] += 1
    got = run_cli(*COMMANDS[command](sources, out), "--force")
    assert got.returncode == 0, got.stderr
    np.testing.assert_allclose(_outputs(out), expected, atol=1e-6)
    assert _work_folders(tmp_path) == [], "the killed runs' work folders were not removed"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == (
        ["m.onnx", "m.onnx.data"] if (tmp_path / "m.onnx.data").exists() else ["m.onnx"])
    assert sum(seen.values()) == KILLS_PER_COMMAND


def test_two_writers_to_one_output(sources, tmp_path):
    out = tmp_path / "m.onnx"
    args = ["convert", sources["pt2"], "-o", out, "--external-data"]
    procs = [_start(args), _start(args)]
    codes = sorted(p.wait() for p in procs)
    errors = [p.stderr.read() for p in procs]
    assert codes == [0, 2], errors
    assert any("already exists" in e for e in errors)
    reference = _outputs(out)
    procs = [_start([*args, "--force"]), _start([*args, "--force"])]
    assert [p.wait() for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    np.testing.assert_allclose(_outputs(out), reference, atol=1e-6)  # one run's model with that run's weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]


def test_ctrl_c_exits_130_and_leaves_nothing(sources, tmp_path):
    out = tmp_path / "m.onnx"
    proc = _start(["convert", sources["pt2"], "-o", out, "--external-data"])
    _wait_for_work(proc, tmp_path)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    err = proc.stderr.read()
    assert "Traceback" not in err and "interrupted" in err.lower(), err
    assert list(tmp_path.iterdir()) == []
