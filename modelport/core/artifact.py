"""Framework-free description of a model's tensors (TensorSpec) and the --input syntax."""

from __future__ import annotations

from dataclasses import dataclass

from modelport.core.errors import UsageError

Dim = int | str | None  # an int is fixed; a str or None is symbolic (dynamic)

DTYPES = ("float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    @property
    def dynamic_dims(self) -> list[int]:
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int)]

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}:{dims}:{self.dtype}"


def parse_input_spec(text: str) -> TensorSpec:
    """Parse `NAME:D1,D2,...[:DTYPE]`; a dim may be `?` or a name for a dynamic dim."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise UsageError(
            f"--input '{text}' is not NAME:D1,D2,...[:DTYPE]", hint="example: --input pixel_values:1,3,64,64"
        )
    dims: list[Dim] = []
    for raw in parts[1].split(","):
        raw = raw.strip()
        if raw.isdigit():
            dims.append(int(raw))
        elif raw == "?" or raw.isidentifier():
            dims.append(None if raw == "?" else raw)
        else:
            raise UsageError(f"--input '{text}': bad dimension '{raw}'", hint="dims are integers, ? or a name")
    dtype = parts[2] if len(parts) == 3 else "float32"
    if dtype not in DTYPES:
        raise UsageError(f"--input '{text}': unknown dtype '{dtype}'", hint=f"dtypes: {', '.join(DTYPES)}")
    return TensorSpec(parts[0], tuple(dims), dtype)



def with_batch(specs: list[TensorSpec] | tuple[TensorSpec, ...], dynamic: bool) -> list[TensorSpec]:
    """User specs give concrete sizes; with a dynamic batch, dim 0 becomes symbolic (and fixed at 1 without)."""
    out = []
    for spec in specs:
        if spec.shape and dynamic and isinstance(spec.shape[0], int):
            spec = TensorSpec(spec.name, ("batch",) + tuple(spec.shape[1:]), spec.dtype)
        elif spec.shape and not dynamic and not isinstance(spec.shape[0], int):
            spec = TensorSpec(spec.name, (1,) + tuple(spec.shape[1:]), spec.dtype)
        out.append(spec)
    return out


def as_specs(inputs) -> list[TensorSpec]:
    """TensorSpecs from the API's `inputs`: specs, or `--input` strings."""
    return [parse_input_spec(s) if isinstance(s, str) else s for s in inputs or ()]
