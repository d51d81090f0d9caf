"""Keras 3 and SavedModel -> TFLite through tf.lite.TFLiteConverter (builtin ops only).

RECIPES: `from_keras_model` works with TF 2.21; a Keras LSTM needs `LSTM(unroll=True)` (TensorListReserve
is not a builtin op, and SELECT_TF_OPS output runs in no interpreter here). We never write a file that
needs TF Select ops: such a conversion fails with the layer named and the unroll hint.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from modelport.converters.common import quiet
from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format
from modelport.core.registry import Step, StepOptions

_LOGGERS = ("tensorflow", "absl")
_SELECT_OPS = ("TensorList", "Select TF ops", "flex", "Flex", "tf.TensorListReserve", "SELECT_TF_OPS")


def _convert(converter, source, int8: bool = False) -> bytes:
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if int8
                                           else tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        with quiet(*_LOGGERS):
            from modelport.loaders.base import native_stderr_silenced

            with native_stderr_silenced():
                return converter.convert()
    except Exception as exc:
        text = str(exc)
        if any(marker in text for marker in _SELECT_OPS):
            rnn = _recurrent_layers(source)
            where = f" (layer {', '.join(rnn)})" if rnn else ""
            raise UnsupportedError(
                f"the model needs TF Select ops that no TFLite interpreter here runs{where}",
                hint="build recurrent layers with unroll=True (e.g. keras.layers.LSTM(64, unroll=True)) "
                     "and a fixed sequence length, or convert to ONNX instead",
            ) from exc
        raise


def _recurrent_layers(source) -> list[str]:
    model = getattr(source, "model", None)
    found = []
    for layer in getattr(model, "layers", []) or []:
        inner = getattr(layer, "forward_layer", None) or layer  # Bidirectional wraps the RNN
        if type(inner).__name__ in ("LSTM", "GRU", "SimpleRNN", "RNN") and not getattr(inner, "unroll", False):
            found.append(f"{layer.name} ({type(inner).__name__})")
    return found


def _tf_version() -> str:
    import tensorflow as tf

    return f"tensorflow {tf.__version__} (TFLiteConverter)"


class KerasTflite(Step):
    name = "keras-tflite"
    source = (Format.KERAS,)
    target = Format.TFLITE
    extra = "tensorflow"
    requires = ("tensorflow",)
    order = 10
    description = "tf.lite.TFLiteConverter.from_keras_model, builtin ops only"

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.loaders.keras import tensorflow

        tf = tensorflow()
        out.write_bytes(_convert(tf.lite.TFLiteConverter.from_keras_model(source.model), source))
        return {"converter": _tf_version()}


class KerasTfliteViaSavedModel(Step):
    name = "keras-tflite-savedmodel"
    source = (Format.KERAS,)
    target = Format.TFLITE
    extra = "tensorflow"
    requires = ("tensorflow",)
    order = 20
    description = "model.export() to a SavedModel, then TFLiteConverter.from_saved_model"

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.converters.keras_onnx import export_saved_model
        from modelport.loaders.keras import tensorflow

        tf = tensorflow()
        with tempfile.TemporaryDirectory(prefix="modelport-") as tmp:
            export_saved_model(source, tmp)
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serving_default"])
            out.write_bytes(_convert(converter, source))
        return {"converter": _tf_version()}


class SavedModelTflite(Step):
    name = "savedmodel-tflite"
    source = (Format.TF_SAVEDMODEL,)
    target = Format.TFLITE
    extra = "tensorflow"
    requires = ("tensorflow",)
    order = 10
    description = "TFLiteConverter.from_saved_model on the serving_default signature"

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.loaders.keras import tensorflow

        tf = tensorflow()
        converter = tf.lite.TFLiteConverter.from_saved_model(str(source.path), signature_keys=["serving_default"])
        out.write_bytes(_convert(converter, source))
        return {"converter": _tf_version()}
