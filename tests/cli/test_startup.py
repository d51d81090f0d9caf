"""`modelport --help` must not import any framework (Polygraphy's dependency test)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "tensorflow", "keras", "sklearn", "onnx", "onnxruntime", "tf2onnx", "skl2onnx", "onnxscript",
         "pydantic", "bokeh", "jinja2")
PAGE = ("bokeh", "jinja2", "modelport.html", "modelport.verify.detail")  # --report's: only when a page is asked for


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from modelport.cli.app import app\n"
        f"try:\n    app({args!r}, prog_name='modelport')\n"
        "except SystemExit:\n    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_help_imports_no_framework():
    for args in (["--help"], ["convert", "--help"], ["verify", "--help"], ["inspect", "--help"], ["fuse", "--help"],
                 ["routes", "--help"], ["--version"]):
        loaded = _modules_after(args)
        assert not loaded & set(HEAVY), (args, loaded & set(HEAVY))


def test_importing_the_package_is_light():
    proc = subprocess.run([sys.executable, "-c", "import modelport, sys; print(sorted(sys.modules))"],
                          capture_output=True, text=True, timeout=60)
    loaded = set(eval(proc.stdout))
    assert not loaded & set(HEAVY)
    assert "numpy" not in loaded


def test_help_has_examples_and_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "modelport", "convert", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "modelport convert model.pt2 -o model.onnx" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "modelport", "--help"], capture_output=True, text=True)
    assert "Exit codes" in proc.stdout and "70 internal error" in proc.stdout.replace("\n", " ")


def test_a_run_without_report_imports_nothing_of_the_page(models, tmp_path):
    loaded = _modules_after(["convert", str(models("sk_scaler")), "-o", str(tmp_path / "s.onnx"), "-q"])
    assert (tmp_path / "s.onnx").exists()
    assert not loaded & set(PAGE), loaded & set(PAGE)
