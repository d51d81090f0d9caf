"""Shared set-up for the benchmark scripts: quiet TensorFlow, import paths, one timer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "examples"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def median_ms(fn, runs: int, warmup: int) -> float:
    """Median wall time of fn() in ms (the timer `modelport bench` uses)."""
    from modelport.pipeline.measure import time_runs

    return time_runs(fn, runs, warmup).median
