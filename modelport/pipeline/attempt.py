"""One candidate step: run it, check what it wrote, load the result and verify it against the source.

Every outcome is data (an `Attempt` for the report), never an exception, except a source that cannot run on
its own verification inputs: no other step can fix that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.core.errors import MissingDependency, ModelportError, first_line, one_line
from modelport.core.formats import Format
from modelport.core.memory import give_back
from modelport.core.report import Attempt
from modelport.verify.check import GeneratedInputsRejected, ReferenceBug, ReferenceFailed, verify_models
from modelport.verify.inputs import DataError

if TYPE_CHECKING:
    from modelport.core.model import Model
    from modelport.core.registry import Step, StepOptions
    from modelport.core.report import Verification
    from modelport.verify.check import Reference
    from modelport.verify.compare import Tolerance

RELEASE_ABOVE = 64 << 20  # a source whose weights are larger is dropped once its reference outputs exist
LARGE_ONNX = 64 << 20  # above this the checker reads the file itself: protos are capped at 2 GB, and handing
# it a big proto serialises every weight again (BERT-base: 1.6 s from the proto, 0.6 s from the file)


class Rejected(Exception):
    """A step produced a file, but not one we accept (checker failure, wrong inputs)."""


@dataclass
class Outcome:
    step: Step
    attempt: Attempt
    path: Path
    facts: dict = field(default_factory=dict)
    verification: Verification | None = None
    proto: Any = None  # the checked ONNX proto, reused to write provenance without reloading
    model: Model | None = None  # the loaded result (when verified): the next stage's source, what gets timed

    @property
    def ok(self) -> bool:
        return self.attempt.outcome == "ok"


def run_step(step: Step, source: Model, out: Path, options: StepOptions, reference: Reference | None,
             tolerance: Tolerance, progress, forced: bool = False) -> Outcome:
    label = step.label
    reason = None if forced else step.skip_reason(source)
    missing = step.missing()
    if reason or missing:
        why = reason or f"{missing} is not installed: pip install 'modelport[{step.extra}]'"
        return Outcome(step, Attempt(label, "skipped", 0.0, why), out)
    progress(f"{_verb(step)} with {label}")
    start = time.perf_counter()

    def done(outcome: str, why: str | None = None, hint: str | None = None, **kw) -> Outcome:
        return Outcome(step, Attempt(label, outcome, time.perf_counter() - start, why, hint), out, **kw)

    try:
        facts = step.run(source, out, options) or {}
        give_back()  # what the converter freed, before the checker and the verification session
        proto = without_weights(check_output(out, step.target, source))
    except DataError:
        raise  # the user's data file does not fit the model: no other step can fix that
    except MissingDependency as exc:
        return done("skipped", f"{exc.message}: {exc.hint}")
    except (Rejected, ModelportError) as exc:
        return done("error", str(exc), getattr(exc, "hint", None))
    except Exception as exc:  # a step failing is an expected outcome of a chain
        return done("error", first_line(exc))
    if reference is None:
        return done("ok", "not verified (--no-verify)", facts=facts, proto=proto)
    progress(f"verifying {label} output")
    from modelport.loaders import open_model

    try:
        _reference_first(reference, proto)
        candidate = open_model(out, step.target)
        verification = verify_models(reference, candidate, tolerance)
    except (ReferenceFailed, GeneratedInputsRejected, ReferenceBug):
        raise  # the source itself cannot run: no step can fix that
    except ModelportError as exc:
        return done("error", exc.message, facts=facts)
    except Exception as exc:
        return done("error", f"converted model does not run: {first_line(exc)}", facts=facts)
    if verification.error:
        return done("error", f"converted model does not run: {verification.error}", facts=facts)
    return done("ok" if verification.passed else "mismatch", None if verification.passed else verification.summary(),
                facts=facts, verification=verification, proto=proto, model=candidate)


def _reference_first(reference: Reference, proto) -> None:
    """Run the source on the verification inputs before the candidate's session exists (an ONNX candidate's
    inputs are in its proto): the source's activations are freed by then, not held beside the session's
    weights (ResNet-50: 130 MiB less at the peak). verify_models then finds the outputs computed."""
    if proto is None:
        return
    from types import SimpleNamespace

    from modelport.runtimes.onnx.model import graph_input_specs

    specs = graph_input_specs(proto)
    if specs is not None:
        reference.cases_for(SimpleNamespace(inputs=specs))
        if large(reference.model):
            reference.model.release()  # read again only if a twin, --locate or another route needs it


def large(model: Model) -> bool:
    """Weights above RELEASE_ABOVE: worth computing the reference outputs before the export, collecting what
    the exporter left, and releasing the source before the candidate's session opens."""
    try:
        weights = model.weight_bytes()
    except Exception:  # a loader that cannot tell: treated as small
        return False
    return bool(weights and weights > RELEASE_ABOVE)


def without_weights(proto):
    """What the pipeline keeps of a checked ONNX proto (its inputs for the reference run, its metadata for
    provenance), without the weights it holds inline (ResNet-50: 98 MB beside the candidate's session). A proto
    that already has modelport facts stays whole: provenance rewrites the file from it."""
    if proto is None or not proto.graph.initializer:
        return proto
    import onnx

    from modelport.core.provenance import PREFIX

    if any(p.key.startswith(PREFIX) for p in proto.metadata_props):
        return proto
    light = onnx.ModelProto(ir_version=proto.ir_version)
    light.opset_import.extend(proto.opset_import)
    light.metadata_props.extend(proto.metadata_props)
    light.graph.input.extend(proto.graph.input)
    light.graph.output.extend(proto.graph.output)
    light.graph.initializer.extend(onnx.TensorProto(name=i.name) for i in proto.graph.initializer)
    return light


def source_files(source: Model) -> set[Path]:
    """The files a source model is read from: tidying a step's output never removes them."""
    from modelport.core.io import side_data

    path = getattr(source, "path", None)
    return set() if path is None else {Path(str(path)), side_data(Path(str(path)))}


def _verb(step: Step) -> str:
    return {"convert": "converting", "optimize": "optimizing", "quantize": "compressing"}.get(step.kind, "building")


def check_output(out: Path, target: Format, source: Model):
    """Reject a step's file that is empty, fails onnx.checker, or takes other inputs than the source.

    Returns the loaded proto (ONNX) so provenance can be added without loading the file again.
    """
    if not out.exists() or out.stat().st_size == 0:
        raise Rejected("the step wrote no file")
    if target is not Format.ONNX:
        return None
    import onnx

    from modelport.core.onnx_files import locations, tidy

    proto = tidy(out, onnx.load(str(out), load_external_data=False), keep=source_files(source))
    by_path = out.stat().st_size > LARGE_ONNX or locations(proto)  # external weights: read beside the file
    try:
        onnx.checker.check_model(str(out) if by_path else proto)
    except Exception as exc:
        raise Rejected(f"onnx.checker rejected the graph: {one_line(exc)}") from exc
    inits = {i.name for i in proto.graph.initializer}
    got = [i.name for i in proto.graph.input if i.name not in inits]
    want = [s.name for s in source.inputs]
    if sorted(got) != sorted(want):
        raise Rejected(f"graph inputs ({', '.join(got)}) differ from the model's ({', '.join(want)})")
    return proto
