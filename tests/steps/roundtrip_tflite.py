"""Run a TFLite file independently of modelport's runner."""

from __future__ import annotations

import numpy as np


def tflite_run(path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    runner = interp.get_signature_runner()
    return runner(**feed)


def tflite_signature(path) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path)).get_signature_list()
