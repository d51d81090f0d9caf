"""The fuse strategy contract, and the ensemble as a model the pipeline can verify against.

A strategy is a step of kind "fuse" (registered like every route and pass). `combine(members, request, ctx)`
builds the fused ONNX graph and, with it, `reference(feed, members)`: the same ensemble computed from the
members run one by one (one ONNX Runtime session each) and combined in numpy. `Ensemble` wraps that reference
as a `Model`, so the fused file is verified by the same code as every converted model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError, one_line
from modelport.core.formats import Format
from modelport.core.model import Model
from modelport.core.onnx_files import save_onnx
from modelport.core.registry import Step, StepOptions
from modelport.fuse.members import Members


@dataclass
class FuseRequest:
    """What the user asked for, beyond the member files (plain data)."""

    strategy: str
    weights: list[float] | None = None
    outputs: dict[int, str] = field(default_factory=dict)  # --member-output IDX=NAME
    softmax: tuple[int, ...] = ()
    renames: dict[str, str] = field(default_factory=dict)
    meta: str | None = None
    fit_meta: str | None = None
    maps: dict[str, str] = field(default_factory=dict)
    data: str | None = None
    trust: bool = False


@dataclass
class Context:
    """What a strategy may use besides the members: a scratch folder, and `convert(model_or_path, name, opset)`
    -> ONNX path (the pipeline's convert job, for a meta-model that is not ONNX yet)."""

    workdir: Path
    convert: Callable[[Any, str, int | None], Path]
    domains: dict[str, int]  # the fused graph's opsets (a strategy may raise them)


@dataclass
class Combination:
    model: Any  # the fused ModelProto
    reference: Callable[[dict, Members], dict]
    details: dict[str, Any] = field(default_factory=dict)  # for the report
    facts: dict[str, Any] = field(default_factory=dict)  # for provenance


class Strategy(Step, kind="fuse", source=(Format.ONNX,), target=Format.ONNX, requires=("onnx",)):
    """A fuse strategy; `method` is its --strategy name. `parallel`: members share inputs and outputs are
    combined (every strategy but chain)."""

    parallel: ClassVar[bool] = True

    def check(self, request: FuseRequest, count: int) -> None:
        """Usage errors that need no member loaded (exit 2 before any work)."""

    def combine(self, members: Members, request: FuseRequest, ctx: Context) -> Combination:
        raise NotImplementedError

    def run(self, source: Ensemble, out: Path, options: StepOptions) -> dict:
        import onnx

        save_onnx(source.combination.model, out)
        return {"converter": f"onnx {onnx.__version__} (modelport fuse)", "provenance": source.combination.facts}


class Ensemble(Model):
    """The members and their combination, run one by one: the reference the fused graph must match."""

    format = Format.ONNX

    def __init__(self, members: Members, combination: Combination) -> None:
        self.members, self.combination = members, combination
        self.path = "the ensemble of " + ", ".join(Path(m.source).name for m in members)
        self.framework_version = members_runtime()
        # the fused graph takes member 0's inputs (see graph.fused_inputs)
        self.inputs = [TensorSpec(i["name"], tuple(d if d else ("batch" if j == 0 else None)
                                                   for j, d in enumerate(i["shape"])), i["dtype"])
                       for i in members[0].inputs]
        self.outputs = [o.name for o in combination.model.graph.output]

    def run(self, feed):
        try:
            return self.combination.reference(feed, self.members)
        except UsageError:
            raise
        except Exception as exc:
            shapes = ", ".join(f"{k}:{list(v.shape)}" for k, v in feed.items())
            raise UsageError(f"the members cannot run together on inputs {shapes} ({one_line(exc)})",
                             hint="members must accept the same input shapes (batch sizes included); a --meta "
                                  "model must take as many features as the members output") from exc


def members_runtime() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__} (members one by one)"
