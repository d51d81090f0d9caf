"""modelport: move trained models between frameworks and prove the move was right.

The Python API mirrors the CLI: `modelport.convert(...)`, `verify`, `inspect` and `fuse` return a
`Report`. Importing this package imports no framework.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "convert", "fuse", "inspect", "verify"]


def __getattr__(name: str):
    if name in ("convert", "verify", "inspect"):
        from modelport import api

        return getattr(api, name)
    if name == "fuse":
        from modelport.fuse.run import fuse

        return fuse
    raise AttributeError(name)
