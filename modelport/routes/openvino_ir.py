"""-> OpenVINO IR (`model.xml` + `model.bin`): `openvino.convert_model` on a `torch.export` program, or on an ONNX
file; saved with f32 weights (`save_model` compresses them to fp16 unless told not to).

RECIPES: OpenVINO 2026.4 converts a torch.export program with a dynamic batch and an ONNX file; its CPU plugin
with the precision pinned to f32 matched PyTorch to 2e-7.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.formats import Format
from modelport.core.logs import native_silenced, quiet
from modelport.core.registry import Step, StepOptions

_LOGGERS = ("torch.export", "torch._dynamo", "torch.fx", "openvino")


def save(ov, model, source, out: Path) -> None:
    """Name the IR's inputs and outputs as the source names them (what verification pairs by; by position, unless
    the converter kept the source's names already), give its inputs the source's fixed axes (the PyTorch frontend
    leaves a program's every axis dynamic), then write it with f32 weights."""
    for ports, names in ((model.inputs, [s.name for s in source.inputs]), (model.outputs, list(source.outputs))):
        if {p.get_any_name() for p in ports if p.get_names()} != set(names) and len(ports) == len(names):
            for port, name in zip(ports, names):
                port.get_tensor().set_names({name})
    fixed = {}
    for i, (port, spec) in enumerate(zip(model.inputs, source.inputs)):  # the frontend may leave every axis dynamic
        shape = port.get_partial_shape()
        if shape.rank.is_static and len(shape) == len(spec.shape) and any(isinstance(d, int) for d in spec.shape):
            fixed[i] = ov.PartialShape([d if isinstance(d, int) else -1 for d in spec.shape])
    if fixed and len(model.inputs) == len(source.inputs):
        model.reshape(fixed)
    ov.save_model(model, str(out), compress_to_fp16=False)


class OnnxToOpenVino(Step, name="onnx-openvino", source=(Format.ONNX,), target=Format.OPENVINO, extra="openvino",
                     requires=("openvino",), order=10,
                     description="openvino.convert_model on the ONNX file, f32 weights"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.runtimes.openvino.runtime import openvino

        ov = openvino()
        with quiet(*_LOGGERS), native_silenced():
            model = ov.convert_model(str(source.path))
            save(ov, model, source, out)
        return {"converter": f"openvino {ov.__version__.split('-')[0]} (convert_model, ONNX frontend)"}


TRACEABLE = (Format.TORCH_EXPORT, Format.TORCH_PY, Format.TORCH_PICKLE, Format.TRANSFORMERS)


class TorchToOpenVino(Step, name="torch-openvino", source=TRACEABLE, target=Format.OPENVINO, extra="openvino",
                      requires=("openvino", "torch"), order=10,
                      description="openvino.convert_model on the torch.export program, f32 weights"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import torch

        from modelport.routes.torch_onnx import export_program
        from modelport.runtimes.openvino.runtime import openvino

        ov = openvino()
        with quiet(*_LOGGERS), native_silenced(), torch.no_grad():
            program = source.program if source.program is not None else export_program(source)
            model = ov.convert_model(program)
            save(ov, model, source, out)
        return {"converter": f"openvino {ov.__version__.split('-')[0]} (convert_model on torch.export)"}


class KerasToOpenVino(Step, name="keras-openvino", source=(Format.KERAS, Format.TF_SAVEDMODEL), target=Format.OPENVINO,
                      extra="openvino", requires=("openvino", "tensorflow"), order=10,
                      description="openvino.convert_model on the model's SavedModel export, f32 weights"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.core.tf import tensorflow
        from modelport.runtimes.openvino.runtime import openvino

        tensorflow()
        ov = openvino()
        folder = source.path
        with quiet(*_LOGGERS, "tensorflow", "absl"), native_silenced():
            if source.format is Format.KERAS:  # OpenVINO cannot trace a Keras 3 model itself: its SavedModel
                folder = out.parent / "savedmodel"
                source.model.export(str(folder), verbose=False)
            model = ov.convert_model(str(folder))
            save(ov, model, source, out)
        return {"converter": f"openvino {ov.__version__.split('-')[0]} (convert_model, TensorFlow frontend)"}
