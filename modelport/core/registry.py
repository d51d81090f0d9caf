"""The step protocol and the registry of routes, fed by the `modelport.steps.v1` entry points.

Built-in routes are registered exactly like third-party plugins. Tests build `Registry([...])` directly,
so there is no global mutable state. A plugin that fails to import is listed as broken, never fatal.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format

if TYPE_CHECKING:
    from modelport.loaders.base import Source

ENTRY_POINT_GROUP = "modelport.steps.v1"


@dataclass
class StepOptions:
    """Options every converter understands. Routes read what applies to them and ignore the rest."""

    opset: int | None = None
    dynamic_batch: bool = True
    imports: tuple[str, ...] = ()  # user code (--import) a child process must import too


class Step:
    """One route from a source format to a target format (convert, compress and optimize share it).

    Subclasses set the class attributes and implement `run`, which writes `out` (a temp path chosen by
    the caller, renamed into place only after verification) and raises on failure.
    """

    name: ClassVar[str]
    source: ClassVar[tuple[Format, ...]]
    target: ClassVar[Format]
    extra: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 100
    description: ClassVar[str] = ""

    def missing(self) -> str | None:
        """Name of the first required module that is not installed, or None. Imports nothing."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return module
        return None

    def skip_reason(self, source: Source) -> str | None:
        """Why this route is known not to work for this model (skipped in a chain, run when forced)."""
        return None

    def run(self, source: Source, out: Path, options: StepOptions) -> dict[str, Any]:
        """Convert; return converter facts for provenance (e.g. {"converter": "tf2onnx 1.17.0"})."""
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
            seen[step.name] = step
        self.steps = sorted(steps, key=lambda s: (s.target.value, s.order, s.name))
        self.broken = list(broken or [])

    def chain(self, source: Format, target: Format) -> list[Step]:
        """Every route for the pair, in the order they are tried."""
        return [s for s in self.steps if source in s.source and s.target == target]

    def get(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        names = ", ".join(s.name for s in self.steps)
        raise UnsupportedError(f"no route named '{name}'", hint=f"routes: {names} (see `modelport routes`)")

    def find(self, source: Format, target: Format, route: str | None = None) -> list[Step]:
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
            pairs = sorted({f"{s} -> {st.target}" for st in self.steps for s in st.source})
            raise UnsupportedError(
                f"no route converts {source} to {target}",
                hint="available: " + "; ".join(pairs),
            )
        return steps


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
