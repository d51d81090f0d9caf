"""Every registered step must have a test that runs it (Optimum's test_all_models_tested)."""

from __future__ import annotations

from pathlib import Path

from modelport.core.registry import load_registry

TESTS = Path(__file__).resolve().parents[1]


def test_every_step_has_a_round_trip_test():
    text = "".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)
    # The only step of its pair is exercised without being named, by the default chain or command.
    implicit = {"savedmodel-tf2onnx", "sklearn-skl2onnx", "onnx-simplify"}  # float64: tests name it
    missing = [s.name for s in load_registry().steps
               if f'"{s.name}"' not in text and f'"{s.label}"' not in text and s.name not in implicit]
    assert not missing, f"steps without a test: {missing}"
