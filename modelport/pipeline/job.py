"""A job as data: what to read, which steps to try in which order, how to verify, measure and write.

Every command that writes a model (`convert`, `optimize`, `compress`, `fuse`) builds a `Job` and hands it to
`modelport.pipeline.run`. A job holds only plain values (strings, numbers, lists), so `to_dict()` /
`from_dict()` round-trip it through JSON: `modelport batch` can run the same job in another process or on a
Ray worker unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelport.core.artifact import TensorSpec, parse_input_spec
from modelport.core.registry import StepOptions

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3


@dataclass
class VerifyOptions:
    """How candidates are checked against the source. A tolerance left None takes the step's own default
    (quantize steps are looser), else DEFAULT_ATOL / DEFAULT_RTOL and no mismatching elements."""

    samples: int | None = None  # rows of generated input; None: 16, fewer for large rows (verify/inputs.py)
    seed: int = 0
    int_range: tuple[int, int] = (0, 10)
    data: str | None = None
    atol: float | None = None
    rtol: float | None = None
    max_mismatch: float | None = None
    per_output: dict[str, tuple[float, float]] = field(default_factory=dict)
    enabled: bool = True
    noise_floor: bool = True  # an output within 8x its float32 noise floor passes (see verify/compare.py)
    detail: bool = False  # also describe what was compared, for a report page (verify/detail.py)

    def plan(self):
        from modelport.verify.check import InputPlan

        return InputPlan(self.samples, self.seed, self.int_range, Path(self.data) if self.data else None,
                         self.noise_floor, self.detail)

    def tolerance(self, step_default: tuple[float, ...] | None = None):
        """The step's default (atol, rtol, share of elements off[, share of each output's range as atol]) with
        the user's values over it; an --atol given by the user is a fixed atol (no range share)."""
        from modelport.verify.compare import Tolerance

        atol, rtol, mismatch, *share = step_default or (DEFAULT_ATOL, DEFAULT_RTOL, 0.0)
        return Tolerance(atol if self.atol is None else self.atol, rtol if self.rtol is None else self.rtol,
                         dict(self.per_output), mismatch if self.max_mismatch is None else self.max_mismatch,
                         share[0] if share and self.atol is None else 0.0,
                         own_scale=self.atol is None and not share)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerifyOptions:
        values = dict(data)
        values["int_range"] = tuple(values.get("int_range", (0, 10)))
        values["per_output"] = {k: tuple(v) for k, v in values.get("per_output", {}).items()}
        return cls(**values)


@dataclass
class Stage:
    """One transform of the model: candidate steps tried in order.

    pick="first": the first candidate that verifies wins and later ones never run (a route chain).
    pick="fastest": every candidate runs and is verified; the passing ones are timed against each other and
    `modelport.pipeline.measure.decide` chooses (compress --method auto). `forced`: the user named the step,
    so its skip_reason is ignored.
    """

    kind: str
    steps: list[str]
    pick: str = "first"
    forced: bool = False
    options: StepOptions = field(default_factory=StepOptions)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps": list(self.steps), "pick": self.pick, "forced": self.forced,
                "options": self.options.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage:
        return cls(data["kind"], list(data["steps"]), data.get("pick", "first"), data.get("forced", False),
                   StepOptions.from_dict(data.get("options", {})))


@dataclass
class Measure:
    """Before/after figures: size, latency (interleaved runs, median and spread), nodes, accuracy on labelled
    --data. `baseline`: a convert step that builds the "before" model in the target format when the source is
    another format (fp32 TFLite before an int8 TFLite), so both sides run in the same runtime."""

    runs: int = 50
    baseline: str | None = None
    threads: int | None = 1


@dataclass
class Job:
    command: str
    source: str
    output: str
    stages: list[Stage]
    source_format: str | None = None
    inputs: list[str] = field(default_factory=list)  # --input specs, as the user wrote them
    static: bool = False
    trust: bool = False
    imports: list[str] = field(default_factory=list)
    force: bool = False
    external_data: bool = False  # ONNX output: weights in OUT.data even when a single file could hold them
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    measure: Measure | None = None
    locate: bool = False  # when the kept result does not verify, find the first layer whose error jumps
    task: str | None = None  # what a Hugging Face folder is loaded for (default: from its config)
    record: dict[str, str] = field(default_factory=dict)  # extra provenance facts (batch: the task's digest)

    def input_specs(self) -> list[TensorSpec]:
        return [parse_input_spec(text) for text in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = [s.to_dict() for s in self.stages]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        values = dict(data)
        values["stages"] = [Stage.from_dict(s) for s in data["stages"]]
        values["verify"] = VerifyOptions.from_dict(data.get("verify", {}))
        values["measure"] = Measure(**data["measure"]) if data.get("measure") else None
        return cls(**values)
