"""Give freed memory back to the operating system between the heavy stages of a run.

glibc keeps what a process frees in its heap for later allocations: after an export, or after a reference
run of the source model (a batch of activations: ResNet-50 at 16 rows, 245 MiB), that memory stays in the
process's resident set while the next stage (an ONNX Runtime session) allocates its own. `malloc_trim` hands
it back (a few milliseconds). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_trim = None


def give_back(collect: bool = False) -> None:
    """`collect`: run a garbage collection first (what a released model held is often a reference cycle)."""
    global _trim
    if collect:
        import gc

        gc.collect()
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
            except (OSError, AttributeError):
                pass
    if _trim:
        _trim(0)
