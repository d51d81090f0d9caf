"""Helpers shared by the loaders (the Model protocol itself lives in `modelport.core.model`)."""

from __future__ import annotations

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError


def require_specs(model_kind: str, specs: list[TensorSpec]) -> list[TensorSpec]:
    if not specs:
        raise UsageError(
            f"{model_kind} does not record its input shapes",
            hint="pass --input NAME:D1,D2,...[:DTYPE], e.g. --input x:1,3,224,224",
        )
    return specs
