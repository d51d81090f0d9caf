"""Members of an ensemble: each converted to ONNX (verified) unless it already is, with its interface."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.core.errors import UsageError
from modelport.core.formats import Format, detect


@dataclass
class Member:
    index: int
    source: str
    format: Format
    onnx_path: Path
    proto: Any
    sha256: str
    inputs: list[dict] = field(default_factory=list)  # [{"name", "shape", "dtype"}]
    outputs: list[dict] = field(default_factory=list)
    chosen: str | None = None
    softmax: bool = False

    def output(self, name: str) -> dict:
        return next(o for o in self.outputs if o["name"] == name)

    def signature(self) -> str:
        return ", ".join(f"{i['name']}:{'x'.join(str(d) if d else '?' for d in i['shape'])}:{i['dtype']}"
                         for i in self.inputs)


def _io(proto) -> tuple[list[dict], list[dict]]:
    import numpy as np
    import onnx

    def one(vi):
        t = vi.type.tensor_type
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).name
        except Exception:
            dtype = "unknown"
        shape = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        return {"name": vi.name, "shape": shape, "dtype": dtype}

    inits = {i.name for i in proto.graph.initializer}
    return [one(v) for v in proto.graph.input if v.name not in inits], [one(v) for v in proto.graph.output]


def load_members(sources: list[str], workdir: Path, *, trust: bool, inputs, imports, progress) -> list[Member]:
    """Convert every non-ONNX member to ONNX (verified, route chain as for convert) into workdir."""
    import onnx

    from modelport import api
    from modelport.core.io import sha256_of

    members = []
    for i, source in enumerate(sources):
        fmt = detect(source)
        if fmt is Format.ONNX:
            path = Path(source)
        else:
            progress(f"converting member {i} ({Path(str(source)).name}) to ONNX")
            path = workdir / f"member{i}.onnx"
            report = api.convert(source, path, inputs=inputs, trust=trust, imports=imports)
            if not report.ok:
                raise UsageError(f"member {i} ({source}) did not verify after conversion: "
                                 f"{report.verification.summary()}", hint="fix that model first")
        try:
            proto = onnx.load(str(path))
        except Exception as exc:
            raise UsageError(f"member {i} ({source}): cannot read ONNX ({type(exc).__name__})") from exc
        ins, outs = _io(proto)
        digest = sha256_of(source) if Path(str(source)).exists() else ""
        members.append(Member(i, str(source), fmt, path, proto, digest, ins, outs))
    return members


def workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="modelport-fuse-")


def apply_renames(members: list[Member], renames: dict[str, str], lone_inputs: bool = True) -> None:
    """--rename-input OLD=NEW on every member; a lone input per member takes the first member's name."""
    from modelport.converters.common import rename_io

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
                        a and b and a != b for a, b in zip(i["shape"], r["shape"])):
                    ok = False
        if not ok:
            raise UsageError(
                f"members do not share their inputs: member 0 takes [{ref.signature()}], "
                f"member {m.index} takes [{m.signature()}]",
                hint="rename with --rename-input OLD=NEW, or convert the members with the same input names")


def choose_outputs(members: list[Member], chosen: dict[int, str], softmax: set[int]) -> None:
    """The output each member contributes: --output IDX=NAME, else the probability-like or single output."""
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
                             hint=f"--output {m.index}=NAME")
        m.chosen = pick
        m.softmax = m.index in softmax
