"""The examples must run (Polygraphy's test_examples)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import available, look
from tests.conftest import needs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@needs("torch", "tensorflow", "sklearn")
def test_demo_converts_all_three_frameworks(tmp_path, request):
    demo = tmp_path / "out"
    env = dict(os.environ, MODELPORT_DEMO_DIR=str(demo))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = 5 if importlib.util.find_spec("litert_torch") else 4
    assert f"{jobs} of {jobs} conversions verified" in proc.stdout
    for name in ("cnn.onnx", "digits.onnx", "gbm.onnx", "digits.tflite"):
        assert (demo / name).stat().st_size > 0
    if importlib.util.find_spec("bokeh") is not None:  # a report page per conversion (the CI workflow keeps them)
        for name in ("cnn-onnx.html", "digits-onnx.html", "gbm-onnx.html", "digits-tflite.html"):
            assert "PASSED" in (demo / name).read_text()
    assert proc.stdout.count("(verified)") == jobs
    # the batch example's manifest reads the demo's models: it plans (every field and method checked)
    from modelport.batch.run import plan

    manifest = tmp_path / "batch" / "models.yaml"
    manifest.parent.mkdir()
    manifest.write_text((ROOT / "examples" / "batch" / "models.yaml").read_text())
    tasks = plan(manifest)
    assert [t.label for t in tasks] == ["cnn -> onnx", "digits -> onnx", "digits -> tflite", "gbm -> onnx"]
    assert [len(t.steps) for t in tasks] == [3, 1, 2, 1]
    if importlib.util.find_spec("bokeh") is None or available() is not None:
        return
    browser = request.getfixturevalue("browser")
    # the batch page of the demo manifest, opened in the browser (tests/cli/test_report.py's checks)
    import json

    from tests.cli.test_report import check_page

    done = subprocess.run([sys.executable, "-m", "modelport", "batch", str(manifest), "-q", "--report",
                           str(tmp_path / "batch.html"), "--json", str(tmp_path / "batch.json")], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "batch.json").read_text())
    assert report["counts"]["ok"] == 4
    check_page(look(browser, tmp_path / "batch.html"), report)


@pytest.mark.slow
@needs("torch", "tensorflow", "sklearn")
def test_fuse_example_builds_two_ensembles(tmp_path):
    env = dict(os.environ, MODELPORT_DEMO_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "fuse_three_frameworks.py")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 of 2 ensembles built and verified" in proc.stdout
    for name in ("iris_weighted.onnx", "iris_vote.onnx"):
        assert (tmp_path / "fuse" / name).stat().st_size > 0
