"""ONNX compression with onnxruntime.quantization: dynamic int8, static int8 (QDQ), fp16, and auto.

RECIPES (measured on this CPU): dynamic int8 makes conv nets 5-10x slower but suits MatMul/LSTM/attention;
static QDQ needs quant_pre_process first (1.9x slower without) and is fastest with activations QUInt8,
weights QInt8, per-tensor; fp16 halves the size but runs 1.2-1.4x slower on CPU. `auto` therefore picks the
order of candidates from the operator mix, measures each, and keeps the best one that passes.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

METHODS = ("dynamic-int8", "static-int8", "fp16", "auto")
CALIBRATION = ("minmax", "entropy", "percentile")
CONV_OPS = {"Conv", "ConvTranspose"}
MATMUL_OPS = {"MatMul", "Gemm", "LSTM", "GRU", "RNN", "Attention", "MultiHeadAttention", "Einsum"}
# int8 is not held to fp32 tolerances: |a-b| <= 0.1 + 0.1|b| on all but 2% of the elements (overridable)
DEFAULT_TOLERANCE = {"fp16": (1e-2, 1e-2, 0.0), "dynamic-int8": (0.1, 0.1, 0.02), "static-int8": (0.1, 0.1, 0.02)}


def op_mix(model) -> dict[str, int]:
    ops = Counter(n.op_type for n in model.graph.node)
    return {"conv": sum(ops[o] for o in CONV_OPS), "matmul": sum(ops[o] for o in MATMUL_OPS)}


def auto_order(model) -> tuple[list[str], str]:
    mix = op_mix(model)
    if mix["conv"] >= mix["matmul"] and mix["conv"]:
        return ["static-int8", "dynamic-int8"], f"convolution-heavy ({mix['conv']} Conv vs {mix['matmul']} MatMul-like)"
    return ["dynamic-int8", "static-int8"], f"MatMul-heavy ({mix['matmul']} MatMul-like vs {mix['conv']} Conv)"


def dynamic_int8(src: Path, out: Path) -> None:
    """quant_pre_process first: exporters often compute LSTM/MatMul weights from constants (Concat,
    Transpose); folding them into initializers is what lets the quantizer see, and shrink, them."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from modelport.converters.common import quiet

    with tempfile.TemporaryDirectory(prefix="modelport-quant-") as tmp, quiet("onnxruntime", "root"):
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
        quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8)


class _Reader:
    """onnxruntime CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: list[dict]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # pragma: no cover - not used by the calibrators here
        pass


def static_int8(src: Path, out: Path, feeds: list[dict], method: str = "minmax") -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from modelport.converters.common import quiet

    calibrate = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                 "percentile": CalibrationMethod.Percentile}[method]
    with tempfile.TemporaryDirectory(prefix="modelport-quant-") as tmp, quiet("onnxruntime", "root"):
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
        quantize_static(str(pre), str(out), _Reader(feeds), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=False,
                        calibrate_method=calibrate)


def fp16(src: Path, out: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from modelport.converters.common import quiet

    with quiet("onnxruntime", "root"):
        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(out))


def run_method(method: str, src: Path, out: Path, feeds: list[dict], calibrate: str) -> None:
    if method == "dynamic-int8":
        dynamic_int8(src, out)
    elif method == "static-int8":
        static_int8(src, out, feeds, calibrate)
    else:
        fp16(src, out)
