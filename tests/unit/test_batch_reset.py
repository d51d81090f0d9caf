"""A warm worker's reset: user code a job imported is forgotten, installed code stays imported, the working
directory and environment come back. Run in a process of its own, as a worker is (the reset touches
process-wide state: Keras's counters, torch's threads, frozen objects)."""

from __future__ import annotations

import subprocess
import sys

SCENARIO = """
import importlib, os, sys
from modelport.batch.reset import Baseline

folder = sys.argv[1]
sys.modules.pop("colorsys", None)
baseline = Baseline()
sys.path.insert(0, folder)  # as a factory's folder is, while it is imported
importlib.import_module("user_factory_mod")
importlib.import_module("colorsys")  # the standard library: installed code
sys.path.remove(folder)
os.environ["MODELPORT_TEST_LEFT_BEHIND"] = "1"
here = os.getcwd()
os.chdir(folder)
baseline.reset()
assert "user_factory_mod" not in sys.modules, "user code kept"
assert "colorsys" in sys.modules, "installed code forgotten"
assert os.getcwd() == here and "MODELPORT_TEST_LEFT_BEHIND" not in os.environ
print("ok")
"""


def test_reset_forgets_user_modules_and_restores_the_process(tmp_path):
    (tmp_path / "user_factory_mod.py").write_text("VALUE = 1\n")
    got = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and got.stdout.strip() == "ok", got.stderr
