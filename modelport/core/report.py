"""Reports: one object per command, rendered as a rich table (cli/render.py) or versioned JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 2  # 2: verification.inputs_from is a dict per input (was one string)


@dataclass
class OutputResult:
    """Comparison of one output between the reference and the candidate model."""

    name: str
    candidate_name: str
    shape: list[int]
    candidate_shape: list[int]
    passed: bool
    atol: float
    rtol: float
    exact: bool = False
    max_abs_error: float = 0.0
    mean_abs_error: float = 0.0
    max_rel_error: float = 0.0
    mismatch_ratio: float = 0.0
    required_atol: float = 0.0
    nonfinite: str | None = None
    label_agreement: float | None = None  # top-1 for (N, C) scores; exact agreement for labels
    reason: str | None = None
    passed_by: str | None = None  # "tolerance" or "noise floor"
    noise_floor: float | None = None  # max |source - its float64 twin|: float32 rounding alone
    floor_ratio: float | None = None  # max_abs_error / noise_floor
    floor_multiple: float | None = None  # the ratio allowed
    cosine: float | None = None
    snr_db: float | None = None
    top5_agreement: float | None = None
    ties: int = 0  # values that differ only where the source decides by a tie (not counted as mismatches)
    tie_rule: str | None = None  # what those ties are
    atol_rule: str | None = None  # where atol came from when it is not the fixed one (int8: a share of the range)
    clear_label_agreement: float | None = None  # int8: top-1 agreement on rows with a clear margin


@dataclass
class Verification:
    passed: bool
    outputs: list[OutputResult]
    batch_sizes: list[int] = field(default_factory=list)
    samples: int = 0
    seed: int = 0
    inputs_from: dict[str, str] = field(default_factory=dict)  # per input: the .npz, or the generation rule
    matched_by: str = "name"
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the candidate could not run at all
    noise_floor: str = "not measured"  # how each output's floor was measured, or why it was not
    inputs_sha256: str | None = None  # every verification case's names, dtypes, shapes and bytes (attestation)
    detail: dict | None = None  # with --report: what the page draws (verify/detail.py)

    @property
    def failed_outputs(self) -> list[OutputResult]:
        return [o for o in self.outputs if not o.passed]

    def summary(self) -> str:
        if self.passed:
            return f"{len(self.outputs)} output(s) match"
        bad = self.failed_outputs
        worst = bad[0]
        detail = worst.reason or (
            f"max abs error {worst.max_abs_error:.3g} > atol {worst.atol:g} (+rtol {worst.rtol:g}), "
            f"{worst.mismatch_ratio:.1%} of elements off"
        )
        if worst.floor_ratio is not None and worst.reason is None:
            detail += f", {worst.floor_ratio:.3g}x its float32 noise floor ({worst.noise_floor:.2g})"
        return f"{len(bad)} of {len(self.outputs)} output(s) differ; '{worst.name}': {detail}"


@dataclass
class Attempt:
    route: str
    outcome: str  # ok | error | mismatch | skipped
    seconds: float
    reason: str | None = None
    hint: str | None = None


@dataclass
class Report:
    command: str
    ok: bool = False
    source: dict[str, Any] | None = None
    candidate: dict[str, Any] | None = None
    output: str | None = None
    route: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    verification: Verification | None = None
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # what each chosen step's run() returned (for the command that built the job; not part of the JSON)
    step_facts: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "command": self.command, "ok": self.ok}
        for key in ("source", "candidate", "output", "route"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.command == "convert" or self.attempts:
            data["attempts"] = [asdict(a) for a in self.attempts]
        if self.command != "inspect":
            data["verification"] = verification_dict(self.verification)
        data["warnings"] = list(self.warnings)
        if self.details:
            data.update(self.details)
        if self.error is not None:
            data["error"] = self.error
        return data


def verification_dict(v: Verification | None) -> dict[str, Any] | None:
    if v is None:
        return None
    out = asdict(v)
    out["outputs"] = [asdict(o) for o in v.outputs]
    if out["detail"] is None:
        del out["detail"]
    return out
