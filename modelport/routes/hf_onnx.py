"""Hugging Face folder -> ONNX with transformers' own export fixes, after the plain dynamo exporter.

transformers 5.2x ships an ONNX exporter (`transformers.exporters.exporter_onnx`) whose value is in its fixes:
torch ops patched while tracing, FX nodes rewritten before lowering, onnxscript translations for ops torchlib lacks
(`transformers.grouped_mm_fallback` of mixture-of-experts layers, `index_put`, `bincount`, ...) and IR fixes for ONNX
Runtime. This route applies those fixes to modelport's own module (HF input names, the KV cache as tensors), so the
file keeps modelport's interface. A transformers without the exporter makes this route fail (the next one runs).
A `.pt2` program that calls transformers' own operators (`torch.ops.transformers.*`: a mixture-of-experts layer
exported with torch.export) goes through it too, with the same op translations.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format
from modelport.core.logs import quiet
from modelport.core.registry import Step, StepOptions
from modelport.routes.torch_onnx import _LOGGERS, dynamic_shapes, save_program


def calls_transformers_ops(program) -> bool:
    """Does an exported program call transformers' own operators (torch.ops.transformers.*)?"""
    return any(n.op == "call_function" and str(n.target).startswith("transformers.") for n in program.graph.nodes)


class TransformersPatchedExport(Step, name="hf-dynamo-patched", source=(Format.TRANSFORMERS, Format.TORCH_EXPORT),
                                target=Format.ONNX,
                                extra="transformers", requires=("torch", "onnxscript", "transformers"), order=15,
                                description="torch.export + torch.onnx.export with transformers' own ONNX export "
                                            "fixes (patches, FX rewrites, op translations; transformers >= 5.2x); "
                                            ".pt2 programs calling transformers operators"):

    def skip_reason(self, source) -> str | None:
        if source.format is Format.TORCH_EXPORT and not calls_transformers_ops(source.program):
            return "the program calls no transformers operators"
        return None

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import torch

        with quiet(*_LOGGERS, "transformers", "torchao"):  # torchao logs its load failures on import
            import transformers

            try:
                from transformers.exporters import exporter_onnx as fixes
                from transformers.exporters.utils import apply_patches
            except ImportError as exc:
                raise UnsupportedError(f"transformers {transformers.__version__} has no ONNX exporter fixes "
                                       "(transformers.exporters)") from exc
        args, kwargs = source.example_inputs()
        names = [s.name for s in source.inputs]
        shapes = dynamic_shapes(source, names, source.kwarg_names)
        export = {"dynamo": True, "input_names": names, "output_names": list(source.outputs), "optimize": True,
                  "custom_translation_table": getattr(fixes, "_ONNX_TRANSLATION_TABLE", None)}
        if options.opset:
            export["opset_version"] = options.opset
        # apply_patches("onnx") also hooks torch.onnx's preparation step so that the FX node fixes run right after
        # decomposition; torch.onnx.export relaxes dynamic dims the way the plain route does
        with quiet(*_LOGGERS, "transformers"), torch.no_grad(), apply_patches("onnx"):
            if source.program is not None:  # already exported: its own shapes and names
                onnx_program = torch.onnx.export(source.program, (), **{k: v for k, v in export.items()
                                                                         if k != "input_names"})
            else:
                onnx_program = torch.onnx.export(source.module, tuple(args), kwargs=kwargs or None,
                                                 dynamic_shapes=shapes, **export)
        apply = getattr(fixes, "apply_onnx_ir_fixes", None)
        if apply is not None:
            apply(onnx_program)
        save_program(onnx_program, out)
        return {"converter": f"torch {torch.__version__} (dynamo exporter) with transformers "
                             f"{transformers.__version__} export fixes"}
