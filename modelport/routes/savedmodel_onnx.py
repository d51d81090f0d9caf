"""TensorFlow SavedModel -> ONNX: tf2onnx on the serving_default signature."""

from __future__ import annotations

from pathlib import Path

from modelport.core.formats import Format
from modelport.core.registry import Step, StepOptions
from modelport.routes.keras_onnx import convert_saved_model, finish, tf2onnx_opset


class SavedModelTf2Onnx(Step, name="savedmodel-tf2onnx", source=(Format.TF_SAVEDMODEL,), target=Format.ONNX,
                        extra="tensorflow", requires=("tensorflow", "tf2onnx"), order=10,
                        description="tf2onnx on the SavedModel's serving_default signature"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import tf2onnx

        proto = convert_saved_model(source.path, tf2onnx_opset(options))
        names = [o.name for o in proto.graph.output]
        finish(proto, out, source, rename_outputs=sorted(names) != sorted(source.outputs))
        return {"converter": f"tf2onnx {tf2onnx.__version__}"}
