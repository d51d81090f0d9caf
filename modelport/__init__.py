"""modelport: move trained models between frameworks and prove the move was right.

The Python API mirrors the CLI: `modelport.convert(...)`, `verify`, `inspect`, `optimize`, `compress`,
`bench` and `fuse` return a `Report` (see `modelport.commands`). Importing this package imports no framework.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "bench", "compress", "convert", "fuse", "inspect", "optimize", "verify"]


def __getattr__(name: str):
    if name in __all__[1:]:
        import importlib

        return getattr(importlib.import_module(f"modelport.commands.{name}"), name)
    raise AttributeError(name)
