"""OpenVINO IR files (`model.xml` + `model.bin`), run by OpenVINO's CPU plugin with the precision pinned to f32.

Without the pin, a CPU with bf16 support runs bf16 and the verdict would judge a precision nobody asked for.
"""

from __future__ import annotations

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError, one_line
from modelport.core.formats import Format
from modelport.core.model import Model, cast_feed
from modelport.core.specs import check_input_sizes
from modelport.runtimes.openvino.runtime import compile_options, openvino

# OpenVINO element type name -> numpy dtype name (as the other runtimes name them)
DTYPES = {"f32": "float32", "f16": "float16", "f64": "float64", "i64": "int64", "i32": "int32", "i8": "int8",
          "u8": "uint8", "boolean": "bool", "string": "str"}


def load(path, fmt: Format, *, threads: int | None = None) -> OpenVinoModel:
    return OpenVinoModel(path, threads=threads)


def _spec(port) -> TensorSpec:
    shape = port.get_partial_shape()
    dims = tuple(d.get_length() if d.is_static else None for d in shape) if shape.rank.is_static else ()
    names = port.get_names()
    name = sorted(names)[0] if names else port.get_node().get_friendly_name()
    return TensorSpec(name, dims, DTYPES.get(port.get_element_type().get_type_name(), "float32"))


class OpenVinoModel(Model):
    format = Format.OPENVINO

    def __init__(self, path, threads: int | None = None) -> None:
        ov = openvino()
        from modelport.core.logs import native_silenced

        self.path = path
        self.framework_version = f"openvino {ov.__version__.split('-')[0]}"
        try:
            with native_silenced():
                core = ov.Core()
                self.ir = core.read_model(str(path))
                self.compiled = core.compile_model(self.ir, "CPU", compile_options(threads))
        except Exception as exc:
            raise UsageError(f"{path}: cannot load OpenVINO model ({one_line(exc)})",
                             hint="is model.bin beside model.xml, and complete?") from exc
        self.inputs = [_spec(p) for p in self.compiled.inputs]
        check_input_sizes(path, self.inputs)
        self.outputs = [_spec(p).name for p in self.compiled.outputs]
        self.request = self.compiled.create_infer_request()

    def taps(self):
        from modelport.runtimes.openvino.taps import openvino_taps

        return openvino_taps(self)

    def tap_values(self, feed, keys):
        from modelport.runtimes.openvino.taps import openvino_tap_values

        return openvino_tap_values(self, feed, keys)

    def run(self, feed):
        arrays = cast_feed(feed, self.inputs)
        result = self.request.infer({i: a for i, a in enumerate(arrays)}, share_inputs=False)
        return {name: result[port].copy() for name, port in zip(self.outputs, self.compiled.outputs)}

    def inspect(self) -> dict:
        """Outputs with shapes and types, operator counts and modelport's record (from the IR's rt_info)."""
        from collections import Counter

        from modelport.core.provenance import read_openvino

        outputs = [_spec(p) for p in self.compiled.outputs]
        try:
            record = read_openvino(self.path)
        except Exception:  # an IR OpenVINO reads whose rt_info is not ours to parse
            record = {}
        return {"outputs": [s.to_dict() for s in outputs],
                "operators": dict(Counter(op.get_type_name() for op in self.ir.get_ordered_ops()).most_common()),
                "provenance": record}

    def weight_bytes(self) -> int | None:
        from pathlib import Path

        weights = Path(str(self.path)).with_suffix(".bin")
        return weights.stat().st_size if weights.exists() else None
