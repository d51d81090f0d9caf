"""PyTorch -> TFLite through litert-torch (no TensorFlow needed), as the optional extra `modelport[litert]`:
plain fp32 (`torch-litert`) and int8 through its PT2E quantizer (`torch-litert-int8`, `compress --method int8`).

RECIPES: litert-torch 0.10 installs next to torch 2.13.0 (+~1 GB: jax, litert-converter, transformers).
litert-torch's PT2E dynamic mode gave garbage on a trained digits CNN (9.9% label agreement, measured), so only
static int8 is offered.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.formats import Format
from modelport.core.logs import quiet
from modelport.core.registry import INT8_TOLERANCE, StepOptions
from modelport.routes.tflite_limit import ToTflite
from modelport.routes.torch_onnx import TRACEABLE, dynamic_shapes

_LOGGERS = ("litert_torch", "torch.export", "torchao", "absl", "jax")


def _litert():
    with quiet("torchao", "litert_torch", "jax"):  # its import logs optional-kernel warnings
        import litert_torch
    return litert_torch


class LitertTorch(ToTflite, name="torch-litert", source=TRACEABLE, target=Format.TFLITE, extra="litert",
                  requires=("torch", "litert_torch"), order=10,
                  description="litert_torch.convert (torch.export + LiteRT converter); no TensorFlow needed"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import torch

        litert_torch = _litert()
        args, kwargs = source.example_inputs()
        names = [s.name for s in source.inputs]
        tries = [None]
        if source.program is None and any(s.dynamic_dims for s in source.inputs):
            tries = [dynamic_shapes(source, names, source.kwarg_names),
                     dynamic_shapes(source, names, source.kwarg_names, only_batch=True), None]
        facts = {"converter": f"litert-torch {litert_torch.__version__}"}
        for i, dynamic in enumerate(tries):
            if i and dynamic is None and source.inputs and not isinstance(source.inputs[0].shape[0], int):
                args = tuple(a[:1] for a in args)  # fixed shapes: batch 1, what a TFLite runtime feeds
                kwargs = {k: v[:1] for k, v in (kwargs or {}).items()}
            try:
                with quiet(*_LOGGERS), torch.no_grad():
                    edge = litert_torch.convert(source.module, args, kwargs or None, dynamic_shapes=dynamic)
                    edge.export(str(out))
                break
            except Exception:
                if i == len(tries) - 1:
                    raise
        if i:  # litert-torch could not keep every dynamic axis (e.g. an arange over the sequence length)
            tensors = list(args) + list((kwargs or {}).values())
            shapes = ", ".join(f"{n} {list(a.shape)}" for n, a in zip(names, tensors))
            kept = "the batch axis only" if i == 1 else "no dynamic axis"
            facts["warnings"] = [f"litert-torch kept {kept}: the TFLite file takes {shapes}"
                                 + (" with any batch" if i == 1 else "") + " (--input NAME:D1,D2 sets other sizes)"]
        return facts


class LitertTorchInt8(ToTflite, name="torch-litert-int8", kind="quantize", method="int8", source=TRACEABLE,
                      target=Format.TFLITE, extra="litert", requires=("torch", "litert_torch"), order=10,
                      tolerance=INT8_TOLERANCE, description="litert-torch PT2E static int8 (needs --calibration)"):
    """The program is traced at its example shapes, so calibration batches are cut to that batch size."""

    shrink = 4

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import numpy as np
        import torch

        from modelport.verify.inputs import load_typed

        litert_torch = _litert()
        with quiet("torchao", "litert_torch", "jax"):
            from litert_torch.quantize import pt2e_quantizer
            from litert_torch.quantize.quant_config import QuantConfig
            from torchao.quantization.pt2e import quantize_pt2e

        args, kwargs = source.example_inputs()
        feeds = load_typed(options.calibration, source.inputs) if options.calibration else \
            [{s.name: a.numpy() for s, a in zip(source.inputs, args)}]
        with quiet(*_LOGGERS), torch.no_grad():
            graph = source.program.module() if source.program is not None else \
                torch.export.export(source.module, args, kwargs or None).module()
            quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
                pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=False))
            graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
            batch = args[0].shape[0] if args and args[0].dim() else None
            for feed in feeds:
                arrays = [np.asarray(feed[s.name]) for s in source.inputs]
                step = batch or len(arrays[0])
                for i in range(0, len(arrays[0]) - step + 1, step):
                    call_args, call_kwargs = source.split_args([torch.from_numpy(a[i:i + step]) for a in arrays])
                    graph(*call_args, **call_kwargs)
            graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
            edge = litert_torch.convert(graph, args, kwargs or None,
                                        quant_config=QuantConfig(pt2e_quantizer=quantizer))
            edge.export(str(out))
        return {"converter": f"litert-torch {litert_torch.__version__} (PT2E int8)", "method": "int8"}
