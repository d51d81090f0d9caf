"""Helpers the combining strategies share: ONNX nodes appended after the namespaced members, and the numpy
that computes the same thing from the members' own outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modelport.core.errors import UsageError
from modelport.fuse.members import Member


@dataclass
class Combiner:
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    outputs: list = field(default_factory=list)  # ValueInfoProtos
    parts: list = field(default_factory=list)  # graphs after `nodes` (the stacking meta-model)
    tail: list = field(default_factory=list)  # nodes after `parts`


def member_ref(m: Member) -> str:
    return f"m{m.index}_{m.chosen}"


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def score_nodes(members: list[Member], nodes: list) -> list[str]:
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


def member_scores(members: list[Member], outs: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    arrays = []
    for m, out in zip(members, outs):
        a = np.asarray(out[m.chosen], dtype=np.float32)
        arrays.append(softmax(a) if m.softmax else a)
    return arrays


def classes(members: list[Member], strategy: str) -> int | None:
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
                         hint="choose comparable outputs with --member-output IDX=NAME")
    for m in members:
        if not m.output(m.chosen)["dtype"].startswith("float"):
            raise UsageError(f"{strategy}: member {m.index} output '{m.chosen}' is {m.output(m.chosen)['dtype']}, "
                             "not a score", hint="choose a probability or score output with --member-output IDX=NAME")
    rank = ranks.pop()
    return last.pop() if rank == 2 and last else None


def own_label(m: Member) -> str | None:
    """A member's integer `label` output (one per row), when it has one."""
    for o in m.outputs:
        if o["name"] == "label" and o["dtype"].startswith(("int", "uint")) and len(o["shape"]) in (1, 2):
            return o["name"]
    return None


def features(members: list[Member], c: Combiner) -> str:
    """Concatenate the chosen outputs along axis 1 (1-D outputs become columns): the stacking features."""
    from onnx import helper, numpy_helper

    scores = score_nodes(members, c.nodes)
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
    cols = [a.reshape(len(a), -1) for a in member_scores(members, outs)]
    return np.concatenate(cols, axis=1).astype(np.float32)
