"""TFLite (LiteRT) models, run with the ai-edge-litert interpreter (tf.lite.Interpreter as a fallback)."""

from __future__ import annotations

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError, one_line
from modelport.core.formats import Format
from modelport.core.logs import native_silenced
from modelport.core.model import Model, cast_feed
from modelport.core.specs import check_input_sizes
from modelport.runtimes.tflite.interpreter import dequantize, interpreter_class, invoke, quant_params, quantize
from modelport.runtimes.tflite.taps import tflite_tap_values, tflite_taps


def load(path, fmt: Format, *, threads: int | None = None) -> TfliteModel:
    return TfliteModel(path, threads=threads)


def _spec(name: str, detail: dict) -> TensorSpec:
    """Quantized inputs are presented as float32: the runner quantizes real values itself."""
    import numpy as np

    signature = list(detail.get("shape_signature", detail["shape"]))
    shape = tuple(int(d) if d >= 0 else ("batch" if i == 0 else None) for i, d in enumerate(signature))
    return TensorSpec(name, shape, "float32" if quant_params(detail) else np.dtype(detail["dtype"]).name)


class TfliteModel(Model):
    format = Format.TFLITE

    def __init__(self, path, threads: int | None = None) -> None:
        interpreter, self.framework_version = interpreter_class()
        self.path = path
        try:  # a damaged file can also fail past the constructor: reading signatures, allocating tensors
            with native_silenced():
                self.interpreter = interpreter(model_path=str(path), num_threads=threads)
                self._read_io()
        except Exception as exc:
            raise UsageError(f"{path}: cannot load TFLite model ({one_line(exc)})",
                             hint="is the file complete?") from exc
        check_input_sizes(path, self.inputs)

    def _read_io(self) -> None:
        signatures = self.interpreter.get_signature_list()
        self.signature = "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
        if self.signature is not None:
            self.runner = self.interpreter.get_signature_runner(self.signature)
            ins = self.runner.get_input_details()
            outs = self.runner.get_output_details()
            # Signature order is alphabetical; keep the model's own tensor order when it is known.
            self.inputs = [_spec(n, d) for n, d in sorted(ins.items(), key=lambda kv: kv[1]["index"])]
            self.outputs = [n for n, _ in sorted(outs.items(), key=lambda kv: kv[1]["index"])]
            self.in_details = ins
            self.out_details = outs
            self.output_shapes = {n: list(d["shape"]) for n, d in outs.items()}
        else:
            self.runner = None
            self.interpreter.allocate_tensors()
            ins = self.interpreter.get_input_details()
            self.inputs = [_spec(d["name"], d) for d in ins]
            self.outputs = [d["name"] for d in self.interpreter.get_output_details()]

    def taps(self):
        return tflite_taps(self)

    def tap_values(self, feed, keys):
        return tflite_tap_values(self, feed, keys)

    def run(self, feed):
        arrays = cast_feed(feed, self.inputs)
        if self.runner is not None:
            named = {s.name: quantize(a, self.in_details[s.name]) for s, a in zip(self.inputs, arrays)}
            if not getattr(self, "_warm", False):  # the first call prints the XNNPACK banner on fd 2
                with native_silenced():
                    out = self.runner(**named)
                self._warm = True
            else:
                out = self.runner(**named)
            return {n: dequantize(out[n], self.out_details[n]) for n in self.outputs}
        interp = self.interpreter
        invoke(interp, arrays)
        return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
