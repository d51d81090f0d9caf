"""PyTorch -> ONNX: the dynamo exporter first, then the TorchScript exporter as a fallback.

RECIPES: the dynamo exporter handles keyword inputs and most models; it fails on some transformers
(T5 encoder, Swin) inside its decomposition step, which the TorchScript exporter converts.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.formats import Format
from modelport.core.logs import native_silenced, quiet
from modelport.core.registry import Step, StepOptions

TORCH_SOURCES = (Format.TORCH_EXPORT, Format.TORCHSCRIPT, Format.TORCH_PY, Format.TORCH_PICKLE, Format.TRANSFORMERS)
_LOGGERS = ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript")


def dynamic_shapes(model, names, kwarg_names, only_batch: bool = False, default_max: int | None = None):
    """torch.export dynamic_shapes for the model's symbolic dims (only_batch: axis 0 alone; default_max: the bound
    of a dim the model gives none)."""
    from torch.export import Dim

    dims: dict[str, object] = {}
    bounds = getattr(model, "dim_bounds", {})  # largest sizes the model allows (a text model's positions)
    per_input = []
    for spec in model.inputs:
        axes = {}
        for i, d in enumerate(spec.shape):
            if not isinstance(d, int) and not (only_batch and i):
                key = str(d) if d else f"{spec.name}_dim{i}"
                dims.setdefault(key, Dim(key.replace(".", "_").replace(" ", "_"),
                                         max=bounds.get(key) or default_max))
                axes[i] = dims[key]
        per_input.append(axes or None)
    start = getattr(model, "varargs_from", None)
    if start is not None:  # forward(a, b, *rest): the trailing inputs' shapes go in one nested tuple
        per_input = per_input[:start] + [tuple(per_input[start:])]
    if kwarg_names:
        return dict(zip(names, per_input))
    return tuple(per_input)


def export_program(source, default_max: int | None = None):
    """torch.export of a module source with its dynamic axes: all of them, else the batch axis alone, else none
    (an image model's height and width may not stay symbolic)."""
    import torch

    args, kwargs = source.example_inputs()
    names = [s.name for s in source.inputs]
    tries = [None]
    if any(s.dynamic_dims for s in source.inputs):
        tries = [dynamic_shapes(source, names, source.kwarg_names, default_max=default_max),
                 dynamic_shapes(source, names, source.kwarg_names, only_batch=True, default_max=default_max), None]
    for i, dynamic in enumerate(tries):
        try:
            return torch.export.export(source.module, tuple(args), kwargs=kwargs or None, dynamic_shapes=dynamic)
        except Exception:
            if i == len(tries) - 1:
                raise
    raise AssertionError("unreachable")


def specialised_axes(source, out: Path) -> list[str]:
    """Axes the source declares dynamic that came out fixed in the file: torch.onnx.export lets torch.export
    specialise a dimension the model's code branches on (RT-DETR's batch came out fixed at 2) without a word."""
    import onnx

    graph = onnx.load(str(out), load_external_data=False).graph
    shapes = {i.name: [d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim]
              for i in graph.input}
    fixed = []
    for spec in source.inputs:
        dims = shapes.get(spec.name)
        if dims is None or len(dims) != len(spec.shape):
            continue
        fixed += [f"{spec.name} axis '{d}' at {v}" for d, v in zip(spec.shape, dims) if not isinstance(d, int) and v]
    if not fixed:
        return []
    return [f"fixed in the file though the source declares them dynamic: {', '.join(fixed[:4])} (torch.export "
            "specialised them: the model's code depends on their value); pass --input with the sizes you need"]


def save_program(program, out: Path) -> None:
    """Write an ONNXProgram with its weights in `OUT.data`, as `torch.onnx.export(f=...)` does: serialising
    them into the file costs about five copies of the weights at once (ResNet-50: +470 MiB); the runner
    brings them back into the file, streamed, once the result is verified (core/onnx_files.internalize)."""
    program.save(str(out), external_data=True)
    forget_matches()


def forget_matches() -> None:
    """onnxscript's rewrite rules are module-level objects whose matchers keep their last match (`_graph`,
    `_current_node`, `_match`, onnxscript 0.7): the whole exported graph, and through its initializers the source's
    weights, stay alive after the export (ResNet-50: 98 MB). Cleared once the program is saved; best effort
    (a later onnxscript may hold them otherwise)."""
    import sys

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("onnxscript.rewriter"):
            continue
        for value in list(vars(module).values()):
            rules = getattr(value, "rules", None) if type(value).__name__ == "RewriteRuleSet" else [value]
            for rule in rules if isinstance(rules, (list, tuple)) else []:
                matcher = rule.__dict__.get("_matcher") if hasattr(rule, "__dict__") else None
                if matcher is None or not hasattr(matcher, "__dict__"):
                    continue
                for attr in ("_graph", "_current_node", "_tracer", "_match"):
                    if matcher.__dict__.get(attr) is not None:
                        matcher.__dict__[attr] = None


# an image's spatial axes (Hugging Face vision inputs): dynamic through torch.export, fixed through the tracer
IMAGE_AXES = ("height", "width")

# torch.export cannot trace a ScriptModule: TorchScript files go straight to the TorchScript exporter.
TRACEABLE = (Format.TORCH_EXPORT, Format.TORCH_PY, Format.TORCH_PICKLE, Format.TRANSFORMERS)


class DynamoExport(Step, name="torch-dynamo", source=TRACEABLE, target=Format.ONNX, extra="torch",
                   requires=("torch", "onnxscript"), order=10,
                   description="torch.onnx.export(dynamo=True): torch.export + onnxscript"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import torch

        kwargs = {"dynamo": True, "output_names": list(source.outputs), "optimize": True}
        if options.opset:
            kwargs["opset_version"] = options.opset
        with quiet(*_LOGGERS), torch.no_grad():
            if source.program is not None:
                program = torch.onnx.export(source.program, (), **kwargs)
            else:
                args, kw = source.example_inputs()
                names = [s.name for s in source.inputs]
                program = torch.onnx.export(
                    source.module, args, kwargs=kw or None, input_names=names,
                    dynamic_shapes=dynamic_shapes(source, names, source.kwarg_names), **kwargs,
                )
            save_program(program, out)
        return {"converter": f"torch {torch.__version__} (dynamo exporter)",
                "warnings": specialised_axes(source, out)}


class _Positional:
    """Calls a module with positional tensors, passing the trailing ones as keyword arguments."""

    def __init__(self, module, kwarg_names):
        self.module, self.kwarg_names = module, list(kwarg_names)

    def __call__(self, *arrays):
        n = len(arrays) - len(self.kwarg_names)
        return self.module(*arrays[:n], **dict(zip(self.kwarg_names, arrays[n:])))


class TorchScriptExport(Step, name="torch-torchscript", source=TORCH_SOURCES, target=Format.ONNX, extra="torch",
                        requires=("torch",), order=20,
                        description="torch.onnx.export(dynamo=False): the TorchScript tracer"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import torch

        args, kw = source.example_inputs()
        names = [s.name for s in source.inputs]
        flat_args = tuple(args) + tuple(kw[k] for k in source.kwarg_names)
        module = _wrap(torch, source.module, source.kwarg_names)
        with torch.no_grad():
            example_out = module(*flat_args)
        dynamic_axes, warnings = {}, []
        for spec, value in zip(source.inputs, flat_args):
            axes = {i: (str(d) if d else f"{spec.name}_dim{i}") for i, d in enumerate(spec.shape)
                    if not isinstance(d, int) and d not in IMAGE_AXES}
            if any(d in IMAGE_AXES for d in spec.shape):
                size = "x".join(str(n) for n, d in zip(value.shape, spec.shape) if d in IMAGE_AXES)
                warnings.append(f"{spec.name}: height and width fixed at {size}: the TorchScript exporter records "
                                "the model's shape arithmetic (window padding, patch counts) as constants, so a "
                                "file with them dynamic could be wrong at sizes the verification did not try")
            if axes:
                dynamic_axes[spec.name] = axes
        batch_dynamic = any(0 in a for a in dynamic_axes.values())
        if batch_dynamic:
            from modelport.frameworks.torch.outputs import tensors

            batch = len(flat_args[0]) if flat_args and flat_args[0].dim() else None
            for name, value in zip(source.outputs, tensors(example_out)):
                if getattr(value, "dim", lambda: 0)() and value.shape[0] == batch:
                    dynamic_axes[name] = {0: "batch"}
        with quiet(*_LOGGERS), torch.no_grad(), native_silenced(1):  # its C++ prints the graph on a failure
            torch.onnx.export(
                module, flat_args, str(out), dynamo=False, input_names=names,
                output_names=list(source.outputs), dynamic_axes=dynamic_axes or None,
                opset_version=options.opset or 17,
            )
        return {"converter": f"torch {torch.__version__} (TorchScript exporter)", "warnings": warnings}


def _wrap(torch, module, kwarg_names):
    """A plain nn.Module around `module` that does not register it as a child.

    RECIPES: `ep.module().train()` raises NotImplementedError, and the TorchScript exporter toggles
    training mode on what it exports; holding the module outside `_modules` avoids that. Parameters
    are frozen so tracing records constants, not gradients.
    """
    if isinstance(module, torch.jit.ScriptModule) and not kwarg_names:
        return module

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            object.__setattr__(self, "inner", _Positional(module, kwarg_names))

        def forward(self, *arrays):
            return self.inner(*arrays)

    for param in module.parameters():
        param.requires_grad_(False)
    return Wrapper().eval()
