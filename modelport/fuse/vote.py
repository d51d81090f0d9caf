"""vote: hard majority over the members' labels; ties go to the lowest class index. Emits label and votes."""

from __future__ import annotations

from modelport.core.errors import UsageError
from modelport.fuse.base import Combination, Context, FuseRequest, Strategy
from modelport.fuse.members import Members


class Vote(Strategy, name="fuse-vote", method="vote", order=30,
           description="hard majority vote over member labels; ties go to the lowest class index"):

    def combine(self, members: Members, request: FuseRequest, ctx: Context) -> Combination:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        from modelport.fuse import graph, scores

        n = scores.classes(members, "vote")
        if not n or n < 2:
            raise UsageError("vote needs classifiers whose chosen outputs are (N, classes) scores",
                             hint="choose each member's probability output with --member-output IDX=NAME")
        own = [scores.own_label(m) for m in members]
        c = scores.Combiner()
        names = scores.score_nodes(members, c.nodes)
        c.initializers.append(numpy_helper.from_array(np.asarray([n], dtype=np.int64), "fuse_depth"))
        c.initializers.append(numpy_helper.from_array(np.asarray([0.0, 1.0], dtype=np.float32), "fuse_onehot"))
        c.initializers.append(numpy_helper.from_array(np.asarray([-1], dtype=np.int64), "fuse_flat"))
        hots = []
        for i, (m, name) in enumerate(zip(members, names)):
            if own[i]:  # the member's own label (e.g. scikit-learn's predict), as class indices
                c.nodes.append(helper.make_node("Cast", [f"m{m.index}_{own[i]}"], [f"fuse_lc{i}"],
                                                to=TensorProto.INT64))
                c.nodes.append(helper.make_node("Reshape", [f"fuse_lc{i}", "fuse_flat"], [f"fuse_l{i}"]))
            else:
                c.nodes.append(helper.make_node("ArgMax", [name], [f"fuse_l{i}"], axis=1, keepdims=0))
            c.nodes.append(helper.make_node("OneHot", [f"fuse_l{i}", "fuse_depth", "fuse_onehot"], [f"fuse_h{i}"],
                                            axis=-1))
            hots.append(f"fuse_h{i}")
        c.nodes.append(helper.make_node("Sum", hots, ["votes"]))
        c.nodes.append(helper.make_node("ArgMax", ["votes"], ["label"], axis=1, keepdims=0, select_last_index=0))
        c.outputs += [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
                      helper.make_tensor_value_info("votes", TensorProto.FLOAT, ["N", n])]

        def reference(feed, members: Members):
            outs = members.run_all(feed)
            labels = [np.asarray(out[o]).reshape(-1).astype(np.int64) if o else np.argmax(a, axis=1)
                      for o, out, a in zip(own, outs, scores.member_scores(members, outs))]
            # as ONNX OneHot: negative indices count from the end; outside [-n, n) the row is all zero
            eye = np.vstack([np.eye(n, dtype=np.float32), np.zeros((1, n), np.float32)])
            labels = [np.where(lab < 0, lab + n, lab) for lab in labels]
            votes = sum(eye[np.where((lab >= 0) & (lab < n), lab, n)] for lab in labels)
            return {"label": np.argmax(votes, axis=1).astype(np.int64), "votes": votes}

        details = {"classes": n, "ties": "lowest class index",
                   "labels_from": ["label output" if o else "argmax of scores" for o in own]}
        return Combination(graph.assemble(members, c, ctx.domains, "modelport_vote"), reference, details)
