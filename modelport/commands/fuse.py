"""`modelport fuse`: members (any format, converted and verified first) -> one ONNX graph through a strategy
step, verified by the pipeline against the ensemble computed from the members one by one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from modelport.core.errors import UsageError
from modelport.core.formats import Format, detect
from modelport.core.io import WorkFolder, sha256_of
from modelport.core.registry import Registry, load_registry
from modelport.core.report import Report
from modelport.core.signature_policy import outputs_signed
from modelport.fuse import graph
from modelport.fuse.base import Context, Ensemble, FuseRequest
from modelport.fuse.members import (
    Member,
    Members,
    apply_renames,
    check_shared_inputs,
    choose_outputs,
    settle_fixed_dims,
)
from modelport.pipeline import Job, Stage, VerifyOptions, run


def strategies(registry: Registry) -> dict:
    return {s.label: s for s in registry.steps if s.kind == "fuse"}


def fuse(sources: Sequence[str], output: str | Path, *, strategy: str, weights: Sequence[float] | None = None,
         outputs: dict[int, str] | None = None, softmax: Sequence[int] = (), renames: dict[str, str] | None = None,
         meta: str | None = None, fit_meta: str | Path | None = None, maps: dict[str, str] | None = None,
         data: str | Path | None = None, inputs=(), trust: bool = False, imports: Sequence[str] = (),
         force: bool = False, external_data: bool = False, check: VerifyOptions | None = None,
         registry: Registry | None = None,
         progress: Callable[[str], None] = lambda _: None) -> Report:
    """Merge `sources` into one ONNX graph at `output` by `strategy`; see docs/fuse.md for the options."""
    request = FuseRequest(strategy, list(weights) if weights else None, dict(outputs or {}), tuple(softmax),
                          dict(renames or {}), meta, str(fit_meta) if fit_meta else None, dict(maps or {}),
                          str(data) if data else None, trust)
    registry = registry or load_registry()
    known = strategies(registry)
    if request.strategy not in known:
        raise UsageError(f"unknown strategy '{request.strategy}'", hint=f"strategies: {', '.join(known)}")
    if len(sources) < 2:
        raise UsageError("fuse needs at least two models")
    strategy = known[request.strategy]
    strategy.check(request, len(sources))
    for path in (request.fit_meta, request.data):
        if path is not None and not Path(path).exists():
            raise UsageError(f"{path}: no such file")
    for source in sources:
        if Path(str(source)).exists() and Path(str(output)).resolve() == Path(str(source)).resolve():
            raise UsageError(f"{output}: output would overwrite member {source}", hint="choose another -o path")
    from modelport.loaders import import_user_code

    import_user_code(imports, request.trust)
    with WorkFolder(Path(str(output))) as work:  # beside the output: a killed run's is swept by the next

        def to_onnx(source, name: str, opset: int | None = None) -> Path:
            """A member or --meta file (a path) or a fitted meta-model (in memory) as a verified ONNX file."""
            path = work / name
            with outputs_signed(False):  # members are intermediates: only the fused model is signed
                report = _member(source, path, opset)
            if report is None:  # already ONNX
                return Path(source)
            if not report.ok:
                raise UsageError(f"{name} ({source}) did not verify after conversion: "
                                 f"{report.verification.summary()}", hint="fix that model first")
            return path

        def _member(source, path: Path, opset: int | None):
            from modelport.commands.convert import convert

            if isinstance(source, str):
                if detect(source) is Format.ONNX:
                    return None
                return convert(source, path, inputs=inputs, trust=request.trust, imports=imports, opset=opset,
                               registry=registry)
            # an in-memory model (a fitted meta-model)
            job = Job("convert", "", str(path), [Stage("convert", [s.name for s in registry.find(
                source.format, Format.ONNX)])])
            job.stages[0].options.opset = opset
            return run(job, registry=registry, model=source)

        members = []
        for i, source in enumerate(sources):
            fmt = detect(source)
            if fmt is not Format.ONNX:
                progress(f"converting member {i} ({Path(str(source)).name}) to ONNX")
            digest = sha256_of(source) if Path(str(source)).exists() else ""
            members.append(Member.from_onnx(i, str(source), fmt, to_onnx(str(source), f"member{i}.onnx"), digest))
        members = Members(members)
        warnings: list[str] = []
        apply_renames(members, request.renames, lone_inputs=strategy.parallel)
        if strategy.parallel:
            check_shared_inputs(members)
            warnings += settle_fixed_dims(members)
            choose_outputs(members, request.outputs, set(request.softmax))
        domains = graph.opsets([m.proto for m in members])
        for m in members:  # the reference runs each member as it was (renamed only), not opset-converted
            m.onnx_path = work / f"ref{m.index}.onnx"
            graph.save(m.proto, m.onnx_path)
            m.proto = graph.unify(m.proto, domains[""], warnings, f"member {m.index}")
        progress(f"building the {request.strategy} graph")
        combination = strategy.combine(members, request, Context(work, to_onnx, domains))
        combination.facts = {"strategy": request.strategy, "members": [
            {"source": Path(m.source).name, "sha256": m.sha256, "output": m.chosen} for m in members],
            **combination.facts}
        job = Job("fuse", "", str(output), [Stage("fuse", [strategy.name], forced=True)], force=force,
                  external_data=external_data,
                  verify=replace(check or VerifyOptions(), data=None))
        progress("verifying the fused model against its members")
        report = run(job, registry=registry, model=Ensemble(members, combination), progress=progress)
    report.attempts = []
    report.warnings = warnings + report.warnings
    report.details.update({"strategy": request.strategy, **combination.details, "members": [{
        "index": m.index, "source": m.source, "format": m.format.value, "sha256": m.sha256, "output": m.chosen,
        "softmax": m.softmax, "opset": next((op.version for op in m.proto.opset_import if op.domain in ("", "ai.onnx")),
                                            None)} for m in members], "opsets": {d or "ai.onnx": v for d, v in
                                                                               domains.items()}})
    return report
