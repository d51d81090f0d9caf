"""Open Inference Protocol tensors, independent of the engine that carries them (KServe, Ray Serve).

What a served model declares (`TensorMeta`: name, datatype, shape with -1 for a dynamic axis) and how a request's
tensors are checked against it before they reach the runtime: every mistake a caller can make (a missing, extra or
misnamed input, a wrong datatype, rank or size, data that does not fill its shape) is a `BadRequest` whose message
names what the model expects. Nothing here imports a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# numpy dtype name (as loaders name them) -> Open Inference Protocol datatype
DATATYPES = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "float16": "FP16", "float32": "FP32", "float64": "FP64", "str": "BYTES", "object": "BYTES",
}
NUMPY = {v: k for k, v in DATATYPES.items() if k != "object"}


class BadRequest(ValueError):
    """A caller's mistake: the engine answers 400 (REST) or INVALID_ARGUMENT (gRPC) with this message."""


@dataclass(frozen=True)
class TensorMeta:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1: any size
    symbols: tuple = ()  # per axis, the graph's name for a dynamic size ('batch'): inputs sharing one agree

    def text(self) -> str:
        return f"{self.name} ({self.datatype} [{', '.join(str(d) for d in self.shape)}])"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def datatype(dtype: str) -> str:
    """The protocol's name for a numpy dtype name ('float32' -> 'FP32')."""
    try:
        return DATATYPES[dtype]
    except KeyError:
        raise ValueError(f"no Open Inference Protocol datatype for {dtype}") from None


def meta(name: str, dtype: str, shape) -> TensorMeta:
    """A TensorMeta from a loader's spec: symbolic or unknown dims become -1."""
    dims = () if shape is None else tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)
    symbols = () if shape is None else tuple(d if isinstance(d, str) and d else None for d in shape)
    return TensorMeta(name, datatype(dtype), dims, symbols)


def expected(specs: list[TensorMeta]) -> str:
    return "the model expects " + ", ".join(s.text() for s in specs)


def check_header(given: list[tuple[str, str, list]], specs: list[TensorMeta]) -> None:
    """Names, datatypes and shapes of a request's inputs (name, datatype, shape) against the model's inputs."""
    names = [g[0] for g in given]
    wanted = {s.name: s for s in specs}
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadRequest(f"input '{dupes[0]}' is given twice; {expected(specs)}")
    unknown = [n for n in names if n not in wanted]
    if unknown:
        raise BadRequest(f"unknown input '{unknown[0]}'; {expected(specs)}")
    missing = [s.name for s in specs if s.name not in names]
    if missing:
        raise BadRequest(f"missing input '{missing[0]}'; {expected(specs)}")
    for name, dtype, shape in given:
        spec = wanted[name]
        if dtype != spec.datatype:
            raise BadRequest(f"input '{name}' is {dtype}; the model expects {spec.text()}")
        try:
            dims = [int(d) for d in shape]
        except (TypeError, ValueError):
            raise BadRequest(f"input '{name}' has shape {shape!r}; the model expects {spec.text()}") from None
        if len(dims) != len(spec.shape) or any(d < 0 for d in dims) or \
                any(w >= 0 and d != w for d, w in zip(dims, spec.shape)):
            raise BadRequest(f"input '{name}' has shape {dims}; the model expects {spec.text()}")
    sizes: dict[str, tuple[str, int]] = {}
    # inputs whose first axis is dynamic and unnamed (scikit-learn's [None, 1] columns) share it: rows
    unnamed = all(s.shape and s.shape[0] == -1 and not (s.symbols and s.symbols[0]) for s in specs)
    for name, _, shape in given:
        symbols = (("rows",) + tuple(wanted[name].symbols[1:])) if unnamed and len(specs) > 1 else wanted[name].symbols
        for symbol, size in zip(symbols, shape):
            if symbol is None:
                continue
            first = sizes.setdefault(symbol, (name, int(size)))
            if first[1] != int(size):
                raise BadRequest(f"inputs '{first[0]}' and '{name}' disagree on the size of axis '{symbol}' "
                                 f"({first[1]} and {int(size)}); the model takes one size for it")


def check_array(name: str, array: np.ndarray, spec: TensorMeta) -> np.ndarray:
    """A decoded input ready for the runtime: BYTES as Python strings (what ONNX Runtime takes for strings)."""
    import numpy as np

    if spec.datatype == "BYTES":
        try:
            return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)],
                            dtype=object).reshape(array.shape)
        except UnicodeDecodeError:
            raise BadRequest(f"input '{name}': BYTES elements must be UTF-8 text") from None
    return array


def data_error(name: str, datatype: str, shape, exc: BaseException) -> BadRequest:
    """The message for data that cannot be read as the request declared it: too few or too many values for its
    shape, or values that are not of its datatype."""
    import math
    import re

    text = str(exc)
    found = re.search(r"array of size (\d+)|buffer size must be a multiple|size (\d+) into shape", text)
    if found or "reshape" in text:
        want = math.prod(int(d) for d in shape)
        number = re.search(r"size (\d+)", text)
        have = f"{number.group(1)} values" if number else "data that does not fill it"
        return BadRequest(f"input '{name}' declares shape {list(shape)} ({want} values) but carries {have}")
    return BadRequest(f"input '{name}': its data are not {datatype} values ({text.strip().splitlines()[0][:120]})")


def oversize(length: str, limit: int) -> str | None:
    """The 413 message for a Content-Length over the limit (None when it fits or is not given)."""
    if length.isdigit() and int(length) > limit:
        return f"request body is {int(length)} bytes; this server takes at most {limit} (--max-request-mb)"
    return None


def output_names(requested: list[str] | None, specs: list[TensorMeta]) -> list[str]:
    """The outputs to return: those the request names (each must exist), else all of them."""
    names = [s.name for s in specs]
    if not requested:
        return names
    for name in requested:
        if name not in names:
            raise BadRequest(f"unknown output '{name}'; the model's outputs are {', '.join(names)}")
    return list(requested)
