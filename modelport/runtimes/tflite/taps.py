"""TFLite taps for `--locate`: the interpreter's intermediate tensors."""

from __future__ import annotations

import numpy as np

from modelport.core.model import Tap, cast_feed


def tflite_taps(lm) -> list[Tap]:
    """Each operator's outputs, labelled with their tensor names: the converter writes the TensorFlow scopes
    (`model/layer/op`) of the values it fused into a tensor, so Keras layers pair by name as with tf2onnx."""
    details = {d["index"]: d for d in lm.interpreter.get_tensor_details()}
    outputs = {d["index"]: f"output:{k}" for k, d in enumerate(lm.interpreter.get_output_details())}
    taps = []
    for op in lm.interpreter._get_ops_details():
        for index in op["outputs"]:
            if index >= 0 and index in details:
                taps.append(Tap(str(index), details[index]["name"], op["op_name"], outputs.get(index, "")))
    return taps


def tflite_tap_values(lm, feed: dict, keys: list[str]) -> dict:
    """The values of one run of an interpreter built for this call, told to keep every tensor (TFLite reuses
    tensor memory otherwise: this is the one way to read an intermediate value). Peak memory is one run's
    activations, freed when the call ends. Quantized values are returned in real units."""
    from modelport.core.logs import native_silenced
    from modelport.runtimes.tflite.interpreter import dequantize, interpreter_class, invoke

    cls, _ = interpreter_class()
    with native_silenced():
        interp = cls(model_path=str(lm.path), experimental_preserve_all_tensors=True)
        invoke(interp, cast_feed(feed, lm.inputs))
    info = {str(d["index"]): d for d in interp.get_tensor_details()}
    values = {key: np.array(dequantize(interp.get_tensor(info[key]["index"]), info[key])) for key in keys
              if key in info}
    return values
