"""OpenVINO itself, imported with its telemetry off, and the compile options every modelport run uses."""

from __future__ import annotations

from modelport.core.errors import require


def openvino():
    """openvino, with its telemetry off for this process. OpenVINO's converter sends usage data unless a consent
    file says no (no file counts as yes); without `openvino_telemetry` importable it uses its own no-op stub, so
    modelport makes that import fail here, touching no file of the user's."""
    import sys

    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # `import openvino_telemetry` now raises ImportError
    return require("openvino", "openvino", "run OpenVINO IR models")


def compile_options(threads: int | None) -> dict:
    options = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        options["INFERENCE_NUM_THREADS"] = str(threads)
    return options
