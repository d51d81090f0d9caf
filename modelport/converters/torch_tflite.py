"""PyTorch -> TFLite through litert-torch (no TensorFlow needed), as the optional extra `modelport[litert]`.

RECIPES: litert-torch 0.10 installs next to torch 2.13.0 (+~1 GB: jax, litert-converter, transformers).
"""

from __future__ import annotations

from pathlib import Path

from modelport.converters.common import quiet
from modelport.converters.torch_onnx import _dynamic_shapes
from modelport.core.formats import Format
from modelport.core.registry import Step, StepOptions


class LitertTorch(Step):
    name = "torch-litert"
    source = (Format.TORCH_EXPORT, Format.TORCH_PY, Format.TORCH_PICKLE)
    target = Format.TFLITE
    extra = "litert"
    requires = ("torch", "litert_torch")
    order = 10
    description = "litert_torch.convert (torch.export + LiteRT converter); no TensorFlow needed"

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import torch

        with quiet("torchao", "litert_torch", "jax"):  # its import logs optional-kernel warnings
            import litert_torch

        args, kwargs = source.example_inputs()
        names = [s.name for s in source.inputs]
        dynamic = None
        if source.program is None and any(s.dynamic_dims for s in source.inputs):
            dynamic = _dynamic_shapes(source, names, source.kwarg_names)
        with quiet("litert_torch", "torch.export", "absl", "jax"), torch.no_grad():
            edge = litert_torch.convert(source.module, args, kwargs or None, dynamic_shapes=dynamic)
            edge.export(str(out))
        return {"converter": f"litert-torch {litert_torch.__version__}"}
