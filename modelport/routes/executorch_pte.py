"""PyTorch -> ExecuTorch program (`.pte`): torch.export, then `to_edge_transform_and_lower` with the XNNPACK
partitioner (`torch-executorch`), or without delegation on the portable kernels when XNNPACK refuses the graph
(`torch-executorch-portable`, slower: said in a warning).

RECIPES: executorch 1.5.1 lowers a torch.export program with the XNNPACK partitioner under torch 2.13; its Python
runtime matched PyTorch to 1.2e-7.

ExecuTorch plans each tensor's memory for the largest size an axis may take: an axis with no bound is planned at
its example size, so dynamic axes get a bound here (16 unless the model states one; the planner may lower it,
e.g. to 15 for a convolution). The program records its input and output names (a constant method,
`modelport_io`), which the runtime reads to name what it feeds and returns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format
from modelport.core.logs import native_silenced, quiet
from modelport.core.registry import Step, StepOptions
from modelport.routes.torch_onnx import TRACEABLE

LOGGERS = ("torch.export", "torch._dynamo", "torch.fx", "torchao", "executorch", "torch.utils._pytree")
DEFAULT_MAX = 16  # the bound a dynamic axis gets when the model gives none: the batch sizes verification runs


def executorch_version() -> str:
    from importlib.metadata import version

    return version("executorch")


def export(source):
    """The source's torch.export program, with its dynamic axes bounded (the batch axis alone, then none, when
    torch.export cannot keep them all)."""
    import torch

    from modelport.routes.torch_onnx import export_program

    if source.program is not None:
        if all(str(d).isdigit() for n in source.program.graph.nodes if n.op == "placeholder"
               for d in getattr(n.meta.get("val"), "shape", ())):
            return source.program
        shapes = bounded_shapes(source.program)
        if shapes is None:
            return source.program
        try:  # an unbounded axis would be planned at its example size: bound it
            return torch.export.export(source.program.module(), tuple(source.program.example_inputs[0]),
                                       dynamic_shapes=shapes)
        except Exception:
            return source.program
    return export_program(source, default_max=DEFAULT_MAX)


def bounded_shapes(program):
    """dynamic_shapes reproducing a program's symbolic input axes (positional inputs), each bounded as it is or
    at DEFAULT_MAX; None for keyword inputs (exported at their example shapes)."""
    from torch.export import Dim

    user = set(program.graph_signature.user_inputs)
    dims: dict = {}
    shapes = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in user:
            continue
        axes = {}
        for i, d in enumerate(node.meta["val"].shape):
            if not str(d).isdigit():
                key = str(d)
                if key not in dims:
                    bound = program.range_constraints.get(d.node.expr)
                    upper = _finite(bound.upper) if bound is not None else None
                    dims[key] = Dim(f"d_{key}", min=1, max=upper or DEFAULT_MAX)
                axes[i] = dims[key]
        shapes.append(axes or None)
    if program.example_inputs[1]:  # keyword inputs: exported at their example shapes
        return None
    return tuple(shapes)


def _finite(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, AttributeError, OverflowError):  # sympy's int_oo
        return None


def _size(program, dim) -> int | None:
    """An axis's size, or None when it is dynamic: a symbol torch.export pinned to one value is that value."""
    if str(dim).isdigit():
        return int(dim)
    bound = program.range_constraints.get(getattr(getattr(dim, "node", None), "expr", None))
    low = _finite(bound.lower) if bound is not None else None
    return low if low is not None and low == _finite(bound.upper) else None


def io_record(source, program) -> dict:
    """Input specs (dynamic axes as None) and output names, in the order the program takes and returns them."""
    specs = []
    user = set(program.graph_signature.user_inputs)
    for spec, node in zip(source.inputs, [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user]):
        val = node.meta.get("val")
        shape = [_size(program, d) for d in val.shape] if val is not None else list(spec.shape)
        specs.append({"name": spec.name, "shape": shape, "dtype": spec.dtype})
    return {"inputs": specs, "outputs": list(source.outputs)}


def _write(source, out: Path, partitioners: list, program) -> dict:
    """Lower a program and write it; returns its io record."""
    import torch

    with quiet(*LOGGERS), native_silenced(), torch.no_grad():
        from executorch.exir import to_edge_transform_and_lower

        record = io_record(source, program)
        edge = to_edge_transform_and_lower(program, partitioner=partitioners,
                                           constant_methods={"modelport_io": json.dumps(record)})
        try:
            buffer = edge.to_executorch().buffer
        except RuntimeError as exc:
            missing = re.search(r"Missing out variants: \{(.*)\}", str(exc))
            if not missing:
                raise
            raise UnsupportedError(f"ExecuTorch has no kernel for {missing.group(1)} (no out variant registered)",
                                   hint="register an out= variant of the operator with ExecuTorch, or export the "
                                        "model without it") from exc
    out.write_bytes(buffer)
    return record


def _load(out: Path):
    from modelport.runtimes.executorch.model import PteModel

    try:  # this runtime loads it: a kernel it lacks is named here, as the route's failure
        return PteModel(out)
    except UnsupportedError as exc:
        raise UnsupportedError(exc.message.split(": ", 1)[-1], hint=exc.hint) from exc


def _runs_one_row(model) -> bool:
    import numpy as np

    feed = {s.name: np.zeros([1 if d is None else d for d in s.shape], s.dtype) for s in model.inputs}
    try:
        model.run(feed)
        return True
    except RuntimeError:
        return False


def lower(source, out: Path, partitioners: list, program=None) -> dict:
    """Lower the source's program (or `program`, made from it) and write it; facts with the user's warnings."""
    import torch

    with quiet(*LOGGERS), native_silenced(), torch.no_grad():
        program = program or export(source)
    facts: dict = {"warnings": []}
    record = _write(source, out, partitioners, program)
    model = _load(out)
    refixed = bool(record["inputs"]) and record["inputs"][0]["shape"][:1] == [None] and not _runs_one_row(model)
    if refixed:
        # XNNPACK fixed some delegate's shapes at the example batch: the program runs at that batch alone
        with quiet(*LOGGERS), native_silenced(), torch.no_grad():
            args, kwargs = program.example_inputs
            program = torch.export.export(program.module(), tuple(args), kwargs=kwargs or None)
        record = _write(source, out, partitioners, program)
        model = _load(out)
        shapes = ", ".join(f"{s['name']} {s['shape']}" for s in record["inputs"])
        facts["warnings"].append(f"the lowered program runs at its example shapes only ({shapes}): a delegated "
                                 "operation kept no dynamic axis")
    cap = model.batch_capacity()
    if cap and cap < DEFAULT_MAX:
        facts["warnings"].append(f"the program takes at most {cap} rows per call (ExecuTorch plans memory for "
                                 "the largest batch the export allows); modelport runs larger batches in slices")
    dynamic = [s["name"] for s in record["inputs"] if None in s["shape"]]
    if source.inputs and not dynamic and not refixed and any(s.dynamic_dims for s in source.inputs):
        shapes = ", ".join(f"{s['name']} {s['shape']}" for s in record["inputs"])
        facts["warnings"].append(f"torch.export kept no dynamic axis: the program takes {shapes} "
                                 "(--input NAME:D1,D2 sets other sizes)")
    return facts


class TorchToPte(Step, name="torch-executorch", source=TRACEABLE, target=Format.EXECUTORCH, extra="executorch",
                 requires=("executorch", "torch"), order=10,
                 description="torch.export + to_edge_transform_and_lower with the XNNPACK partitioner"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        with quiet(*LOGGERS), native_silenced():
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        facts = lower(source, out, [XnnpackPartitioner()])
        return facts | {"converter": f"executorch {executorch_version()} (XNNPACK)", "delegate": "xnnpack"}


class TorchToPtePortable(Step, name="torch-executorch-portable", source=TRACEABLE, target=Format.EXECUTORCH,
                         extra="executorch", requires=("executorch", "torch"), order=20,
                         description="torch.export + to_edge_transform_and_lower, no delegate (portable kernels)"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        facts = lower(source, out, [])
        facts["warnings"].append("no XNNPACK delegation: the program runs on ExecuTorch's portable kernels, "
                                 "several times slower on a phone's CPU")
        return facts | {"converter": f"executorch {executorch_version()} (portable kernels)", "delegate": "none"}
