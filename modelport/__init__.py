"""modelport: move trained models between frameworks and prove the move was right.

The Python API mirrors the CLI: `modelport.convert(...)`, `verify`, `inspect`, `optimize`, `compress`,
`bench` and `fuse` return a `Report` (see `modelport.commands`). Importing this package imports no framework.
"""

from __future__ import annotations

import sys
import types

__version__ = "0.1.0"
__all__ = ["__version__", "bench", "compress", "convert", "fuse", "inspect", "optimize", "verify"]
_COMMANDS = frozenset(__all__[1:])


class _Package(types.ModuleType):
    """`modelport.verify` and `modelport.fuse` are commands, though packages share their names: importing the
    package `modelport.verify` (every conversion does) binds it here, and `modelport.verify(...)` then called a
    module. Command names always resolve to the command; the packages stay importable by their dotted names
    (`from modelport.verify.check import ...`)."""

    def __getattribute__(self, name: str):
        if name in _COMMANDS:
            import importlib

            return getattr(importlib.import_module(f"modelport.commands.{name}"), name)
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _Package
