"""stack: the members' chosen outputs, concatenated, feed a meta-model (`--meta FILE`, or one fitted here on
`--fit-meta DATA.npz`: LogisticRegression for integer labels, LinearRegression otherwise, converted to ONNX
through the scikit-learn route)."""

from __future__ import annotations

from pathlib import Path

from modelport.core.errors import UsageError
from modelport.fuse.base import Combination, Context, FuseRequest, Strategy
from modelport.fuse.members import Members


def data_feed(members: Members, path: str) -> tuple[dict, int]:
    """Member 0's inputs from an .npz (names as the inputs, or one lone array), and the row count."""
    from modelport.core.artifact import TensorSpec
    from modelport.verify.inputs import load_npz

    specs = [TensorSpec(i["name"], tuple(d or None for d in i["shape"]), i["dtype"]) for i in members[0].inputs]
    feed = load_npz(path, specs)[0]
    return feed, len(next(iter(feed.values())))


class Stack(Strategy, name="fuse-stack", method="stack", order=40,
            description="a meta-model over the members' outputs (--meta FILE or --fit-meta DATA.npz)"):

    def check(self, request: FuseRequest, count: int) -> None:
        if bool(request.meta) == bool(request.fit_meta):
            raise UsageError("--strategy stack needs exactly one of --meta FILE or --fit-meta DATA.npz")

    def _fit(self, members: Members, request: FuseRequest, ctx: Context):
        """Fit the meta-model on the members' outputs; return its ONNX file and what to report."""
        import numpy as np

        from modelport.core.artifact import TensorSpec
        from modelport.core.errors import require
        from modelport.core.formats import Format
        from modelport.fuse import scores
        from modelport.verify.inputs import load_labels

        sklearn = require("sklearn", "sklearn", "fit a stacking meta-model")
        from sklearn.linear_model import LinearRegression, LogisticRegression

        from modelport.frameworks.sklearn.model import SklearnModel

        feed, rows = data_feed(members, request.fit_meta)
        labels = load_labels(request.fit_meta, rows)
        x = scores.member_features(members, members.run_all(feed))
        integral = labels.dtype.kind in "iub" or np.all(labels == np.round(labels))
        meta = LogisticRegression(max_iter=2000) if integral and len(np.unique(labels)) <= 100 else LinearRegression()
        meta.fit(x, labels)
        model = SklearnModel(None, Format.SKLEARN_SKOPS, meta, [TensorSpec("features", ("batch", x.shape[1]))],
                             sklearn.__version__)
        path = ctx.convert(model, "meta.onnx", ctx.domains[""])
        return path, {"meta": type(meta).__name__, "meta_train_score": float(meta.score(x, labels)),
                      "features": int(x.shape[1])}

    def combine(self, members: Members, request: FuseRequest, ctx: Context) -> Combination:
        import onnx
        from onnx import helper

        from modelport.fuse import graph, scores
        from modelport.runtimes.onnx.model import OnnxModel

        c = scores.Combiner()
        scores.features(members, c)
        if request.fit_meta:
            path, details = self._fit(members, request, ctx)
        else:
            path, details = ctx.convert(request.meta, "meta.onnx", ctx.domains[""]), {"meta": str(request.meta)}
        meta_proto = onnx.load(str(path))
        meta_inits = {x.name for x in meta_proto.graph.initializer}
        meta_inputs = [i for i in meta_proto.graph.input if i.name not in meta_inits]
        if len(meta_inputs) != 1:
            raise UsageError(f"the meta-model takes {len(meta_inputs)} inputs; it must take one (the stacked outputs)")
        for d, v in graph.opsets([meta_proto]).items():
            ctx.domains[d] = max(ctx.domains.get(d, 0), v)
        meta_proto = graph.unify(meta_proto, ctx.domains[""], [], "meta-model")
        meta_p = graph.prefixed(meta_proto, "meta_", rename_inputs=True)
        c.nodes.append(helper.make_node("Identity", ["fuse_features"], [meta_p.graph.input[0].name]))
        c.parts.append(meta_p)
        for out in meta_p.graph.output:
            plain = out.name[len("meta_"):]
            c.tail.append(helper.make_node("Identity", [out.name], [plain]))
            c.outputs.append(graph.renamed_output(out, plain))
        meta_ref = Path(ctx.workdir) / "meta_ref.onnx"
        graph.save(meta_proto, meta_ref)
        meta_model = OnnxModel(meta_ref)

        def reference(feed, members: Members):
            return meta_model.run({meta_model.inputs[0].name: scores.member_features(members, members.run_all(feed))})

        return Combination(graph.assemble(members, c, ctx.domains, "modelport_stack"), reference, details)
