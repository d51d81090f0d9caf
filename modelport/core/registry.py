"""The step contract and the registry of steps, fed by the `modelport.steps.v1` entry points.

A *step* is one transform of a model file, run by the job pipeline (`modelport.pipeline`). Its `kind` says
what it is to the user:

- `convert`: a *route* from one format to another (PyTorch -> ONNX, Keras -> TFLite, ...);
- `optimize`: a *pass* that keeps the format and the numbers (ONNX graph simplification);
- `quantize`: a *method* that makes the model smaller within a looser tolerance (int8, fp16), keeping the
  format or converting on the way (Keras -> int8 TFLite);
- `fuse`: a *strategy* that merges several models into one graph (built in-process by `modelport fuse`).

Built-in steps are registered exactly like third-party plugins. Tests build `Registry([...])` directly,
so there is no global mutable state. A plugin that fails to import is listed as broken, never fatal.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format

if TYPE_CHECKING:
    from modelport.core.model import Model

ENTRY_POINT_GROUP = "modelport.steps.v1"
KINDS = ("convert", "optimize", "quantize", "fuse")
NOUN = {"convert": "route", "optimize": "pass", "quantize": "method", "fuse": "strategy"}


# int8 is not held to fp32 tolerances: |a-b| <= atol + 0.1|b| on all but 2% of the elements, atol being 0.1 or
# 2% of the output's range if more (overridable). Measured on a digits CNN with raw logits spanning 437:
# faithful static int8 0.05% of elements beyond 2% of the range (7.3% beyond a fixed 0.1), every label kept;
# one layer's weight scale x4: 82-94% beyond it.
INT8_TOLERANCE = (0.1, 0.1, 0.02, 0.02)


@dataclass
class StepOptions:
    """Options for one step. Each step reads the fields that apply to it and ignores the rest.

    Plain data (paths as strings), so a job that carries it can be serialised and run in another process.
    """

    opset: int | None = None  # convert: ONNX opset (default: the route's own)
    dynamic_batch: bool = True  # convert: keep dim 0 symbolic
    imports: tuple[str, ...] = ()  # user code (--import) a child process must import too
    calibration: str | None = None  # quantize: .npz of representative inputs (static int8, TFLite int8)
    calibrate: str = "minmax"  # quantize: static int8 calibration (minmax, entropy, percentile)
    seed: int = 0  # quantize: seed of generated calibration inputs when no file is given
    keep_float: tuple[str, ...] = ()  # quantize: node names left in float (compress --keep-float)
    allow_growth: bool = False  # optimize: keep constant folding that grows the file
    level: str | None = None  # optimize: ONNX Runtime offline level (basic, extended, all)
    int4_block: int = 32  # quantize int4-weights: weights per block (32, 64, 128)
    int4_symmetric: bool = False  # ... symmetric blocks (no zero points)
    int4_algorithm: str = "rtn"  # ... rtn (round to nearest) or hqq
    int4_embeddings: bool = False  # ... quantise the embedding tables (Gather) too
    int4_head: bool = False  # ... quantise the LM head (the MatMul producing logits) too

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["imports"] = list(self.imports)
        data["keep_float"] = list(self.keep_float)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepOptions:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["imports"] = tuple(values.get("imports", ()))
        values["keep_float"] = tuple(values.get("keep_float", ()))
        return cls(**values)


class Step:
    """One transform from a source format to a target format.

    The contract:
    - Class attributes, given as class keywords (`class MyRoute(Step, name="my-route", source=(Format.KERAS,),
      target=Format.ONNX, extra="tensorflow", requires=("tf2onnx",), order=30): ...`): `name` (unique),
      `kind` (see KINDS), `source` formats, `target` format, the pip `extra` and the modules it `requires`
      (checked without importing them), `order` in its chain (lower is tried first), `description`, and for
      quantize steps the user-facing `method` name (`--method`).
    - `run(source, out, options)` receives the loaded source model (a `modelport.core.model.Model` of one of
      its `source` formats: `TorchModel`, `KerasModel`, `SavedModel`, `SklearnModel`, `OnnxModel`), the path
      to write (a temp path beside the final output, renamed into place by the pipeline only after the
      result verifies) and its `StepOptions`. It returns facts for provenance and the report:
      `converter` (what did the work), `warnings` (lines for the user) and anything step-specific.
    - It refuses by raising: a `ModelportError` (its message and hint are shown), `MissingDependency` (the
      step is skipped with the install line), or any exception (recorded as the step's error). A step that
      knows in advance it cannot handle a model says why in `skip_reason` (skipped in a chain, run when forced).
    - Framework imports happen inside `run`, never at module level: `modelport --help` imports every step
      module through the registry.
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "convert"
    source: ClassVar[tuple[Format, ...]]
    target: ClassVar[Format]
    extra: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 100
    description: ClassVar[str] = ""
    method: ClassVar[str | None] = None
    # quantize steps are held to looser default tolerances: (atol, rtol, max share of elements off[, share of
    # each output's range its atol is at least: int8 error grows with the range a tensor is quantized over])
    tolerance: ClassVar[tuple[float, ...] | None] = None

    def __init_subclass__(cls, **attributes: Any) -> None:
        super().__init_subclass__()
        for key, value in attributes.items():
            if not hasattr(Step, key) and key not in ("name", "source", "target"):
                raise TypeError(f"{cls.__name__}: unknown step attribute '{key}'")
            setattr(cls, key, value)

    @property
    def label(self) -> str:
        """What the user calls this step: the method name for quantize steps, else the step name."""
        return self.method or self.name

    def missing(self) -> str | None:
        """Name of the first required module that is not installed, or None. Imports nothing."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return module
        return None

    def skip_reason(self, source: Model) -> str | None:
        """Why this step is known not to work for this model (skipped in a chain, run when forced)."""
        return None

    def run(self, source: Model, out: Path, options: StepOptions) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class Broken:
    name: str
    reason: str


class Registry:
    def __init__(self, steps: list[Step], broken: list[Broken] | None = None) -> None:
        seen: dict[str, Step] = {}
        for step in steps:
            if step.name in seen:
                raise ValueError(f"duplicate step name '{step.name}'")
            if step.kind not in KINDS:
                raise ValueError(f"step '{step.name}' has unknown kind '{step.kind}' (kinds: {', '.join(KINDS)})")
            seen[step.name] = step
        self.steps = sorted(steps, key=lambda s: (KINDS.index(s.kind), s.target.value, s.order, s.name))
        self.broken = list(broken or [])

    def chain(self, source: Format, target: Format, kind: str = "convert") -> list[Step]:
        """Every step of a kind for the pair, in the order they are tried."""
        return [s for s in self.steps if s.kind == kind and source in s.source and s.target == target]

    def get(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        names = ", ".join(s.name for s in self.steps if s.kind == "convert")
        raise UnsupportedError(f"no route named '{name}'", hint=f"routes: {names} (see `modelport routes`)")

    def find(self, source: Format, target: Format, route: str | None = None) -> list[Step]:
        """The conversion chain for a pair, or the one route the user forced."""
        if route:
            step = self.get(route)
            if source not in step.source or step.target != target:
                raise UnsupportedError(
                    f"route '{route}' converts {'/'.join(map(str, step.source))} -> {step.target}, "
                    f"not {source} -> {target}",
                    hint="see `modelport routes`",
                )
            return [step]
        steps = self.chain(source, target)
        if not steps:
            pairs = sorted({f"{s} -> {st.target}" for st in self.steps if st.kind == "convert" for s in st.source})
            raise UnsupportedError(
                f"no route converts {source} to {target}",
                hint="available: " + "; ".join(pairs),
            )
        return steps

    def methods(self, source: Format, target: Format) -> dict[str, Step]:
        """Quantize steps for a pair by their `--method` name, in order."""
        return {s.label: s for s in self.chain(source, target, "quantize")}


@functools.lru_cache(maxsize=1)
def load_registry() -> Registry:
    """Build the registry from installed entry points (cheap: step modules import no framework).

    Cached per process: scanning every installed distribution's entry points costs ~8 ms.
    Tests that fake entry points call `load_registry.cache_clear()`.
    """
    from importlib.metadata import entry_points

    steps: list[Step] = []
    broken: list[Broken] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
            step = cls()
            if step.name != ep.name:
                raise ValueError(f"entry point '{ep.name}' loads step named '{step.name}'")
            steps.append(step)
        except Exception as exc:  # a broken plugin must never break the CLI
            broken.append(Broken(ep.name, f"{type(exc).__name__}: {exc}"))
    return Registry(steps, broken)
