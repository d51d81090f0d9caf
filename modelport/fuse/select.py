"""select: each member scored on `--data DATA.npz` with labels (accuracy for classifiers, -RMSE otherwise);
the best member's graph is the ensemble."""

from __future__ import annotations

from modelport.core.errors import UsageError
from modelport.fuse.base import Combination, Context, FuseRequest, Strategy
from modelport.fuse.members import Members


class Select(Strategy, name="fuse-select", method="select", order=60,
             description="the member that scores best on --data (accuracy, or -RMSE)"):

    def check(self, request: FuseRequest, count: int) -> None:
        if not request.data:
            raise UsageError("--strategy select needs --data DATA.npz with inputs and labels")

    def combine(self, members: Members, request: FuseRequest, ctx: Context) -> Combination:
        import numpy as np
        import onnx

        from modelport.fuse import scores
        from modelport.fuse.stack import data_feed
        from modelport.verify.inputs import load_labels

        feed, rows = data_feed(members, request.data)
        labels = load_labels(request.data, rows)
        points = []
        for a in scores.member_scores(members, members.run_all(feed)):
            if a.ndim == 2 and a.shape[1] >= 2:
                points.append(float(np.mean(np.argmax(a, axis=1) == labels.astype(np.int64))))
            else:
                points.append(-float(np.sqrt(np.mean((a.reshape(len(a), -1)[:, 0] - labels) ** 2))))
        best = int(np.argmax(points))
        shape = members[best].output(members[best].chosen)["shape"]
        metric = "accuracy" if shape[-1:] not in ([1], []) else "-rmse"
        fused = onnx.ModelProto()
        fused.CopyFrom(members[best].proto)

        def reference(feed, members: Members):
            return members.run(best, feed)

        details = {"selected": best, "metric": metric, "scores": {str(m.index): s for m, s in zip(members, points)}}
        return Combination(fused, reference, details)
