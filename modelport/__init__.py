"""modelport: move trained models between frameworks and prove the move was right.

The Python API mirrors the CLI: `modelport.convert(...)` and `modelport.verify(...)` return a
`Report`. Importing this package imports no framework.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "convert", "verify"]


def __getattr__(name: str):
    if name in ("convert", "verify"):
        from modelport import api

        return getattr(api, name)
    raise AttributeError(name)
