"""Members of an ensemble (each already ONNX), their interfaces, and one ONNX Runtime session per member."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.core.errors import UsageError
from modelport.core.formats import Format
from modelport.core.onnx_graph import graph_io, rename_io


@dataclass
class Member:
    index: int
    source: str
    format: Format
    onnx_path: Path  # the member as the reference runs it (renamed only, not opset-converted)
    proto: Any  # the member as the fused graph holds it
    sha256: str
    inputs: list[dict] = field(default_factory=list)  # [{"name", "shape", "dtype"}]
    outputs: list[dict] = field(default_factory=list)
    chosen: str | None = None
    softmax: bool = False

    @classmethod
    def from_onnx(cls, index: int, source: str, fmt: Format, path: Path, sha256: str) -> Member:
        import onnx

        try:
            proto = onnx.load(str(path))
        except Exception as exc:
            raise UsageError(f"member {index} ({source}): cannot read ONNX ({type(exc).__name__})") from exc
        ins, outs = graph_io(proto)
        return cls(index, source, fmt, path, proto, sha256, ins, outs)

    def output(self, name: str) -> dict:
        return next(o for o in self.outputs if o["name"] == name)

    def signature(self) -> str:
        return ", ".join(f"{i['name']}:{'x'.join(str(d) if d else '?' for d in i['shape'])}:{i['dtype']}"
                         for i in self.inputs)


class Members(list):
    """The members in order, each run through one ONNX Runtime session created on first use."""

    def __init__(self, members: list[Member]) -> None:
        super().__init__(members)
        self._sessions: dict[int, Any] = {}

    def run(self, index: int, feed: dict) -> dict:
        if index not in self._sessions:
            from modelport.runtimes.onnx.model import OnnxModel

            self._sessions[index] = OnnxModel(self[index].onnx_path)
        return self._sessions[index].run(feed)

    def run_all(self, feed: dict) -> list[dict]:
        return [self.run(m.index, feed) for m in self]


def apply_renames(members: list[Member], renames: dict[str, str], lone_inputs: bool = True) -> None:
    """--rename-input OLD=NEW on every member; a lone input per member takes the first member's name."""
    for m in members:
        new_names = [renames.get(i["name"], i["name"]) for i in m.inputs]
        if new_names != [i["name"] for i in m.inputs]:
            rename_io(m.proto, new_names)
            for spec, name in zip(m.inputs, new_names):
                spec["name"] = name
    if lone_inputs and all(len(m.inputs) == 1 for m in members):
        first = members[0].inputs[0]["name"]
        for m in members[1:]:
            if m.inputs[0]["name"] != first:
                rename_io(m.proto, [first])
                m.inputs[0]["name"] = first


def check_shared_inputs(members: list[Member]) -> None:
    """Members of a parallel ensemble must take the same inputs (names, dtypes, fixed dims)."""
    ref = members[0]
    for m in members[1:]:
        ok = sorted(i["name"] for i in m.inputs) == sorted(i["name"] for i in ref.inputs)
        if ok:
            by_name = {i["name"]: i for i in ref.inputs}
            for i in m.inputs:
                r = by_name[i["name"]]
                if i["dtype"] != r["dtype"] or len(i["shape"]) != len(r["shape"]) or any(
                        a and b and a != b for a, b in list(zip(i["shape"], r["shape"]))[1:]):
                    ok = False  # a fixed batch (axis 0) is settle_fixed_dims' to judge
        if not ok:
            raise UsageError(
                f"members do not share their inputs: member 0 takes [{ref.signature()}], "
                f"member {m.index} takes [{m.signature()}]",
                hint="rename with --rename-input OLD=NEW, or convert the members with the same input names")


def _fixed(d) -> bool:
    return isinstance(d, int) and d > 0


def settle_fixed_dims(members: list[Member]) -> list[str]:
    """A batch one member fixes (a `.pt2` exported without dynamic_shapes) is the fused model's too: every
    member gets that size, and a warning says which member fixed it. Two members fixing it to different sizes
    cannot run together (exit 2, naming both)."""
    warnings = []
    for spec in members[0].inputs:
        name = spec["name"]
        shapes = [(m, next(i for i in m.inputs if i["name"] == name)["shape"]) for m in members]
        for axis in range(min(1, len(spec["shape"]))):  # the batch: other axes must already agree
            fixed = [(m, shape[axis]) for m, shape in shapes if _fixed(shape[axis])]
            sizes = sorted({d for _, d in fixed})
            if len(sizes) > 1:
                (a, da), (b, db) = fixed[0], next((m, d) for m, d in fixed if d != fixed[0][1])
                raise UsageError(f"members cannot run together: member {a.index} ({Path(a.source).name}) takes "
                                 f"{name} with a fixed batch of {da}, member {b.index} "
                                 f"({Path(b.source).name}) with {db}",
                                 hint="re-export the members with a dynamic batch (torch.export: dynamic_shapes)")
            if sizes and any(not _fixed(shape[axis]) for _, shape in shapes):
                size = sizes[0]
                for m, shape in shapes:
                    if not _fixed(shape[axis]):
                        shape[axis] = size
                        _set_dim(m.proto, name, axis, size)
                who = ", ".join(f"member {m.index} ({Path(m.source).name})" for m, _ in fixed)
                warnings.append(f"{who} takes {name} with a fixed batch of {size}: the fused model takes that "
                                "batch only (re-export with a dynamic batch to fuse at any batch)")
    return warnings


def _set_dim(proto: Any, name: str, axis: int, size: int) -> None:
    for vi in proto.graph.input:
        if vi.name == name:
            dim = vi.type.tensor_type.shape.dim[axis]
            dim.ClearField("dim_param")
            dim.dim_value = size


def choose_outputs(members: list[Member], chosen: dict[int, str], softmax: set[int]) -> None:
    """The output each member contributes: --member-output IDX=NAME, else the probability-like or single one."""
    for m in members:
        names = [o["name"] for o in m.outputs]
        pick = chosen.get(m.index)
        if pick is None:
            probs = [n for n in names if n == "probabilities"] or [n for n in names if "prob" in n.lower()]
            if probs:
                pick = probs[0]
            elif len(names) == 1:
                pick = names[0]
            else:
                float_2d = [o["name"] for o in m.outputs if o["dtype"].startswith("float") and len(o["shape"]) == 2]
                if len(float_2d) == 1:
                    pick = float_2d[0]
        if pick is None or pick not in names:
            raise UsageError(f"member {m.index} ({Path(m.source).name}): choose an output among {', '.join(names)}",
                             hint=f"--member-output {m.index}=NAME")
        m.chosen = pick
        m.softmax = m.index in softmax
