"""ONNX compression with onnxruntime.quantization: dynamic int8, static int8 (QDQ) and fp16, one step each.

RECIPES (measured on this CPU): dynamic int8 makes conv nets 5-10x slower but suits MatMul/LSTM/attention;
static QDQ needs quant_pre_process first (1.9x slower without) and is fastest with activations QUInt8,
weights QInt8, per-tensor; fp16 halves the size but runs 1.2-1.4x slower on CPU. `compress --method auto`
tries the int8 steps in the order `preference` gives and lets the pipeline measure them.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from modelport.core.formats import Format
from modelport.core.logs import quiet, quiet_onnxruntime
from modelport.core.onnx_graph import repair_ir3
from modelport.core.registry import INT8_TOLERANCE, Step, StepOptions

CALIBRATION = ("minmax", "entropy", "percentile")
CONV_OPS = {"Conv", "ConvTranspose"}
MATMUL_OPS = {"MatMul", "Gemm", "LSTM", "GRU", "RNN", "Attention", "MultiHeadAttention", "Einsum"}


def op_mix(model) -> dict[str, int]:
    ops = Counter(n.op_type for n in model.graph.node)
    return {"conv": sum(ops[o] for o in CONV_OPS), "matmul": sum(ops[o] for o in MATMUL_OPS)}


def int8_targets(model) -> int:
    """Nodes onnxruntime's int8 quantizers exist for (Conv, MatMul-like, Gather): none means nothing to gain,
    as in scikit-learn graphs whose work is in ai.onnx.ml operators (LinearClassifier, TreeEnsemble...)."""
    mix = op_mix(model)
    return mix["conv"] + mix["matmul"] + sum(1 for n in model.graph.node if n.op_type == "Gather" and not n.domain)


def preference(model) -> tuple[list[str], str]:
    """The int8 methods in the order the operator mix favours, and why. Ties in timing go to the first."""
    mix = op_mix(model)
    if mix["conv"] >= mix["matmul"] and mix["conv"]:
        return ["static-int8", "dynamic-int8"], f"convolution-heavy ({mix['conv']} Conv vs {mix['matmul']} MatMul-like)"
    return ["dynamic-int8", "static-int8"], f"MatMul-heavy ({mix['matmul']} MatMul-like vs {mix['conv']} Conv)"


def _pre_process(src: Path, tmp: str) -> str:
    """quant_pre_process first: exporters often compute LSTM/MatMul weights from constants (Concat,
    Transpose); folding them into initializers is what lets the quantizer see, and shrink, them."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from modelport.core.onnx_files import save_onnx

    quiet_onnxruntime()
    repaired: list[str] = []
    repair_ir3(onnx.load(str(src), load_external_data=False), repaired)  # a dry run: no weights read
    if repaired:  # old model-zoo files list weights as inputs: the quantizer's new ones are not
        proto = onnx.load(str(src))
        repair_ir3(proto, [])
        src = Path(tmp) / "repaired.onnx"
        save_onnx(proto, src)
        del proto
    pre = str(Path(tmp) / "pre.onnx")
    quant_pre_process(str(src), pre, skip_symbolic_shape=False, save_as_external_data=_external(src),
                      all_tensors_to_one_file=True, external_data_location="pre.onnx.data")
    return pre


def _external(path: Path) -> bool:
    from modelport.core.onnx_files import needs_external

    return needs_external(path)


def _graph(path: Path):
    import onnx

    return onnx.load(str(path), load_external_data=False)


def _version() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__} (quantization)"


class _OnnxQuant(Step, kind="quantize", source=(Format.ONNX,), target=Format.ONNX, extra=None,
                 requires=("onnxruntime",), tolerance=INT8_TOLERANCE):
    """The onnxruntime.quantization steps on an ONNX model."""


class DynamicInt8(_OnnxQuant, name="onnx-dynamic-int8", method="dynamic-int8", order=10,
                  description="onnxruntime quantize_dynamic, int8 weights (MatMul/LSTM-heavy models)"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from modelport.passes import onnx_stream_int8 as stream
        from modelport.passes.onnx_weightless import weights_on_disk

        src = Path(source.path)
        if weights_on_disk(src) and stream.streamable(_graph(src)):
            facts = stream.quantize_file(src, out, set(options.keep_float))
            return {"converter": _version(), "method": self.method, **facts}
        with tempfile.TemporaryDirectory(prefix=".quant-", dir=out.parent) as tmp, quiet("onnxruntime", "root"):
            pre = _pre_process(Path(source.path), tmp)
            quantize_dynamic(pre, str(out), weight_type=QuantType.QInt8, nodes_to_exclude=list(options.keep_float),
                             use_external_data_format=_external(Path(pre)))
        return {"converter": _version(), "method": self.method}


class _Reader:
    """onnxruntime CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: list[dict]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # pragma: no cover - not used by the calibrators here
        pass


class StaticInt8(_OnnxQuant, name="onnx-static-int8", method="static-int8", order=20,
                 description="onnxruntime quantize_static, QDQ, U8 activations / S8 weights, per-tensor "
                             "(conv nets; --calibration)"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        from modelport.verify.inputs import calibration_inputs

        feeds, warnings = calibration_inputs(options, source.inputs, "static int8")
        calibrate = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                     "percentile": CalibrationMethod.Percentile}[options.calibrate]
        with tempfile.TemporaryDirectory(prefix=".quant-", dir=out.parent) as tmp, quiet("onnxruntime", "root"):
            pre = _pre_process(Path(source.path), tmp)
            quantize_static(pre, str(out), _Reader(feeds), use_external_data_format=_external(Path(pre)),
                            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, per_channel=False, calibrate_method=calibrate,
                            nodes_to_exclude=list(options.keep_float))
        return {"converter": _version(), "method": self.method, "warnings": warnings}


class Fp16(_OnnxQuant, name="onnx-fp16", method="fp16", order=30, tolerance=(1e-2, 1e-2, 0.0),
           description="float16 weights and compute, float32 inputs and outputs kept"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        from modelport.core.onnx_files import save_onnx
        from modelport.core.onnx_graph import sort_topologically

        with quiet("onnxruntime", "root"):
            model = convert_float_to_float16(onnx.load(str(source.path)), keep_io_types=True)
        sort_topologically(model.graph)
        save_onnx(model, out)
        return {"converter": _version(), "method": self.method}
