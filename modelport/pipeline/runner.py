"""The one job runner under every command that writes a model.

run(job): reserve the output (a temp file beside it), load the source once, compute the verification
inputs and reference outputs once, run each stage's candidate steps (a route chain falls back until one
verifies; a "fastest" stage runs them all and lets measured latency decide), measure before and after when
asked, write provenance into the result and rename it into place. A failure leaves nothing behind; a result
that ran but did not verify is kept and reported (exit 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.core.artifact import with_batch
from modelport.core.errors import ConversionFailed, MissingDependency, ModelportError, UnsupportedError, one_line
from modelport.core.formats import SUFFIXES, Format, detect
from modelport.core.io import PendingOutput, remove, side_data, size_of_path
from modelport.core.onnx_files import move
from modelport.core.registry import NOUN, Registry, load_registry
from modelport.core.report import Report
from modelport.pipeline import facts as provenance
from modelport.pipeline.attempt import Outcome, large, run_step
from modelport.verify.check import Reference

if TYPE_CHECKING:
    from modelport.core.model import Model
    from modelport.core.registry import Step
    from modelport.pipeline.job import Job, Stage

SUFFIX = SUFFIXES


def _noop(_: str) -> None:
    pass


def run(job: Job, *, registry: Registry | None = None, model: Model | None = None, progress=_noop) -> Report:
    """Run a job; `model`: an already-loaded source (an in-memory ensemble or estimator) instead of job.source.

    Returns the report (ok=False when the result did not verify: the file is kept). Raises ModelportError
    subclasses for everything else; `exc.report` carries the attempts.
    """
    registry = registry or load_registry()
    chains = [[registry.get(name) for name in stage.steps] for stage in job.stages]
    report = Report(job.command)
    fmt = model.format if model is not None else detect(job.source, job.source_format)
    digest = None if model is not None else provenance.source_digest(job.source, fmt)
    with PendingOutput(job.output, force=job.force, source=job.source if model is None else None) as pending:
        tmp = pending.work
        if model is None:
            model = _load(job, fmt, report, progress)
        report.source = model.info() | {"sha256": digest, "framework": model.framework_version}
        if job.external_data and Path(str(job.output)).suffix != ".onnx":
            report.warnings.append(f"--external-data is for ONNX outputs: {Path(str(job.output)).name} is one "
                                   "file (ignored)")
        reference = Reference(model, job.verify.plan()) if job.verify.enabled else None
        if reference is not None and large(model):
            reference.cases_for(model)  # before the exporter runs: its peak and the source's activations apart
            if fmt is Format.ONNX:
                model.release()  # the passes read the file: its session is not held beside their copies
        current, done, outcome = model, [], None
        for i, (stage, chain) in enumerate(zip(job.stages, chains)):
            last = i == len(job.stages) - 1
            out = pending.path if last else tmp / f"stage{i}{SUFFIX.get(chain[0].target, '')}"
            measured = last and job.measure is not None
            first_attempt = len(report.attempts)
            if stage.pick == "fastest":
                results = _run_all(stage, chain, current, tmp, reference, job, report, progress)
            else:
                results = [o for o in [_run_chain(stage, chain, current, out, tmp, reference, job, report,
                                                  progress)] if o is not None]
            if not results:
                raise _all_failed(report, report.attempts[first_attempt:], stage, chain, fmt,
                                  getattr(current, "title", None))
            if measured:
                outcome = _measure(job, results, chain, current, registry, tmp, reference, report, progress)
            elif stage.pick == "fastest":
                outcome = _fastest(results, chain, current, reference)
            else:
                outcome = results[0]
            _place(outcome, results, out)
            done.append((outcome.step, outcome.facts))
            report.step_facts[outcome.step.name] = outcome.facts
            for o in results:  # every candidate that ran says what the user should know about it
                report.warnings += [w for w in o.facts.get("warnings", []) if w not in report.warnings]
            if not outcome.ok and not last:
                report.verification, report.ok = outcome.verification, False
                report.warnings.append(f"{outcome.step.label} did not verify; the later steps were not run and "
                                       "nothing was written")
                return report
            if not last:
                current = outcome.model or _open(outcome)
        if job.locate and outcome.model is not None and outcome.verification is not None:
            from modelport.pipeline.locate import locate_failure

            report.details["locate"] = locate_failure(reference, outcome.model, outcome.ok, progress)
        _finish(report, pending, job, model, done, outcome, digest)
    return report


def _load(job: Job, fmt: Format, report: Report, progress) -> Model:
    from modelport.loaders import import_user_code, open_model

    progress(f"loading {fmt} model")
    import_user_code(job.imports, job.trust)
    model = open_model(job.source, fmt, trust=job.trust, input_specs=with_batch(job.input_specs(), not job.static),
                       task=job.task)
    report.warnings.extend(model.notes)
    if job.static:
        if fmt in (Format.TORCH_EXPORT, Format.TF_SAVEDMODEL):
            report.warnings.append(f"--static has no effect on {fmt}: its shapes are fixed by the file")
        else:
            model.inputs = with_batch(model.inputs, False)
    return model


def _open(outcome: Outcome) -> Model:
    from modelport.loaders import open_model

    return open_model(outcome.path, outcome.step.target)


def _run_chain(stage: Stage, chain: list[Step], source: Model, out: Path, tmp: Path, reference, job: Job,
               report: Report, progress) -> Outcome | None:
    """The first candidate that verifies; failing that, the first that ran but mismatched (kept, flagged)."""
    kept: Outcome | None = None
    for step in chain:
        outcome = run_step(step, source, out, stage.options, reference, job.verify.tolerance(step.tolerance),
                           progress, forced=stage.forced)
        report.attempts.append(outcome.attempt)
        if outcome.ok:
            if kept is not None:
                remove(kept.path)
            return outcome
        if outcome.attempt.outcome == "mismatch" and kept is None:
            kept = outcome  # set aside under a name remove(out) does not match: a later route may verify
            kept.path = tmp / f"kept{out.suffix}"
            move(out, kept.path)
        remove(out)
    return kept


def _run_all(stage: Stage, chain: list[Step], source: Model, tmp: Path, reference, job: Job, report: Report,
             progress) -> list[Outcome]:
    """Every candidate, each into its own file: the ones that ran (verified or not) are returned."""
    results = []
    for step in chain:
        path = tmp / f"candidate-{step.name}{SUFFIX.get(step.target, '')}"
        outcome = run_step(step, source, path, stage.options, reference, job.verify.tolerance(step.tolerance),
                           progress, forced=stage.forced)
        report.attempts.append(outcome.attempt)
        if outcome.attempt.outcome in ("ok", "mismatch"):
            results.append(outcome)
        else:
            remove(path)
    return results


def _fastest(results: list[Outcome], chain: list[Step], source: Model, reference) -> Outcome:
    """Without before/after figures: time the passing candidates against each other and decide."""
    from modelport.pipeline.measure import decide, interleaved

    passing = [o for o in results if o.ok]
    if len(passing) < 2:
        return (passing or results)[0]
    feed = _feed(reference, passing[0], source)
    timings = interleaved({o.step.label: (lambda o=o: (o.model or _open(o)).run(feed)) for o in passing})
    name = decide(timings, [s.label for s in chain]).name
    return next(o for o in passing if o.step.label == name)


def _place(chosen: Outcome, results: list[Outcome], out: Path) -> None:
    """Move the chosen file to the stage's output; remove the other candidates."""
    for o in results:
        if o is not chosen:
            remove(o.path)
    if chosen.path != out:
        move(chosen.path, out)
        chosen.path = out


def _feed(reference, outcome: Outcome, source: Model) -> dict:
    """The inputs latency is measured on: the first verification case."""
    if reference is not None:
        return reference.cases_for(outcome.model or source)[0][0]
    from modelport.verify.inputs import generate

    return generate(source.inputs)[0]


def _measure(job: Job, results: list[Outcome], chain: list[Step], source: Model, registry: Registry, tmp: Path,
             reference, report: Report, progress) -> Outcome:
    """Before/after figures; among several candidates, the choice by measured latency."""
    from modelport.pipeline.figures import measure_and_choose

    before = Path(job.source)
    if job.measure.baseline:
        progress("converting the baseline")
        before = tmp / f"baseline{SUFFIX[chain[0].target]}"
        registry.get(job.measure.baseline).run(source, before, job.stages[-1].options)
    feed = _feed(reference, results[0], source)
    for o in results:  # the timed sessions are opened afresh (one thread each): the verified ones not kept beside
        if o.model is not None and large(o.model):
            o.model.release()
    chosen, details = measure_and_choose(job, before, results, feed, [s.label for s in chain], progress)
    report.details.update(details)
    if details["slower"]:
        what = "its input" if not job.measure.baseline else "the plain conversion"
        report.warnings.append(f"the result is SLOWER than {what} here ({details['latency_ratio']:.2f}x median "
                               "latency, beyond the timing noise)")
    return chosen


def _finish(report: Report, pending: PendingOutput, job: Job, model: Model, done, outcome: Outcome,
            digest: str | None) -> None:
    verification = outcome.verification
    facts = provenance.build(job.source, model, done, verification, digest) | dict(job.record)
    stored = "metadata_props"
    proto = outcome.proto
    if job.external_data and pending.path.suffix == ".onnx":
        from modelport.core.onnx_files import externalize

        externalize(pending.path)
        proto = None  # the proto held the weights inline: provenance reads the new file
    try:
        stored = provenance.write(pending.path, facts, proto)
    except Exception as exc:  # a verified model is worth keeping without its provenance
        stored = "none"
        report.warnings.append(f"provenance not written ({one_line(exc)})")
    if pending.path.suffix == ".onnx" and not job.external_data and not side_data(Path(str(job.source))).exists():
        from modelport.core.onnx_files import inline_if_small

        inline_if_small(pending.path)  # a step wrote OUT.data to save memory: one file, unless too big for one
    _final_size(report, pending.path)
    _sign(report, pending, verification, job, facts)
    report.output = str(pending.commit())
    if stored == "sidecar":
        from modelport.core.provenance import sidecar

        with PendingOutput(sidecar(report.output), force=True) as side:
            side.path.write_text(json.dumps(facts, indent=2))
            side.commit()
        report.warnings.append(f"provenance written beside the model to {side.final.name} (no TFLite schema tool)")
    report.route = next((s.label for s, _ in done if s.kind == "convert"), done[-1][0].label)
    report.verification = verification
    report.ok = verification is None or verification.passed
    report.details["provenance"] = facts
    if not report.ok:
        report.warnings.append(f"verification failed; the file was kept at {report.output}")


def _final_size(report: Report, path: Path) -> None:
    """The result's size as written (its provenance record included: measured before, it was a few hundred bytes
    short), and the size ratio with it."""
    after, before = report.details.get("after"), report.details.get("before")
    if not isinstance(after, dict) or "size_bytes" not in after:
        return
    after["size_bytes"] = size_of_path(path)
    if isinstance(before, dict) and before.get("size_bytes"):
        report.details["size_ratio"] = after["size_bytes"] / before["size_bytes"]


def _sign(report: Report, pending: PendingOutput, verification, job: Job, facts: dict) -> None:
    """--sign-key: write the result's attestation (core/attestation.py) and sign both in the work folder
    (committed with the result)."""
    from modelport.core.report import verification_dict

    _attest_and_sign(report, pending.path, pending.final.name, facts, verification_dict(verification), job)


def sign_result(report: Report, job: Job, verdict: dict) -> None:
    """--sign-key for a result judged after its run (a decoder compressed and judged by generation, whose run
    was not signed): write its attestation with `verdict` ({"passed", ...}) and sign the committed file. Unlike
    `_sign`, the signature lands after the model: a crash between leaves the model unsigned, never a signature
    of something else."""
    from modelport.core.provenance import read
    from modelport.core.signature_policy import signing_options

    if signing_options() and report.output:
        path = Path(report.output)
        _attest_and_sign(report, path, path.name, read(path), verdict, job)


def _attest_and_sign(report: Report, path: Path, name: str, facts: dict, verdict: dict | None, job: Job) -> None:
    """The attestation of the file at `path` (to be committed as `name`), then its signature over both, when
    outputs are signed. A result that failed verification is kept unsigned; an unverified one is signed with
    an attestation saying so."""
    from modelport.core import attestation, signing
    from modelport.core.signature_policy import signing_options

    options = signing_options()
    if not options:
        return
    if verdict is not None and not verdict.get("passed"):
        report.warnings.append("not signed: the result failed verification")
        return
    attestation.write(path, facts, verdict, job.command, _options(job), _measured(report))
    signing.sign(path, options["key"], cert=options["cert"], chain=options["chain"])
    report.details["signature"] = {"file": f"{name}.sig", "covers": signing.covered(path)}


def _measured(report: Report) -> dict:
    """compress / optimize figures measured before the result was signed (size, latency, accuracy)."""
    keys = ("before", "after", "size_ratio", "latency_ratio", "accuracy_delta_pt", "latency_is")
    return {k: report.details[k] for k in keys if report.details.get(k) is not None}


def _options(job: Job) -> dict:
    """What the job was asked that changes the bytes written or the verdict (the attestation's parameters)."""
    data = job.to_dict()
    keep = ("source_format", "inputs", "static", "external_data", "task", "stages")
    options = {k: data.get(k) for k in keep}
    options["verify"] = {k: v for k, v in data.get("verify", {}).items() if k not in ("enabled", "detail")}
    return options


def _all_failed(report: Report, attempts: list, stage: Stage, chain: list[Step], fmt: Format,
                title: str | None = None) -> ModelportError:
    """The error for a stage none of whose steps produced a file (`attempts`: this stage's); `title` names
    the model when its format does not (a scikit-learn estimator's class)."""
    tried = [a for a in attempts if a.outcome != "skipped"]
    missing = next(((s, s.missing()) for s in chain if s.missing()), None)
    target = chain[0].target
    noun = NOUN.get(stage.kind, "step")
    exc: ModelportError
    if not tried and missing:
        step, package = missing
        exc = MissingDependency(package, step.extra or "all", f"{stage.kind} {fmt} to {target}")
    elif not tried and len({a.reason for a in attempts}) == 1:  # one cause (TFLite's 2 GB): said once
        exc = UnsupportedError(f"no {noun} applies to this model: {attempts[0].reason}")
    elif not tried:
        reasons = "; ".join(f"{a.route}: {a.reason}" for a in attempts)
        exc = UnsupportedError(f"no {noun} applies to this model ({reasons})",
                               hint="--route NAME forces one route" if stage.kind == "convert" else None)
    else:
        reasons = "; ".join(f"{a.route}: {a.reason}" for a in tried)
        hint = next((a.hint for a in tried if a.hint), None)
        if stage.kind == "optimize":
            message = f"optimization failed: {reasons}"
            hint = hint or "--debug shows the details"
        elif stage.kind == "quantize":
            message = f"every compression method failed: {reasons}"
        else:
            message = f"every {noun} failed for {f'{title} ({fmt})' if title else fmt} -> {target}: {reasons}"
            hint = hint or ("other routes may work: see `modelport routes`" if len(chain) == 1
                            else "each route's reason is listed above; --route NAME forces one route")
        exc = ConversionFailed(message, hint=hint, attempts=tried)
    exc.report = report
    return exc
