"""`modelport verify`: run two models on the same inputs and compare every output (the CI gate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from modelport.commands.sources import label, local
from modelport.core.artifact import TensorSpec, as_specs, with_batch
from modelport.core.formats import Format, detect
from modelport.core.report import Report
from modelport.loaders import import_user_code, open_model
from modelport.pipeline import VerifyOptions
from modelport.verify.check import Reference, verify_models


def verify(
    reference: str | Path,
    candidate: str | Path,
    *,
    reference_format: str | Format | None = None,
    candidate_format: str | Format | None = None,
    inputs: Sequence[TensorSpec | str] = (),
    trust: bool = False,
    imports: Sequence[str] = (),
    check: VerifyOptions | None = None,
    locate: bool = False,
    task: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Run both models on the same inputs and compare every output. report.ok is the verdict.
    `locate`: when they differ, find the first layer whose own error jumps (report.details["locate"])."""
    check = check or VerifyOptions()
    report = Report("verify")
    ref_name, cand_name = reference, candidate
    reference, candidate = local(reference), local(candidate)
    ref_fmt = detect(reference, reference_format)
    cand_fmt = detect(candidate, candidate_format)
    specs = with_batch(as_specs(inputs), True)
    if task is None and ref_fmt is Format.TRANSFORMERS:
        task = recorded_task(candidate)
    import_user_code(imports, trust)
    progress(f"loading {ref_fmt} model")
    ref_model = open_model(reference, ref_fmt, trust=trust, input_specs=specs, task=task)
    progress(f"loading {cand_fmt} model")
    cand_model = open_model(candidate, cand_fmt, trust=trust, input_specs=specs, task=task)
    report.source = label(ref_name, ref_model.info() | {"framework": ref_model.framework_version})
    report.candidate = label(cand_name, cand_model.info() | {"framework": cand_model.framework_version})
    report.warnings.extend([*ref_model.notes, *cand_model.notes])
    progress("running both models")
    reference = Reference(ref_model, check.plan())
    report.verification = verify_models(reference, cand_model, check.tolerance())
    report.ok = report.verification.passed
    if locate:
        from modelport.pipeline.locate import locate_failure

        report.details["locate"] = locate_failure(reference, cand_model, report.ok, progress)
    return report


def recorded_task(candidate: Path) -> str | None:
    """The Hugging Face task modelport wrote into a converted file (a part of an encoder-decoder names its
    part: automatic-speech-recognition:decoder), so that `verify FOLDER FILE` needs no --task."""
    from modelport.core import provenance

    try:
        task = provenance.read(candidate).get("task") if Path(candidate).is_file() else None
    except Exception:  # an unreadable candidate is reported when it is opened
        return None
    return task if isinstance(task, str) else None
