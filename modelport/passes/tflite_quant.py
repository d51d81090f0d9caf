"""TFLite compression from the source model (Keras or SavedModel) with tf.lite.TFLiteConverter.

RECIPES (MobileNetV2 96x96): fp32 14.0 MB; dynamic range 3.8 MB; float16 7.05 MB; int8 4.0 MB, and int8
needs a representative dataset.
"""

from __future__ import annotations

from pathlib import Path

METHODS = ("dynamic-range", "fp16", "int8")


def convert(source, method: str | None, out: Path, representative: list[dict] | None = None) -> None:
    """Write `source` (a loaded Keras model or SavedModel) as TFLite; method None is plain fp32."""
    from modelport.converters.keras_tflite import _convert
    from modelport.loaders.keras import tensorflow

    tf = tensorflow()
    if hasattr(source, "model"):
        converter = tf.lite.TFLiteConverter.from_keras_model(source.model)
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(source.path), signature_keys=["serving_default"])
    if method:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if method == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if method == "int8":
        feeds = list(representative or [])
        names = [s.name for s in source.inputs]

        def dataset():
            for feed in feeds:
                rows = len(next(iter(feed.values())))
                for i in range(rows):  # one sample at a time, as the calibrator expects
                    yield [feed[n][i:i + 1] for n in names]

        converter.representative_dataset = dataset
    out.write_bytes(_convert(converter, source, int8=method == "int8"))
