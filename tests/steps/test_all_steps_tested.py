"""Every registered route must have a round-trip test (Optimum's test_all_models_tested)."""

from __future__ import annotations

from pathlib import Path

from modelport.core.registry import load_registry


def test_every_route_has_a_round_trip_test():
    text = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py") if p.name != Path(__file__).name)
    # Routes that are the only route of their pair are exercised without --route by the default chain.
    implicit = {"savedmodel-tf2onnx", "sklearn-skl2onnx"}
    missing = [s.name for s in load_registry().steps if f'"{s.name}"' not in text and s.name not in implicit]
    assert not missing, f"routes without a round-trip test: {missing}"
