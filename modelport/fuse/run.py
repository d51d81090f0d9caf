"""Orchestration of `modelport fuse`: members -> namespaced graphs -> combiner -> verified ONNX file."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport import __version__
from modelport.core.errors import UsageError
from modelport.core.io import PendingOutput
from modelport.core.report import Report
from modelport.fuse import graph as g
from modelport.fuse import strategies as st
from modelport.fuse.members import Member, apply_renames, check_shared_inputs, choose_outputs, load_members, workdir

STRATEGIES = ("mean", "weighted", "vote", "stack", "chain", "select")


def _npz(path: Path) -> dict[str, np.ndarray]:
    try:
        return dict(np.load(str(path), allow_pickle=False))
    except Exception as exc:
        raise UsageError(f"{path}: cannot read .npz ({type(exc).__name__}: {exc})") from exc


def _feeds(members: list[Member], data: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    names = [i["name"] for i in members[0].inputs]
    arrays = {k: v for k, v in data.items() if k != "labels"}
    if all(n in arrays for n in names):
        return _checked(members, {n: arrays[n] for n in names}, path)
    if len(names) == 1 and "inputs" in arrays:
        return _checked(members, {names[0]: arrays["inputs"]}, path)
    if len(names) == 1 and len(arrays) == 1:
        return _checked(members, {names[0]: next(iter(arrays.values()))}, path)
    raise UsageError(f"{path}: no arrays for the inputs {', '.join(names)}",
                     hint=f"arrays in file: {', '.join(data)}; name them like the inputs (or 'inputs')")


def _checked(members: list[Member], feed: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Arrays shaped like member 0's inputs (fixed dims match), cast to their dtypes; else exit 2."""
    for spec in members[0].inputs:
        value = feed[spec["name"]]
        fixed = spec["shape"]
        if value.ndim != len(fixed) or any(d and d != v for d, v in list(zip(fixed, value.shape))[1:]):
            raise UsageError(f"{path}: array for input '{spec['name']}' has shape {list(value.shape)}, expected "
                             f"{['?' if not d else d for d in fixed]}")
        feed[spec["name"]] = value.astype(spec["dtype"], copy=False)
    return feed


def _run_members(members: list[Member], feed: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    from modelport.loaders.onnx import OnnxModel

    return [OnnxModel(m.onnx_path).run(feed) for m in members]


def _labels(data: dict[str, np.ndarray], path: Path, rows: int | None = None) -> np.ndarray:
    if "labels" not in data:
        raise UsageError(f"{path}: no array named 'labels'", hint="save the targets as labels=... in the .npz")
    labels = np.asarray(data["labels"]).reshape(-1)
    if labels.dtype.kind not in "biuf":
        raise UsageError(f"{path}: labels are {labels.dtype}, not numbers",
                         hint="save class indices 0..C-1 (or regression targets)")
    if rows is not None and len(labels) != rows:
        raise UsageError(f"{path}: {len(labels)} labels for {rows} input rows")
    return labels


def _fit_meta(members: list[Member], data_path: Path, opset: int) -> tuple[Any, dict]:
    """Fit a logistic (integer labels) or linear meta-model on the members' outputs; return its ONNX."""
    from modelport.core.errors import require

    require("sklearn", "sklearn", "fit a stacking meta-model")
    require("skl2onnx", "sklearn", "fit a stacking meta-model")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression, LogisticRegression

    data = _npz(data_path)
    feed = _feeds(members, data, data_path)
    labels = _labels(data, data_path, len(next(iter(feed.values()))))
    x = st.member_features(members, _run_members(members, feed))
    integral = labels.dtype.kind in "iub" or np.all(labels == np.round(labels))
    meta = LogisticRegression(max_iter=2000) if integral and len(np.unique(labels)) <= 100 else LinearRegression()
    meta.fit(x, labels)
    options = {id(meta): {"zipmap": False}} if isinstance(meta, LogisticRegression) else None
    proto = convert_sklearn(meta, initial_types=[("features", FloatTensorType([None, x.shape[1]]))],
                            options=options, target_opset={"": opset, "ai.onnx.ml": 3})
    score = float(meta.score(x, labels))
    return proto, {"meta": type(meta).__name__, "meta_train_score": score, "features": int(x.shape[1])}


def _meta_from_file(path: str, trust: bool, workdir_path: Path) -> Any:
    import onnx

    from modelport import api
    from modelport.core.formats import Format, detect

    fmt = detect(path)
    target = Path(path)
    if fmt is not Format.ONNX:
        target = workdir_path / "meta.onnx"
        api.convert(path, target, trust=trust)
    return onnx.load(str(target))


def fuse(
    sources: Sequence[str],
    output: str | Path,
    *,
    strategy: str,
    weights: Sequence[float] | None = None,
    outputs: dict[int, str] | None = None,
    softmax: Sequence[int] = (),
    renames: dict[str, str] | None = None,
    meta: str | None = None,
    fit_meta: Path | None = None,
    maps: dict[str, str] | None = None,
    data: Path | None = None,
    inputs=(),
    trust: bool = False,
    imports: Sequence[str] = (),
    force: bool = False,
    check=None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    from modelport.api import VerifyOptions

    check = check or VerifyOptions()
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy '{strategy}'", hint=f"strategies: {', '.join(STRATEGIES)}")
    if len(sources) < 2:
        raise UsageError("fuse needs at least two models")
    if strategy == "weighted" and not weights:
        raise UsageError("--strategy weighted needs --weights", hint="e.g. --weights 0.5,0.3,0.2")
    if strategy == "stack" and bool(meta) == bool(fit_meta):
        raise UsageError("--strategy stack needs exactly one of --meta FILE or --fit-meta DATA.npz")
    if strategy == "select" and not data:
        raise UsageError("--strategy select needs --data DATA.npz with inputs and labels")
    for path in (fit_meta, data):
        if path is not None and not Path(path).exists():
            raise UsageError(f"{path}: no such file")
    report = Report("fuse")
    for source in sources:
        if Path(str(source)).exists() and Path(str(output)).resolve() == Path(str(source)).resolve():
            raise UsageError(f"{output}: output would overwrite member {source}", hint="choose another -o path")
    with PendingOutput(output, force=force) as pending, workdir() as tmp:
        from modelport.loaders import import_user_code

        import_user_code(imports, trust)
        members = load_members(list(sources), Path(tmp), trust=trust, inputs=inputs, imports=imports,
                               progress=progress)
        warnings: list[str] = []
        apply_renames(members, renames or {}, lone_inputs=strategy != "chain")
        if strategy != "chain":
            check_shared_inputs(members)
            choose_outputs(members, outputs or {}, set(softmax))
        domains = g.opsets([m.proto for m in members])
        for m in members:  # the reference runs each member as it was (renamed only), not opset-converted
            m.onnx_path = Path(tmp) / f"ref{m.index}.onnx"
            g.save(m.proto, m.onnx_path)
            m.proto = g.unify(m.proto, domains[""], warnings, f"member {m.index}")
        progress(f"building the {strategy} graph")
        details: dict[str, Any] = {"strategy": strategy}
        if strategy == "select":
            fused, reference, extra = _select(members, Path(data))
        elif strategy == "chain":
            fused, reference, extra = _chain(members, maps or {}, domains)
        else:
            fused, reference, extra = _parallel(members, strategy, weights, meta, fit_meta, trust, Path(tmp),
                                                domains)
        details.update(extra)
        details["members"] = [{
            "index": m.index, "source": m.source, "format": m.format.value, "sha256": m.sha256,
            "output": m.chosen, "softmax": m.softmax,
            "opset": next((op.version for op in m.proto.opset_import if op.domain in ("", "ai.onnx")), None),
        } for m in members]
        details["opsets"] = {d or "ai.onnx": v for d, v in domains.items()}
        import onnx

        facts = {"strategy": strategy, "members": [{"source": Path(m.source).name, "sha256": m.sha256,
                                                    "output": m.chosen} for m in members],
                 "modelport_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if "weights" in details:
            facts["weights"] = details["weights"]
        onnx.save(fused, str(pending.path))
        progress("verifying the fused model against its members")
        report.verification = _verify(members, pending.path, reference, check)
        facts["verification"] = "passed" if report.verification.passed else "failed"
        from modelport.provenance import write_onnx

        write_onnx(pending.path, facts)
        report.output = str(pending.commit())
        report.ok = report.verification.passed
        report.warnings = warnings
        report.details.update(details)
    return report


def _parallel(members, strategy, weights, meta, fit_meta, trust, tmp: Path, domains):
    from onnx import helper

    if strategy in ("mean", "weighted"):
        comb = st.average(members, list(weights) if weights else None)
    elif strategy == "vote":
        comb = st.vote(members)
    else:
        comb = st.Combiner()
        st.features(members, comb)
        if fit_meta:
            meta_proto, info = _fit_meta(members, Path(fit_meta), domains[""])
        else:
            meta_proto, info = _meta_from_file(meta, trust, tmp), {"meta": str(meta)}
        comb.details.update(info)
        meta_inits = {x.name for x in meta_proto.graph.initializer}
        meta_inputs = [i for i in meta_proto.graph.input if i.name not in meta_inits]
        if len(meta_inputs) != 1:
            raise UsageError(f"the meta-model takes {len(meta_inputs)} inputs; it must take one (the stacked outputs)")
        for d, v in g.opsets([meta_proto]).items():
            domains[d] = max(domains.get(d, 0), v)
        meta_proto = g.unify(meta_proto, domains[""], [], "meta-model")
        meta_p = g.prefixed(meta_proto, "meta_", rename_inputs=True)
        comb.nodes.append(helper.make_node("Identity", ["fuse_features"], [meta_p.graph.input[0].name]))
        extra_parts = [meta_p]
        meta_path = tmp / "meta_ref.onnx"
        g.save(meta_proto, meta_path)
        for out in meta_p.graph.output:
            plain = out.name[len("meta_"):]
            comb.tail.append(helper.make_node("Identity", [out.name], [plain]))
            comb.outputs.append(g.renamed_output(out, plain))

        def reference(outs, meta_path=meta_path):
            from modelport.loaders.onnx import OnnxModel

            model = OnnxModel(meta_path)
            return model.run({model.inputs[0].name: st.member_features(members, outs)})

        comb.reference = reference
        comb.parts = extra_parts
    segments = [g.prefixed(m.proto, f"m{m.index}_") for m in members] + [comb.nodes, *comb.parts, comb.tail]
    fused = g.build(segments, comb.initializers, list(members_inputs(members)), comb.outputs, domains,
                    f"modelport_{strategy}")
    return fused, comb.reference, comb.details


def members_inputs(members: list[Member]):
    """The fused graph's inputs: member 0's, a dim left symbolic if any member leaves it symbolic."""
    proto = members[0].proto
    inits = {i.name for i in proto.graph.initializer}
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        yield vi


def _chain(members: list[Member], maps: dict[str, str], domains):
    """M0 feeds M1 feeds M2 ...: each link maps outputs to the next member's inputs (--map OUT=IN)."""
    from onnx import TensorProto, helper

    for out, inp in maps.items():
        if not any(any(o["name"] == out for o in p.outputs) and any(i["name"] == inp for i in c.inputs)
                   for p, c in zip(members, members[1:])):
            raise UsageError(f"--map {out}={inp} matches no output of one member and input of the next",
                             hint="outputs: " + "; ".join(f"member {m.index}: {', '.join(o['name'] for o in m.outputs)}"
                                                          for m in members))

    segments, link_maps = [g.prefixed(members[0].proto, "m0_")], []
    for prev, cur in zip(members, members[1:]):
        nodes = []
        links = {o: i for o, i in maps.items() if any(x["name"] == o for x in prev.outputs)
                 and any(x["name"] == i for x in cur.inputs)}
        if not links:
            if len(cur.inputs) != 1:
                raise UsageError(f"member {cur.index} takes {len(cur.inputs)} inputs: map them with --map OUT=IN")
            floats = [o for o in prev.outputs if o["dtype"].startswith("float")]
            pick = prev.outputs if len(prev.outputs) == 1 else floats
            if len(pick) != 1:
                raise UsageError(f"member {prev.index} has outputs {', '.join(o['name'] for o in prev.outputs)}: "
                                 f"say which feeds member {cur.index}", hint="--map OUT=IN")
            links = {pick[0]["name"]: cur.inputs[0]["name"]}
        missing = [i["name"] for i in cur.inputs if i["name"] not in links.values()]
        if missing:
            raise UsageError(f"member {cur.index} input(s) {', '.join(missing)} are fed by nothing",
                             hint="--map OUT=IN for each input")
        for out, inp in links.items():
            src = f"m{prev.index}_{out}"
            dst = f"m{cur.index}_{inp}"
            want = next(i["dtype"] for i in cur.inputs if i["name"] == inp)
            have = prev.output(out)["dtype"]
            if want != have:
                to = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "int64": TensorProto.INT64,
                      "int32": TensorProto.INT32}.get(want)
                if to is None:
                    raise UsageError(f"cannot feed {have} output '{out}' into {want} input '{inp}'")
                nodes.append(helper.make_node("Cast", [src], [dst], to=to))
            else:
                nodes.append(helper.make_node("Identity", [src], [dst]))
        prev.chosen = ",".join(links)
        link_maps.append(links)
        segments += [nodes, g.prefixed(cur.proto, f"m{cur.index}_", rename_inputs=True)]
    last = members[-1]
    outputs, nodes = [], []
    for out in last.proto.graph.output:
        nodes.append(helper.make_node("Identity", [f"m{last.index}_{out.name}"], [out.name]))
        outputs.append(g.renamed_output(out, out.name))
    fused = g.build(segments + [nodes], [], list(members_inputs(members)), outputs, domains, "modelport_chain")
    links = {f"{p.index}->{c.index}": lm for p, c, lm in zip(members, members[1:], link_maps)}
    return fused, ("chain", link_maps), {"links": links}


def _select(members: list[Member], data_path: Path):
    data = _npz(data_path)
    feed = _feeds(members, data, data_path)
    labels = _labels(data, data_path, len(next(iter(feed.values()))))
    outs = _run_members(members, feed)
    scores = []
    for a in st._member_scores(members, outs):
        if a.ndim == 2 and a.shape[1] >= 2:
            scores.append(float(np.mean(np.argmax(a, axis=1) == labels.astype(np.int64))))
        else:
            scores.append(-float(np.sqrt(np.mean((a.reshape(len(a), -1)[:, 0] - labels) ** 2))))
    best = int(np.argmax(scores))
    metric = "accuracy" if members[best].output(members[best].chosen)["shape"][-1:] not in ([1], []) else "-rmse"
    import onnx

    fused = onnx.ModelProto()
    fused.CopyFrom(members[best].proto)
    return fused, ("select", best), {"selected": best, "metric": metric,
                                     "scores": {str(m.index): s for m, s in zip(members, scores)}}


def _verify(members: list[Member], fused_path: Path, reference, check):
    """Compare the fused graph with the ensemble computed from the members one by one in ORT."""
    from modelport.core.artifact import TensorSpec
    from modelport.core.report import Verification
    from modelport.loaders.onnx import OnnxModel
    from modelport.verify.compare import compare_output
    from modelport.verify.inputs import generate, load_npz

    fused = OnnxModel(fused_path)
    specs = [TensorSpec(s.name, s.shape, s.dtype) for s in fused.inputs]
    cases = load_npz(check.data, specs) if check.data else generate(specs, check.samples, check.seed,
                                                                        check.int_range)
    refs, cands = [], []
    try:
        for feed in cases:
            if isinstance(reference, tuple) and reference[0] == "chain":
                refs.append(_chain_reference(members, feed, reference[1]))
            elif isinstance(reference, tuple) and reference[0] == "select":
                refs.append(OnnxModel(members[reference[1]].onnx_path).run(feed))
            else:
                refs.append(reference(_run_members(members, feed)))
            cands.append(fused.run(feed))
    except UsageError:
        raise
    except Exception as exc:
        from modelport.core.errors import one_line

        shapes = ", ".join(f"{k}:{list(v.shape)}" for k, v in cases[0].items())
        raise UsageError(f"the members cannot run together on inputs {shapes} ({one_line(exc)})",
                         hint="members must accept the same input shapes (batch sizes included); a --meta "
                              "model must take as many features as the members output") from exc
    results = []
    for name in refs[0]:
        atol, rtol = check.tolerance.for_output(name)
        results.append(compare_output(name, name, [r[name] for r in refs], [c[name] for c in cands], atol, rtol))
    batches = [len(next(iter(c.values()))) for c in cases]
    return Verification(passed=all(r.passed for r in results), outputs=results, batch_sizes=batches,
                        samples=sum(batches), seed=check.seed,
                        inputs_from=str(check.data) if check.data else "generated", matched_by="name")


def _chain_reference(members: list[Member], feed: dict[str, np.ndarray], link_maps: list[dict[str, str]]):
    """Run the members one after another, feeding outputs to inputs as the graph does."""
    from modelport.loaders.onnx import OnnxModel

    current = feed
    for member, links in zip(members, link_maps):
        out = OnnxModel(member.onnx_path).run(current)
        current = {inp: out[o] for o, inp in links.items()}
    return OnnxModel(members[-1].onnx_path).run(current)
