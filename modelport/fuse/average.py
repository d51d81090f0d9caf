"""mean / weighted: the (weighted) average of the members' chosen outputs; classifiers also emit the argmax."""

from __future__ import annotations

from modelport.core.errors import UsageError
from modelport.fuse.base import Combination, Context, FuseRequest, Strategy
from modelport.fuse.members import Members


class Mean(Strategy, name="fuse-mean", method="mean", order=10,
           description="average of the members' chosen outputs (+ argmax label for classifiers)"):

    def check(self, request: FuseRequest, count: int) -> None:
        if request.weights is None:
            return
        if len(request.weights) != count:
            raise UsageError(f"{len(request.weights)} weights for {count} members", hint="one weight per member")
        if any(w < 0 for w in request.weights) or sum(request.weights) <= 0:
            raise UsageError("weights must be >= 0 and not all 0")

    def weights(self, request: FuseRequest, count: int) -> list[float]:
        return list(request.weights) if request.weights else [1.0] * count

    def combine(self, members: Members, request: FuseRequest, ctx: Context) -> Combination:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        from modelport.fuse import graph, scores

        n_classes = scores.classes(members, self.label)
        w = np.asarray(self.weights(request, len(members)), dtype=np.float64)
        w = w / float(w.sum())
        c = scores.Combiner()
        parts = []
        for i, (name, wi) in enumerate(zip(scores.score_nodes(members, c.nodes), w)):
            c.initializers.append(numpy_helper.from_array(np.asarray(wi, dtype=np.float32), f"fuse_w{i}"))
            c.nodes.append(helper.make_node("Mul", [name, f"fuse_w{i}"], [f"fuse_ws{i}"]))
            parts.append(f"fuse_ws{i}")
        is_clf = n_classes is not None and n_classes >= 2
        out = "probabilities" if is_clf else "output"
        c.nodes.append(helper.make_node("Sum", parts, [out]))
        shape = ["N"] + [d or f"d{i}" for i, d in enumerate(members[0].output(members[0].chosen)["shape"][1:], 1)]
        c.outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, shape))
        if is_clf:
            c.nodes.append(helper.make_node("ArgMax", [out], ["label"], axis=1, keepdims=0))
            c.outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))

        def reference(feed, members: Members):
            arrays = scores.member_scores(members, members.run_all(feed))
            total = sum(np.float32(wi) * a for wi, a in zip(w, arrays))
            result = {out: total.astype(np.float32)}
            if is_clf:
                result["label"] = np.argmax(total, axis=1).astype(np.int64)
            return result

        weights = [float(x) for x in w]
        return Combination(graph.assemble(members, c, ctx.domains, f"modelport_{self.label}"), reference,
                           {"weights": weights}, {"weights": weights})


class Weighted(Mean, name="fuse-weighted", method="weighted", order=20,
               description="weighted average (--weights, normalised to sum 1)"):

    def check(self, request: FuseRequest, count: int) -> None:
        if not request.weights:
            raise UsageError("--strategy weighted needs --weights", hint="e.g. --weights 0.5,0.3,0.2")
        super().check(request, count)
