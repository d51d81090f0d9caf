"""Helpers shared by converter steps."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings


@contextlib.contextmanager
def quiet(*loggers: str):
    """Silence converter chatter (warnings, logging, prints); errors still propagate. --debug shows it."""
    import os

    if os.environ.get("MODELPORT_DEBUG"):
        yield
        return
    saved = {}
    for name in (*loggers, None):  # None: the root logger, which some converters log to directly
        log = logging.getLogger(name)
        saved[name] = log.level
        log.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def rename_io(model, inputs: list[str] | None = None, outputs: list[str] | None = None) -> None:
    """Rename ONNX graph inputs/outputs by position, rewiring every node that uses them."""
    mapping = {}
    if inputs:
        for vi, new in zip(model.graph.input, inputs):
            if vi.name != new:
                mapping[vi.name] = new
    if outputs:
        for vi, new in zip(model.graph.output, outputs):
            if vi.name != new:
                mapping[vi.name] = new
    if not mapping:
        return
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if vi.name in mapping:
            vi.name = mapping[vi.name]
    for node in model.graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_line(exc: BaseException) -> str:
    """One line saying why a converter failed: the innermost cause, preferring a line naming an op."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 8:
        chain.append(chain[-1].__cause__)
    inner = chain[-1]
    lines = [_ANSI.sub("", ln).strip() for ln in str(inner).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    for candidate in lines:
        if any(k in candidate for k in ("Unsupported", "unsupported", "not supported", "Failed to", "No conversion")):
            line = candidate
            break
    name = type(inner).__name__ if inner is exc else f"{type(exc).__name__} <- {type(inner).__name__}"
    return f"{name}: {line[:240]}" if line else name
