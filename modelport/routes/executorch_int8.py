"""`compress --method pte-int8`: a PyTorch source to an int8 ExecuTorch program through the XNNPACK quantizer
(torchao's PT2E flow: prepare, calibrate, convert), then lowered with the XNNPACK partitioner.

Measured on the trained digits CNN (tests.builders.digits_cnn_onnx's program): 95.2% test accuracy against
95.7% in float32, with 16 calibration batches of 32 training rows.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.formats import Format
from modelport.core.logs import native_silenced, quiet
from modelport.core.registry import INT8_TOLERANCE, Step, StepOptions
from modelport.routes.executorch_pte import LOGGERS, bounded_shapes, executorch_version, export, lower
from modelport.routes.torch_onnx import TRACEABLE


class PteInt8(Step, name="executorch-int8", kind="quantize", method="pte-int8", source=TRACEABLE,
              target=Format.EXECUTORCH, extra="executorch", requires=("executorch", "torch", "torchao"), order=10,
              tolerance=INT8_TOLERANCE,
              description="XNNPACK quantizer (PT2E static int8, per-channel weights), lowered to XNNPACK"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import numpy as np
        import torch

        from modelport.verify.inputs import calibration_inputs

        feeds, warnings = calibration_inputs(options, source.inputs, self.method, chunk=32)
        with quiet(*LOGGERS), native_silenced(), torch.no_grad():
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            program = export(source)
            graph = prepare_pt2e(program.module(), XNNPACKQuantizer().set_global(
                get_symmetric_quantization_config(is_per_channel=True)))
            for feed in feeds:
                arrays = [torch.from_numpy(np.ascontiguousarray(feed[s.name])) for s in source.inputs]
                args, kwargs = source.split_args(arrays)
                graph(*args, **kwargs)
            graph = convert_pt2e(graph)
            args, kwargs = program.example_inputs
            try:  # the float program's dynamic axes, if the quantized graph keeps them
                quantized = torch.export.export(graph, tuple(args), kwargs=kwargs or None,
                                                dynamic_shapes=bounded_shapes(program))
            except Exception:
                quantized = torch.export.export(graph, tuple(args), kwargs=kwargs or None)
        facts = lower(source, out, [XnnpackPartitioner()], program=quantized)
        facts["warnings"] += warnings
        return facts | {"converter": f"executorch {executorch_version()} (XNNPACK quantizer, PT2E int8)",
                        "method": self.method}

