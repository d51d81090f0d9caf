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


# Elements one input may declare from its fixed dims: 2**28 (1 GiB of float32 per example; a 512^3 medical
# volume is half that) is past any real model's input, and far inside what a damaged or edited file can claim (a
# dim of 2**40). Checked when a model is loaded, so verification never tries to allocate such an input (a
# MemoryError deep in numpy, or minutes of swapping). Shapes the user passes with --input are not checked.
MAX_INPUT_ELEMENTS = 2**28


def check_input_sizes(path, specs: list[TensorSpec]) -> None:
    """Refuse (exit 2) a model whose recorded input shapes no machine could feed: the file is damaged."""
    for spec in specs:
        elements = 1
        for dim in spec.shape:
            if isinstance(dim, int) and dim > 0:
                elements *= dim
        if elements > MAX_INPUT_ELEMENTS:
            shape = ", ".join(str(d) for d in spec.shape)
            raise UsageError(
                f"{path}: input '{spec.name}' declares shape ({shape}), {elements:,} elements: not a valid model "
                "file (corrupt or edited?)",
                hint="re-save the model",
            )
