"""The size a TFLite file can hold: one flatbuffer, addressed by 32-bit offsets (2 GB).

A model whose weights cannot fit is skipped by every TFLite route with this reason, before the converter
spends minutes to fail with an allocation error; `shrink` is what the route's method divides the weights by
(int8: 4, float16: 2).
"""

from __future__ import annotations

from modelport.core.registry import Step

FLATBUFFER_LIMIT = 2 << 30


def too_big(source, shrink: int = 1) -> str | None:
    size = getattr(source, "weight_bytes", lambda: None)()
    if size is None or size / shrink < FLATBUFFER_LIMIT:
        return None
    after = f", {size / shrink / 2**30:.1f} GB after this method" if shrink > 1 else ""
    return (f"a TFLite file is one flatbuffer of at most 2 GB, and this model has {size / 2**30:.1f} GB of "
            f"weights{after}: convert to ONNX (-o NAME.onnx keeps the weights in NAME.onnx.data)")


class ToTflite(Step):
    """A TFLite route (base class): skipped for a model whose weights a flatbuffer cannot hold."""

    shrink = 1  # what the route's method divides the weights by

    def skip_reason(self, source) -> str | None:
        return too_big(source, self.shrink)
