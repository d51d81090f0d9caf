"""Combiners: ONNX nodes appended after the namespaced members, each with its numpy reference.

Every strategy returns a `Combiner`: nodes and initializers to add, the fused graph's outputs, and
`reference(member_outputs) -> {name: array}` computing the same ensemble from the members run one by one,
which verification compares with the fused graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.core.errors import UsageError
from modelport.fuse.members import Member


@dataclass
class Combiner:
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    outputs: list = field(default_factory=list)  # ValueInfoProtos
    reference: Callable[[list[dict[str, np.ndarray]]], dict[str, np.ndarray]] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    parts: list = field(default_factory=list)  # graphs after `nodes` (the stacking meta-model)
    tail: list = field(default_factory=list)  # nodes after `parts`


def member_ref(m: Member) -> str:
    return f"m{m.index}_{m.chosen}"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _scores(members: list[Member], nodes: list) -> list[str]:
    """Float32 score tensors per member (softmax applied where asked)."""
    from onnx import TensorProto, helper

    names = []
    for m in members:
        name = member_ref(m)
        if m.output(m.chosen)["dtype"] != "float32":
            nodes.append(helper.make_node("Cast", [name], [f"fuse_f{m.index}"], to=TensorProto.FLOAT))
            name = f"fuse_f{m.index}"
        if m.softmax:
            nodes.append(helper.make_node("Softmax", [name], [f"fuse_sm{m.index}"], axis=-1))
            name = f"fuse_sm{m.index}"
        names.append(name)
    return names


def _member_scores(members: list[Member], outs: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    arrays = []
    for m, out in zip(members, outs):
        a = np.asarray(out[m.chosen], dtype=np.float32)
        arrays.append(_softmax(a) if m.softmax else a)
    return arrays


def _classes(members: list[Member], strategy: str) -> int | None:
    """Shared class count (last dim of 2-D chosen outputs); mismatches are usage errors (exit 2)."""
    shapes = [m.output(m.chosen)["shape"] for m in members]
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise UsageError(f"{strategy}: chosen outputs have different ranks: "
                         + "; ".join(f"member {m.index} '{m.chosen}' {s}" for m, s in zip(members, shapes)))
    last = {s[-1] for s in shapes if s and s[-1]}
    if len(last) > 1:
        raise UsageError(f"{strategy}: members disagree on the number of classes/columns: "
                         + "; ".join(f"member {m.index} '{m.chosen}' has {s[-1]}" for m, s in zip(members, shapes)),
                         hint="choose comparable outputs with --output IDX=NAME")
    for m in members:
        if not m.output(m.chosen)["dtype"].startswith("float"):
            raise UsageError(f"{strategy}: member {m.index} output '{m.chosen}' is {m.output(m.chosen)['dtype']}, "
                             "not a score", hint="choose a probability or score output with --output IDX=NAME")
    rank = ranks.pop()
    return last.pop() if rank == 2 and last else None


def average(members: list[Member], weights: list[float] | None) -> Combiner:
    """mean / weighted: weighted average of the chosen outputs; classifiers also emit the argmax label."""
    from onnx import TensorProto, helper, numpy_helper

    classes = _classes(members, "weighted" if weights else "mean")
    if weights is None:
        weights = [1.0] * len(members)
    if len(weights) != len(members):
        raise UsageError(f"{len(weights)} weights for {len(members)} members", hint="one weight per member")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UsageError("weights must be >= 0 and not all 0")
    w = np.asarray(weights, dtype=np.float64) / float(sum(weights))
    c = Combiner(details={"weights": [float(x) for x in w]})
    scores = _scores(members, c.nodes)
    parts = []
    for i, (name, wi) in enumerate(zip(scores, w)):
        c.initializers.append(numpy_helper.from_array(np.asarray(wi, dtype=np.float32), f"fuse_w{i}"))
        c.nodes.append(helper.make_node("Mul", [name, f"fuse_w{i}"], [f"fuse_ws{i}"]))
        parts.append(f"fuse_ws{i}")
    is_clf = classes is not None and classes >= 2
    out = "probabilities" if is_clf else "output"
    c.nodes.append(helper.make_node("Sum", parts, [out]))
    shape = ["N"] + [d or f"d{i}" for i, d in enumerate(members[0].output(members[0].chosen)["shape"][1:], 1)]
    c.outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, shape))
    if is_clf:
        c.nodes.append(helper.make_node("ArgMax", [out], ["label"], axis=1, keepdims=0))
        c.outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))

    def reference(outs):
        arrays = _member_scores(members, outs)
        total = sum(np.float32(wi) * a for wi, a in zip(w, arrays))
        result = {out: total.astype(np.float32)}
        if is_clf:
            result["label"] = np.argmax(total, axis=1).astype(np.int64)
        return result

    c.reference = reference
    return c


def vote(members: list[Member]) -> Combiner:
    """Hard majority vote over member labels; ties go to the lowest class index. Emits label and votes."""
    from onnx import TensorProto, helper, numpy_helper

    classes = _classes(members, "vote")
    if not classes or classes < 2:
        raise UsageError("vote needs classifiers whose chosen outputs are (N, classes) scores",
                         hint="choose each member's probability output with --output IDX=NAME")
    own = [_own_label(m) for m in members]
    c = Combiner(details={"classes": classes, "ties": "lowest class index",
                          "labels_from": ["label output" if o else "argmax of scores" for o in own]})
    scores = _scores(members, c.nodes)
    c.initializers.append(numpy_helper.from_array(np.asarray([classes], dtype=np.int64), "fuse_depth"))
    c.initializers.append(numpy_helper.from_array(np.asarray([0.0, 1.0], dtype=np.float32), "fuse_onehot"))
    c.initializers.append(numpy_helper.from_array(np.asarray([-1], dtype=np.int64), "fuse_flat"))
    hots = []
    for i, (m, name) in enumerate(zip(members, scores)):
        if own[i]:  # the member's own label (e.g. scikit-learn's predict), as class indices
            c.nodes.append(helper.make_node("Cast", [f"m{m.index}_{own[i]}"], [f"fuse_lc{i}"], to=TensorProto.INT64))
            c.nodes.append(helper.make_node("Reshape", [f"fuse_lc{i}", "fuse_flat"], [f"fuse_l{i}"]))
        else:
            c.nodes.append(helper.make_node("ArgMax", [name], [f"fuse_l{i}"], axis=1, keepdims=0))
        c.nodes.append(helper.make_node("OneHot", [f"fuse_l{i}", "fuse_depth", "fuse_onehot"], [f"fuse_h{i}"],
                                        axis=-1))
        hots.append(f"fuse_h{i}")
    c.nodes.append(helper.make_node("Sum", hots, ["votes"]))
    c.nodes.append(helper.make_node("ArgMax", ["votes"], ["label"], axis=1, keepdims=0, select_last_index=0))
    c.outputs += [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
                  helper.make_tensor_value_info("votes", TensorProto.FLOAT, ["N", classes])]

    def reference(outs):
        labels = [np.asarray(out[o]).reshape(-1).astype(np.int64) if o else np.argmax(a, axis=1)
                  for o, out, a in zip(own, outs, _member_scores(members, outs))]
        # as ONNX OneHot: negative indices count from the end; outside [-classes, classes) the row is all zero
        eye = np.vstack([np.eye(classes, dtype=np.float32), np.zeros((1, classes), np.float32)])
        labels = [np.where(lab < 0, lab + classes, lab) for lab in labels]
        votes = sum(eye[np.where((lab >= 0) & (lab < classes), lab, classes)] for lab in labels)
        return {"label": np.argmax(votes, axis=1).astype(np.int64), "votes": votes}

    c.reference = reference
    return c


def _own_label(m: Member) -> str | None:
    """A member's integer `label` output (one per row), when it has one."""
    for o in m.outputs:
        if o["name"] == "label" and o["dtype"].startswith(("int", "uint")) and len(o["shape"]) in (1, 2):
            return o["name"]
    return None


def features(members: list[Member], c: Combiner) -> str:
    """Concatenate the chosen outputs along axis 1 (1-D outputs become columns): the stacking features."""
    from onnx import helper, numpy_helper

    scores = _scores(members, c.nodes)
    cols = []
    c.initializers.append(numpy_helper.from_array(np.asarray([-1, 1], dtype=np.int64), "fuse_col"))
    for i, (m, name) in enumerate(zip(members, scores)):
        if len(m.output(m.chosen)["shape"]) == 1:
            c.nodes.append(helper.make_node("Reshape", [name, "fuse_col"], [f"fuse_c{i}"]))
            name = f"fuse_c{i}"
        cols.append(name)
    c.nodes.append(helper.make_node("Concat", cols, ["fuse_features"], axis=1))
    return "fuse_features"


def member_features(members: list[Member], outs: list[dict[str, np.ndarray]]) -> np.ndarray:
    cols = [a.reshape(len(a), -1) for a in _member_scores(members, outs)]
    return np.concatenate(cols, axis=1).astype(np.float32)
