"""Keras 3 -> ONNX through tf2onnx: three ways in, tried in order by the chain.

RECIPES: `from_keras` fails on Sequential models; `from_function` works on both but can turn captured
variables into extra graph inputs (EfficientNet); exporting a SavedModel first is a third way. Each
result is checked (inputs, onnx.checker) and verified before it is accepted.

Chain order, measured on 12 models (benchmarks/keras_routes.py, 9 keras.applications architectures with
random weights, a Sequential MLP, a Sequential LSTM, a multi-input/multi-output model): every order converts
all 12 (keras-torch-dynamo is the only route for ConvNeXt), so the order minimises time to the first
verified result: from_keras (9/12 verified, fastest) 267 s for the suite, against 294 s with from_function
first and 501 s with the torch backend first.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path

from modelport.core.errors import UsageError
from modelport.core.formats import Format
from modelport.core.logs import quiet
from modelport.core.onnx_files import save_onnx
from modelport.core.onnx_graph import rename_io
from modelport.core.registry import Step, StepOptions

TF2ONNX_MAX_OPSET = 18
TF2ONNX_DEFAULT_OPSET = 17
_LOGGERS = ("tf2onnx", "tensorflow", "absl")


def tf2onnx_opset(options: StepOptions) -> int:
    if options.opset and options.opset > TF2ONNX_MAX_OPSET:
        raise UsageError(f"tf2onnx supports opsets up to {TF2ONNX_MAX_OPSET}, not {options.opset}",
                         hint=f"use --opset {TF2ONNX_MAX_OPSET} or lower")
    return options.opset or TF2ONNX_DEFAULT_OPSET


def signature(tf, specs):
    return [tf.TensorSpec([d if isinstance(d, int) else None for d in s.shape], tf.as_dtype(s.dtype), name=s.name)
            for s in specs]


@contextlib.contextmanager
def _tf2onnx():
    """tf2onnx, quietly, its name counter from the start: a model gets the same names (`unk__6`, `Identity__12`)
    whatever the process converted before it (batch's warm workers, an API loop)."""
    import tf2onnx.utils

    tf2onnx.utils.INTERNAL_NAME = 1
    with quiet(*_LOGGERS):
        yield


def _number_unknown_dims(graph) -> None:
    """tf2onnx's unknown dimensions (`unk__283`) numbered in order of appearance, from 1: their numbers come
    from a process-wide counter that a first conversion in a process advances further than later ones."""
    names: dict[str, str] = {}
    for value in [*graph.input, *graph.output, *graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if re.fullmatch(r"unk__\d+", dim.dim_param):
                dim.dim_param = names.setdefault(dim.dim_param, f"unk__{len(names) + 1}")


def finish(proto, out: Path, source, rename_outputs: bool = True) -> None:
    """Check the graph takes exactly the model's inputs, name I/O like the source, and save. The graph's note
    loses TensorFlow's process-wide function number (`__inference_call_2551`): the same model, the same bytes."""
    proto.graph.doc_string = re.sub(r"(__inference_\w+?)_\d+\b", r"\1", proto.graph.doc_string)
    _number_unknown_dims(proto.graph)

    inits = {i.name for i in proto.graph.initializer}
    got = [i.name for i in proto.graph.input if i.name not in inits]
    if len(got) != len(source.inputs):
        raise ValueError(f"graph has {len(got)} inputs ({', '.join(got[:6])}) but the model has "
                         f"{len(source.inputs)}: captured variables became inputs")
    if len(proto.graph.output) != len(source.outputs):
        raise ValueError(f"graph has {len(proto.graph.output)} outputs, the model {len(source.outputs)}")
    want = [s.name for s in source.inputs]
    rename_io(proto, want if sorted(got) != sorted(want) else None,
              list(source.outputs) if rename_outputs else None)
    save_onnx(proto, out)


def _version(tf2onnx) -> str:
    return f"tf2onnx {tf2onnx.__version__}"


class _Tf2Onnx(Step, source=(Format.KERAS,), target=Format.ONNX, extra="tensorflow",
               requires=("tensorflow", "tf2onnx")):
    """The tf2onnx routes of a Keras model."""


class Tf2OnnxFunction(_Tf2Onnx, name="keras-tf2onnx-function", order=20,
                      description="tf2onnx.convert.from_function on a tf.function calling the model"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.core.tf import tensorflow
        from modelport.frameworks.keras.outputs import flatten_outputs

        tf = tensorflow()
        import tf2onnx

        spec = signature(tf, source.inputs)
        model = source.model

        def call(*xs):
            return flatten_outputs(model(source.structure(list(xs)), training=False), source.output_names_hint)[1]

        fn = tf.function(call, input_signature=spec)
        with _tf2onnx():
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=tf2onnx_opset(options))
        finish(proto, out, source)
        return {"converter": _version(tf2onnx)}


class Tf2OnnxKeras(_Tf2Onnx, name="keras-tf2onnx-keras", order=10,
                   description="tf2onnx.convert.from_keras (functional models; skipped for Sequential)"):

    def skip_reason(self, source) -> str | None:
        if type(source.model).__name__ == "Sequential":
            return "from_keras fails on Keras 3 Sequential models (KeyError keras_tensor_N, tf2onnx issue)"
        return None

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.core.tf import tensorflow

        tf = tensorflow()
        import tf2onnx

        spec = signature(tf, source.inputs)
        with _tf2onnx():
            proto, _ = tf2onnx.convert.from_keras(source.model, input_signature=spec, opset=tf2onnx_opset(options))
        names = [o.name for o in proto.graph.output]
        finish(proto, out, source, rename_outputs=sorted(names) != sorted(source.outputs))
        return {"converter": _version(tf2onnx)}


def export_saved_model(source, folder: str) -> None:
    """Keras 3 `model.export` to a SavedModel whose serving signature takes the model's input specs."""
    import tensorflow as tf

    with quiet(*_LOGGERS):
        source.model.export(folder, format="tf_saved_model", verbose=False,
                            input_signature=[source.structure(signature(tf, source.inputs))])


def convert_saved_model(path: str | Path, opset: int):
    """tf2onnx on a SavedModel's serving_default signature; I/O named by the signature's keys."""
    from modelport.core.tf import tensorflow

    tensorflow()
    import tensorflow as tf
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common

    with _tf2onnx():
        graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
            str(path), None, None, tag=None, signatures=["serving_default"],
            return_initialized_tables=True, return_tensors_to_rename=True)
        with tf.device("/cpu:0"):
            proto, _ = _convert_common(
                graph_def, name=Path(path).name, opset=opset, input_names=inputs, output_names=outputs,
                initialized_tables=tables, tensors_to_rename=renames, continue_on_error=False)
    return proto


class Tf2OnnxViaSavedModel(_Tf2Onnx, name="keras-tf2onnx-savedmodel", order=30,
                           description="model.export() to a SavedModel, then tf2onnx on its serving signature"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import tf2onnx

        with tempfile.TemporaryDirectory(prefix="modelport-") as tmp:
            export_saved_model(source, tmp)
            proto = convert_saved_model(tmp, tf2onnx_opset(options))
        finish(proto, out, source)
        return {"converter": _version(tf2onnx)}
