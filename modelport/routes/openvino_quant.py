"""`compress` to OpenVINO IR (`-o small.xml`) from an IR or an ONNX file: `ov-fp16` (fp16 weights),
`ov-int8` (NNCF post-training quantization, calibrated on the inputs `compress` already builds) and
`ov-weights-int8` (NNCF weight compression: int8 weights, float activations; for transformer models).

The verdict runs each result at INFERENCE_PRECISION_HINT=f32, as for every IR: it judges the stored weights and
quantization, not a precision the CPU chose.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.formats import Format
from modelport.core.logs import native_silenced, quiet
from modelport.core.registry import INT8_TOLERANCE, Step, StepOptions

_LOGGERS = ("nncf", "openvino")


def _read(source):
    """A fresh ov.Model of the source (the loaded one is compiled and serves as the reference)."""
    from modelport.runtimes.openvino.runtime import openvino

    ov = openvino()
    with quiet(*_LOGGERS), native_silenced():
        model = ov.Core().read_model(str(source.path))
    return ov, model


def _save(ov, model, source, out: Path, fp16: bool = False) -> None:
    from modelport.routes.openvino_ir import save

    if fp16:
        with quiet(*_LOGGERS), native_silenced():
            ov.save_model(model, str(out), compress_to_fp16=True)
    else:
        save(ov, model, source, out)


def _nncf():
    with quiet(*_LOGGERS), native_silenced():
        import nncf
    return nncf


class _OvQuant(Step, kind="quantize", source=(Format.OPENVINO, Format.ONNX), target=Format.OPENVINO,
               extra="openvino", requires=("openvino",)):
    pass


class OvFp16(_OvQuant, name="openvino-fp16", method="ov-fp16", order=30, tolerance=(1e-2, 1e-2, 0.0),
             description="save_model(compress_to_fp16=True): fp16 weights, f32 compute"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        ov, model = _read(source)
        _save(ov, model, source, out, fp16=True)
        return {"converter": f"openvino {ov.__version__.split('-')[0]} (fp16 weights)", "method": self.method}


class OvInt8(_OvQuant, name="openvino-int8", method="ov-int8", order=10, requires=("openvino", "nncf"),
             tolerance=INT8_TOLERANCE,
             description="NNCF post-training quantization: int8 weights and activations (--calibration)"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import numpy as np

        from modelport.verify.inputs import calibration_inputs

        feeds, warnings = calibration_inputs(options, source.inputs, self.method)
        ov, model = _read(source)
        nncf = _nncf()
        items = [[np.ascontiguousarray(feed[s.name]) for s in source.inputs] for feed in feeds]
        preset = nncf.QuantizationPreset.MIXED if options.calibrate == "minmax" else nncf.QuantizationPreset.PERFORMANCE
        with quiet(*_LOGGERS), native_silenced(1, 2):
            quantized = nncf.quantize(model, nncf.Dataset(items), subset_size=sum(len(i[0]) for i in items),
                                      preset=preset, ignored_scope=nncf.IgnoredScope(names=list(options.keep_float))
                                      if options.keep_float else None)
        _save(ov, quantized, source, out)
        return {"converter": f"nncf {nncf.__version__} (quantize) on openvino {ov.__version__.split('-')[0]}",
                "method": self.method, "warnings": warnings}


class OvWeightsInt8(_OvQuant, name="openvino-weights-int8", method="ov-weights-int8", order=20,
                    requires=("openvino", "nncf"), tolerance=INT8_TOLERANCE,
                    description="NNCF weight compression: int8 weights (MatMul, embeddings), float activations"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        ov, model = _read(source)
        nncf = _nncf()
        before = sum(op.get_output_element_type(0).get_type_name() == "f32" for op in model.get_ordered_ops()
                     if op.get_type_name() == "Constant")
        with quiet(*_LOGGERS), native_silenced(1, 2):
            compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        after = sum(op.get_output_element_type(0).get_type_name() == "f32" for op in compressed.get_ordered_ops()
                    if op.get_type_name() == "Constant")
        _save(ov, compressed, source, out)
        facts = {"converter": f"nncf {nncf.__version__} (compress_weights INT8_ASYM)", "method": self.method}
        if after >= before:
            facts["warnings"] = ["ov-weights-int8 found no MatMul or embedding weights to compress (a conv net's "
                                 "are left as they are): try --method ov-int8"]
        return facts
