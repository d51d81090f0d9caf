"""Keras 3 and SavedModel -> TFLite through tf.lite.TFLiteConverter (builtin ops only), plain or quantized.

RECIPES: `from_keras_model` works with TF 2.21; a Keras LSTM needs `LSTM(unroll=True)` (TensorListReserve
is not a builtin op, and SELECT_TF_OPS output runs in no interpreter here). We never write a file that
needs TF Select ops: such a conversion fails with the layer named and the unroll hint.
Quantized (MobileNetV2 96x96): fp32 14.0 MB; dynamic range 3.8 MB; float16 7.05 MB; int8 4.0 MB, and int8
needs a representative dataset.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format
from modelport.core.logs import native_silenced, quiet
from modelport.core.registry import INT8_TOLERANCE, StepOptions
from modelport.routes.tflite_limit import ToTflite

_LOGGERS = ("tensorflow", "absl")
_SELECT_OPS = ("TensorList", "Select TF ops", "flex", "Flex", "tf.TensorListReserve", "SELECT_TF_OPS")
TF_SOURCES = (Format.KERAS, Format.TF_SAVEDMODEL)


def _converter(source, via_saved_model: bool = False):
    """A TFLiteConverter for a loaded Keras model or SavedModel (a Keras model through model.export())."""
    from modelport.core.tf import tensorflow

    tf = tensorflow()
    if source.format is Format.TF_SAVEDMODEL:
        return tf.lite.TFLiteConverter.from_saved_model(str(source.path), signature_keys=["serving_default"])
    if not via_saved_model:
        return tf.lite.TFLiteConverter.from_keras_model(source.model)
    from modelport.routes.keras_onnx import export_saved_model

    folder = tempfile.mkdtemp(prefix="modelport-")  # removed by _write once the converter has run
    export_saved_model(source, folder)
    converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["serving_default"])
    converter._modelport_tmp = folder
    return converter


def _write(converter, source, out: Path, int8: bool = False) -> dict:
    import shutil

    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if int8
                                           else tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        with quiet(*_LOGGERS), native_silenced():
            out.write_bytes(converter.convert())
    except Exception as exc:
        if any(marker in str(exc) for marker in _SELECT_OPS):
            rnn = _recurrent_layers(source)
            where = f" (layer {', '.join(rnn)})" if rnn else ""
            raise UnsupportedError(
                f"the model needs TF Select ops that no TFLite interpreter here runs{where}",
                hint="build recurrent layers with unroll=True (e.g. keras.layers.LSTM(64, unroll=True)) "
                     "and a fixed sequence length, or convert to ONNX instead",
            ) from exc
        raise
    finally:
        if getattr(converter, "_modelport_tmp", None):
            shutil.rmtree(converter._modelport_tmp, ignore_errors=True)
    return {"converter": f"tensorflow {tf.__version__} (TFLiteConverter)"}


def _recurrent_layers(source) -> list[str]:
    model = getattr(source, "model", None)
    found = []
    for layer in getattr(model, "layers", []) or []:
        inner = getattr(layer, "forward_layer", None) or layer  # Bidirectional wraps the RNN
        if type(inner).__name__ in ("LSTM", "GRU", "SimpleRNN", "RNN") and not getattr(inner, "unroll", False):
            found.append(f"{layer.name} ({type(inner).__name__})")
    return found


class KerasTflite(ToTflite, name="keras-tflite", source=(Format.KERAS,), target=Format.TFLITE, extra="tensorflow",
                  requires=("tensorflow",), order=10,
                  description="tf.lite.TFLiteConverter.from_keras_model, builtin ops only"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        return _write(_converter(source), source, out)


class KerasTfliteViaSavedModel(ToTflite, name="keras-tflite-savedmodel", source=(Format.KERAS,), target=Format.TFLITE,
                               extra="tensorflow", requires=("tensorflow",), order=20,
                               description="model.export() to a SavedModel, then TFLiteConverter.from_saved_model"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        return _write(_converter(source, via_saved_model=True), source, out)


class SavedModelTflite(ToTflite, name="savedmodel-tflite", source=(Format.TF_SAVEDMODEL,), target=Format.TFLITE,
                       extra="tensorflow", requires=("tensorflow",), order=10,
                       description="TFLiteConverter.from_saved_model on the serving_default signature"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        return _write(_converter(source), source, out)


class _Quantized(ToTflite, kind="quantize", source=TF_SOURCES, target=Format.TFLITE, extra="tensorflow",
                 requires=("tensorflow",), tolerance=INT8_TOLERANCE):
    """TFLiteConverter with Optimize.DEFAULT; subclasses set the method's own converter settings."""

    def configure(self, converter, source, options: StepOptions) -> None:
        pass

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import tensorflow as tf

        converter = _converter(source)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        self.configure(converter, source, options)
        return _write(converter, source, out, int8=self.method == "int8") | {"method": self.method}


class TfliteDynamicRange(_Quantized, name="tflite-dynamic-range", method="dynamic-range", order=10,
                         description="TFLiteConverter dynamic-range quantization (int8 weights, float compute)"):
    shrink = 4


class TfliteFp16(_Quantized, name="tflite-fp16", method="fp16", order=20, tolerance=(1e-2, 1e-2, 0.0),
                 description="TFLiteConverter float16 weights"):
    shrink = 2

    def configure(self, converter, source, options: StepOptions) -> None:
        import tensorflow as tf

        converter.target_spec.supported_types = [tf.float16]


class TfliteInt8(_Quantized, name="tflite-int8", method="int8", order=30,
                 description="TFLiteConverter full int8 with a representative dataset (--calibration)"):
    shrink = 4

    def configure(self, converter, source, options: StepOptions) -> None:
        from modelport.verify.inputs import generate, load_typed

        feeds = load_typed(options.calibration, source.inputs) if options.calibration else \
            generate(source.inputs, samples=64, seed=options.seed + 1)
        names = [s.name for s in source.inputs]

        def dataset():
            for feed in feeds:
                rows = len(next(iter(feed.values())))
                for i in range(rows):  # one sample at a time, as the calibrator expects
                    yield [feed[n][i:i + 1] for n in names]

        converter.representative_dataset = dataset
