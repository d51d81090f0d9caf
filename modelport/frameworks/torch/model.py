"""PyTorch models: torch.export programs (.pt2), TorchScript, factories (file.py:callable) and pickles."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
from pathlib import Path

from modelport.core.artifact import TensorSpec
from modelport.core.errors import MissingDependency, ModelportError, UnsafeError, UsageError, one_line, require
from modelport.core.formats import Format
from modelport.core.logs import debugging, quiet
from modelport.core.model import Model, cast_feed
from modelport.core.pickles import guarded_module
from modelport.core.specs import check_input_sizes, require_specs
from modelport.frameworks.torch.outputs import flatten, not_outputs, output_names, tensors
from modelport.frameworks.torch.rules import torch_rules
from modelport.frameworks.torch.taps import torch_tap_values, torch_taps
from modelport.frameworks.torch.twin import torch_twin

EXAMPLE_BATCH = 2  # torch.export specialises sizes 0 and 1, so dynamic dims are traced at 2
EXAMPLE_DIM = 8


def _torch():
    return require("torch", "torch", "read PyTorch models")


def load(path, fmt: Format, *, trust: bool, input_specs: list[TensorSpec], purpose: str = "run") -> TorchModel:
    # inspect reads a module without shapes (no example forward pass); running needs them
    specs_for = require_specs if purpose == "run" else (lambda _, specs: specs)
    torch = _torch()
    if fmt is Format.TORCH_EXPORT:
        try:
            program = _load_program(torch, path, trust)
        except ModelportError:
            raise
        except Exception as exc:
            raise UsageError(f"{path}: cannot read torch.export program ({one_line(exc)})",
                             hint=f"is it a torch.export.save file from a torch this one ({torch.__version__}) "
                                  "can read? A truncated or edited file cannot be read") from exc
        return TorchModel(path, fmt, program=program, trust=trust)
    if fmt is Format.TORCHSCRIPT:
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise UsageError(f"{path}: cannot read TorchScript ({one_line(exc)})",
                             hint="re-save it with torch.jit.save") from exc
        return TorchModel(path, fmt, module=module, specs=specs_for("a TorchScript file", input_specs))
    if fmt is Format.TORCH_PY:
        module = _call_factory(str(path))
        return TorchModel(path, fmt, module=module, specs=specs_for("a factory", input_specs))
    if fmt is Format.TORCH_PICKLE:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=guarded_module())
        except UnsafeError:
            raise
        except Exception as exc:
            raise UsageError(f"{path}: cannot unpickle ({one_line(exc)})", hint="re-save the model") from exc
        if not isinstance(obj, torch.nn.Module):
            raise UsageError(
                f"{path}: holds a {type(obj).__name__}, not a model (a state dict has no architecture)",
                hint="point modelport at a factory instead: path/to/file.py:build_model",
            )
        return TorchModel(path, fmt, module=obj, specs=specs_for("a pickled module", input_specs))
    raise UsageError(f"{fmt} is not a PyTorch format")


# packages whose output classes (transformers ModelOutputs, ...) a program may name: importing their module
# registers the class with pytree, and they are already installed libraries, not code from the file
PYTREE_PACKAGES = ("transformers", "diffusers", "timm", "sentence_transformers", "peft", "torchvision")
_TYPE = re.compile(r'\\?"type\\?": ?\\?"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)')
# operators a program calls from other libraries' namespaces (torch.library custom ops): registered when the
# library's module that defines them is imported (transformers' mixture-of-experts grouped matmul, torchvision's nms)
_OP = re.compile(r'torch\.ops\.([A-Za-z_][A-Za-z0-9_]*)\.[A-Za-z_]')
_TORCH_OPS = {"aten", "prims", "higher_order", "_c10d_functional", "c10d_functional", "quantized_decomposed",
              "_quantized", "quantized", "rngprims", "profiler", "_operator", "mkldnn", "onednn", "torchao"}
OP_MODULES = {"transformers": ("transformers", "transformers.integrations.moe"), "torchvision": ("torchvision",)}
_LOAD_LOGGERS = ("torch", "torchao", "transformers")


def _load_program(torch, path, trust: bool):
    """torch.export.load. A program whose inputs or outputs are classes registered with pytree (transformers
    ModelOutputs saved with return_dict=True), or that calls operators a library registers on import
    (torch.ops.transformers.*), loads once the module defining them is imported: the archive names them, so
    import those modules (allowed packages freely, anything else with --trust) and load again."""
    try:
        return _export_load(torch, path)
    except Exception as exc:
        modules = {m: what for m, what in _modules_to_import(path).items() if m not in sys.modules}
        if not modules:
            raise
        first = exc
    _import_modules(path, modules, trust, first)
    return _export_load(torch, path)


def _import_modules(path, modules: dict[str, str], trust: bool, first: BaseException) -> None:
    """Import what a program names (module -> what it gives: "classes" for outputs, "operators" it calls)."""
    for module, what in modules.items():
        package = module.split(".")[0]
        why = "its inputs or outputs are classes" if what == "classes" else "it calls operators"
        if package not in PYTREE_PACKAGES and not trust:
            raise UnsafeError(f"{path}: {why} from {module}, which must be imported to read it",
                              hint=f"pass --trust (or --import {module} --trust) if you trust that code") from first
        try:
            with quiet(*_LOAD_LOGGERS):
                importlib.import_module(module)
        except ImportError as exc:
            if importlib.util.find_spec(package) is None:
                raise MissingDependency(package, "transformers" if package == "transformers" else None,
                                        f"read {path} ({why} from {package})") from first
            raise UsageError(f"{path}: importing {module} failed ({one_line(exc)})",
                             hint=f"the program was saved with another {package} version") from first


class _LoggedErrors(logging.Handler):
    """Collects the exceptions a logger reports with exc_info."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


def _export_load(torch, path):
    """torch.export.load, quietly. An archive it cannot read makes torch log the real error as a warning and raise
    "We ran into an error ... check the warnings above", warnings the user never sees: raise the logged error."""
    log = logging.getLogger("torch.export")
    handler, saved = _LoggedErrors(), (log.level, log.propagate, list(log.handlers))
    if debugging():
        log.addHandler(handler)
    else:  # the warning reaches our handler only: not torch's own handler, not the root's
        log.handlers, log.propagate = [handler], False
        log.setLevel(logging.WARNING)
    try:
        with quiet(*_LOAD_LOGGERS, everywhere=False):  # torch.export's warning is what the handler collects
            return torch.export.load(str(path))
    except RuntimeError as exc:
        if handler.errors and "warnings above" in str(exc):
            raise handler.errors[-1] from None
        raise
    finally:
        log.setLevel(saved[0])
        log.propagate, log.handlers = saved[1], saved[2]


def _modules_to_import(path) -> dict[str, str]:
    """Modules defining the non-builtin classes a .pt2's input/output specs name, then the modules registering
    the custom operators it calls (read from its JSON)."""
    import zipfile

    names: set[str] = set()
    namespaces: set[str] = set()
    with zipfile.ZipFile(path) as archive:
        for entry in archive.namelist():
            if entry.endswith(".json") and "/models/" in f"/{entry}":
                text = archive.read(entry).decode("utf-8", "replace")
                names.update(_TYPE.findall(text))
                namespaces.update(_OP.findall(text))
    modules = {n.rpartition(".")[0]: "classes" for n in sorted(names)
               if n.split(".")[0] not in ("builtins", "collections", "torch")}
    for namespace in sorted(namespaces - _TORCH_OPS):
        for module in OP_MODULES.get(namespace, (namespace,)):
            modules.setdefault(module, "operators")
    return modules



def _call_factory(ref: str):
    torch = _torch()
    module_ref, _, attr = ref.rpartition(":")
    try:
        if module_ref.endswith(".py"):
            file = Path(module_ref)
            if not file.exists():
                raise UsageError(f"{module_ref}: no such file", hint="factories are path/to/file.py:callable")
            spec = importlib.util.spec_from_file_location(f"_modelport_factory_{file.stem}", file)
            mod = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(file.parent.resolve()))
            try:
                spec.loader.exec_module(mod)
            finally:
                sys.path.pop(0)
        else:
            mod = importlib.import_module(module_ref)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{ref}: importing the factory failed ({one_line(exc)})") from exc
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise UsageError(f"{ref}: '{attr}' is not a callable in {module_ref}")
    try:
        obj = factory()
    except Exception as exc:
        raise UsageError(f"{ref}: the factory raised ({one_line(exc)})") from exc
    if not isinstance(obj, torch.nn.Module):
        raise UsageError(f"{ref}: the factory returned a {type(obj).__name__}, not a torch.nn.Module")
    return obj


class TorchModel(Model):
    _program = _module = None  # behind `program` / `module` (subclasses that skip __init__ set them too)
    _released = False

    def __init__(self, path, fmt: Format, *, program=None, module=None, specs: list[TensorSpec] | None = None,
                 trust: bool = False):
        torch = _torch()
        self.path, self.format, self._trust, self._released = path, fmt, trust, False
        self.framework_version = f"torch {torch.__version__}"
        self.program = program
        self.kwarg_names: list[str] = []
        if program is not None:
            self.inputs, self.kwarg_names = _program_specs(program)
            check_input_sizes(path, self.inputs)
            self.module = program.module()
            out_node = next(n for n in reversed(program.graph.nodes) if n.op == "output")
            structure = torch.utils._pytree.tree_unflatten(flatten(out_node.args[0]), program.call_spec.out_spec)
            self.outputs = output_names(structure)
            self._say_dropped(structure)
        else:
            self.module = module.eval()
            self.inputs = list(specs or [])
            self.outputs = []
            if self.inputs:
                args, kwargs = self.example_inputs()
                try:
                    with torch.no_grad():
                        structure = self.module(*args, **kwargs)
                    self.outputs = output_names(structure)
                    self._say_dropped(structure)
                except Exception as exc:
                    shapes = ", ".join(str(s) for s in self.inputs)
                    raise UsageError(f"{path}: the model fails on inputs {shapes} ({one_line(exc)})",
                                     hint="check the --input names, shapes and dtypes") from exc

    def _say_dropped(self, structure) -> None:
        dropped = not_outputs(structure)
        if dropped:
            self.notes = [*self.notes, f"not tensors, so not outputs (the exporters drop them too): "
                                       f"{', '.join(dropped)}"]

    def example_inputs(self) -> tuple[tuple, dict]:
        """Tensors to trace with: the program's own examples, or made from specs (dynamic dims at 2)."""
        torch = _torch()
        if self.program is not None:
            args, kwargs = self.program.example_inputs
            return tuple(args), dict(kwargs or {})
        tensors = []
        for spec in self.inputs:
            shape = [d if isinstance(d, int) else (EXAMPLE_BATCH if i == 0 else EXAMPLE_DIM)
                     for i, d in enumerate(spec.shape)]
            if spec.dtype.startswith("float"):
                tensors.append(torch.randn(*shape, dtype=getattr(torch, spec.dtype)))
            elif spec.dtype == "bool":
                tensors.append(torch.ones(*shape, dtype=torch.bool))
            else:
                tensors.append(torch.randint(0, 2, shape, dtype=getattr(torch, spec.dtype)))
        return tuple(tensors), {}

    def input_rules(self):
        return torch_rules(self)

    def taps(self):
        return torch_taps(self)

    def tap_values(self, feed, keys):
        return torch_tap_values(self, feed, keys)

    def float64_twin(self):
        return torch_twin(self)

    def inspect(self):
        from collections import Counter

        torch = _torch()
        if self.program is not None:
            ops = Counter(str(n.target) for n in self.program.graph.nodes if n.op == "call_function")
        elif isinstance(self.module, torch.jit.ScriptModule):
            ops = Counter(n.kind() for n in self.module.inlined_graph.nodes()
                          if not n.kind().startswith("prim::"))
        else:
            ops = Counter(type(m).__name__ for m in self.module.modules() if not list(m.children()))
        info = {"operators": dict(ops.most_common()), "nodes": sum(ops.values()),
                "parameters": int(sum(p.numel() for p in self.module.parameters()))}
        if self.program is not None:
            out_node = next(n for n in reversed(self.program.graph.nodes) if n.op == "output")
            vals = [getattr(a, "meta", {}).get("val") for a in flatten(out_node.args[0])]
            if len(vals) == len(self.outputs) and all(v is not None for v in vals):
                info["outputs"] = [{"name": n, "shape": [int(d) if str(d).isdigit() else str(d) for d in v.shape],
                                    "dtype": str(v.dtype).replace("torch.", "")} for n, v in zip(self.outputs, vals)]
        if not self.inputs and isinstance(self.module, torch.jit.ScriptModule):
            args = self.module.forward.schema.arguments[1:]
            info["inputs"] = [{"name": a.name, "shape": None, "dtype": None} for a in args]
        return info

    def weight_bytes(self) -> int:
        tensors = {id(t): t for t in (*self.module.parameters(), *self.module.buffers())}  # tied weights once
        return sum(t.numel() * t.element_size() for t in tensors.values())

    def release(self) -> None:
        """A torch.export program is read again from its file on first use (ResNet-50: 98 MB not held beside
        the candidate's session, 1 s to read again when a twin, --locate or another route needs it)."""
        if self.format is Format.TORCH_EXPORT and self._program is not None:
            self._program = self._module = None
            self._released = True
            from modelport.core.memory import give_back

            give_back(collect=True)  # the program's graph module refers to itself: its weights go with a collection

    def _reload(self) -> None:
        self._released = False
        self._program = _load_program(_torch(), self.path, self._trust)
        self._module = self._program.module()

    @property
    def program(self):
        if self._released:
            self._reload()
        return self._program

    @program.setter
    def program(self, value) -> None:
        self._program = value

    @property
    def module(self):
        if self._released:
            self._reload()
        return self._module

    @module.setter
    def module(self, value) -> None:
        self._module = value

    def split_args(self, arrays: list) -> tuple[tuple, dict]:
        n_pos = len(self.inputs) - len(self.kwarg_names)
        return tuple(arrays[:n_pos]), dict(zip(self.kwarg_names, arrays[n_pos:]))

    def run(self, feed):
        torch = _torch()
        arrays = [torch.from_numpy(a.copy()) for a in cast_feed(feed, self.inputs)]
        args, kwargs = self.split_args(arrays)
        with torch.no_grad():
            out = self.module(*args, **kwargs)
        return {n: _to_numpy(t) for n, t in zip(self.outputs, tensors(out))}


def _to_numpy(value):
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def _program_specs(program) -> tuple[list[TensorSpec], list[str]]:
    """User inputs of an ExportedProgram with their shapes (symbolic dims stay symbolic)."""
    from torch.export.graph_signature import InputKind

    user = [s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    args, kwargs = program.example_inputs
    kwarg_names = list((kwargs or {}).keys())
    names = user[: len(args)] + kwarg_names if len(user) == len(args) + len(kwarg_names) else user
    specs = []
    for placeholder, name in zip(user, names):
        val = nodes[placeholder].meta.get("val")
        shape = tuple(int(d) if str(d).lstrip("-").isdigit() else str(d) for d in val.shape)
        specs.append(TensorSpec(name, shape, str(val.dtype).replace("torch.", "")))
    return specs, kwarg_names
