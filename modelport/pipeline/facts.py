"""Provenance: the one place that decides what a written model records about how it was made.

Facts go into the file itself (ONNX `metadata_props`, TFLite metadata, see `modelport.core.provenance`).
A model made from a modelport-made file (optimize or compress an ONNX file that `convert` wrote) keeps the
original source's facts and adds what this job did.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport import __version__
from modelport.core.formats import Format
from modelport.core.io import sha256_of

if TYPE_CHECKING:
    from modelport.core.model import Model
    from modelport.core.registry import Step
    from modelport.core.report import Verification


ROUTE_FACTS = ("precision", "fixed")  # what a route may add: the float precision it used, a converter bug it fixed


def source_digest(source: str | Path, fmt: Format) -> str:
    """sha256 of the source; for a factory, of the Python file that defines it."""
    if fmt is Format.TORCH_PY:
        module = str(source).rpartition(":")[0]
        if not module.endswith(".py"):
            import importlib.util

            spec = importlib.util.find_spec(module)
            module = spec.origin if spec and spec.origin else None
        if module is None:
            return hashlib.sha256(str(source).encode()).hexdigest()
        return sha256_of(module)
    return sha256_of(source)


def inherited(source: str | Path, fmt: Format) -> dict[str, Any]:
    """Facts already in a modelport-made source file ({} for anything else, or an unreadable record)."""
    from modelport.core import provenance

    try:
        if fmt in (Format.ONNX, Format.TFLITE, Format.OPENVINO, Format.EXECUTORCH):
            return provenance.read(source)
    except Exception:
        return {}
    return {}


def build(source: str | Path, model: Model, done: list[tuple[Step, dict]], verification: Verification | None,
          digest: str | None) -> dict[str, Any]:
    """Facts for the written file. `done`: each stage's chosen step with the facts its run returned."""
    fmt = model.format
    facts = inherited(source, fmt) if digest else {}
    if digest and not facts:
        facts = {"source_sha256": digest, "source_format": fmt.value, "source_name": Path(str(source)).name,
                 "framework": model.framework_version, "inputs": [s.to_dict() for s in model.inputs]}
        facts.update(model.source_facts())  # a Hugging Face folder's task, architecture, transformers version
    for step, step_facts in done:
        if step.kind == "convert":
            facts.update(route=step.name, converter=step_facts.get("converter", ""))
            facts.update({k: step_facts[k] for k in ROUTE_FACTS if k in step_facts})
        elif step.kind == "optimize":
            facts["optimized"] = step_facts.get("steps") or [step.name]
        elif step.kind == "quantize":
            facts["compressed"] = step.label
        else:
            facts.update(step_facts.get("provenance", {}))
    facts["modelport_version"] = __version__
    facts["verification"] = "skipped" if verification is None else ("passed" if verification.passed else "failed")
    facts["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if verification is not None:
        facts["max_abs_error"] = max((o.max_abs_error for o in verification.outputs), default=0.0)
    return facts


def write(path: Path, facts: dict[str, Any], proto: Any = None) -> str:
    """Store facts in the model file; returns where they went ("metadata_props", "metadata" or "sidecar":
    TFLite without a schema tool, written by the caller once the model itself is in place)."""
    from modelport.core import provenance

    if path.suffix == ".tflite":
        return provenance.write_tflite(path, facts)
    if path.suffix == ".xml":
        provenance.write_openvino(path, facts)
        return "rt_info"
    if path.suffix == ".pte":
        provenance.write_pte(path, facts)
        return "trailer"
    provenance.write_onnx(path, facts, proto)
    return "metadata_props"
