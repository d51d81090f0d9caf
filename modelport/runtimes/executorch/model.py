"""ExecuTorch programs (`.pte`), run by `executorch.runtime` (XNNPACK delegate and portable kernels).

A program plans each tensor's memory for the largest size an axis may take (its *capacity*). A batch larger than
the capacity is run in slices of at most that many rows and the outputs joined, as an app would call it. Input and
output names come from the program's `modelport_io` constant method (written by modelport's routes); a program
without one names them input_0.., output_0.. from its method metadata.
"""

from __future__ import annotations

import json
import re

import numpy as np

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UnsupportedError, UsageError, one_line, require
from modelport.core.formats import Format
from modelport.core.logs import native_silenced, quiet
from modelport.core.model import Model, cast_feed
from modelport.core.specs import check_input_sizes

DTYPES = {"Float": "float32", "Half": "float16", "Double": "float64", "Long": "int64", "Int": "int32",
          "Char": "int8", "Byte": "uint8", "Bool": "bool"}
_INFO = re.compile(r"sizes=\[([\d, ]*)\], dtype=(\w+)")


def runtime():
    """executorch.runtime's Runtime (its import loads torch and, through it, torchao's optional kernels: quiet)."""
    with quiet("torchao", "executorch", "torch.utils._pytree"), native_silenced():
        return require("executorch.runtime", "executorch", "run ExecuTorch programs").Runtime.get()


def load(path, fmt: Format, *, threads: int | None = None) -> PteModel:
    return PteModel(path, threads=threads)


def _tensor_info(meta) -> tuple[list[int], str]:
    found = _INFO.search(str(meta))
    if not found:
        return [], "float32"
    sizes = [int(d) for d in found.group(1).replace(" ", "").split(",") if d]
    return sizes, DTYPES.get(found.group(2), "float32")


class PteModel(Model):
    format = Format.EXECUTORCH

    def __init__(self, path, threads: int | None = None) -> None:
        from importlib.metadata import version

        self.path = path
        self.framework_version = f"executorch {version('executorch')}"
        rt = runtime()
        if threads:  # XNNPACK's threadpool, process-wide (as an app sizes it)
            from executorch.extension.pybindings import portable_lib

            if portable_lib._threadpool_get_thread_count() != threads:
                portable_lib._unsafe_reset_threadpool(threads)
        silenced = native_silenced(capture=True)  # cpuinfo_utils.cpp lines on every load
        try:
            with silenced:
                self.program = rt.load_program(str(path))
                self.method = self.program.load_method("forward")
                record = self._record()
        except Exception as exc:
            missing = sorted(set(re.findall(r"[Mm]issing operator:?\s*\[?\d*\]?\s*([\w:.]+)", silenced.text)))
            if missing:
                raise UnsupportedError(f"{path}: this ExecuTorch runtime has no kernel for {', '.join(missing)}",
                                       hint="lower the model with XNNPACK, or build a runtime with that kernel"
                                       ) from exc
            raise UsageError(f"{path}: cannot load ExecuTorch program ({one_line(exc)})",
                             hint="is the file complete?") from exc
        meta = self.method.metadata
        planned = [_tensor_info(meta.input_tensor_meta(i)) for i in range(meta.num_inputs())]
        self.capacity = [sizes for sizes, _ in planned]
        if record:
            self.inputs = [TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in record["inputs"]]
            self.outputs = list(record["outputs"])
        else:
            self.inputs = [TensorSpec(f"input_{i}", tuple(sizes), dtype) for i, (sizes, dtype) in enumerate(planned)]
            self.outputs = [f"output_{i}" for i in range(meta.num_outputs())]
        check_input_sizes(path, self.inputs)
        caps = [c[0] for c, s in zip(self.capacity, self.inputs) if c and s.shape and s.shape[0] is None]
        self._batch_capacity = min(caps) if caps else None

    def _record(self) -> dict:
        if "modelport_io" not in self.program.method_names:
            return {}
        return json.loads(self.program.load_method("modelport_io").execute([])[0])

    def batch_capacity(self) -> int | None:
        """Rows one call takes when the batch axis is dynamic (None: fixed or unknown)."""
        return self._batch_capacity

    def run(self, feed):
        import torch

        arrays = cast_feed(feed, self.inputs)
        cap = self.batch_capacity()
        rows = len(arrays[0]) if arrays and arrays[0].ndim else 0
        step = cap if cap and rows > cap else max(rows, 1)
        parts = []
        for start in range(0, max(rows, 1), step):
            chunk = [torch.from_numpy(np.ascontiguousarray(a[start:start + step] if rows else a)) for a in arrays]
            try:
                with native_silenced():
                    parts.append([o.numpy().copy() for o in self.method.execute(chunk)])
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}{self._why(chunk)}") from exc
        if len(parts) == 1:
            return dict(zip(self.outputs, parts[0]))
        return {name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(self.outputs)}

    def _why(self, chunk) -> str:
        """The runtime's own account of a failed call (its log, captured on a second try): ' (reason)' or ''."""
        silenced = native_silenced(capture=True)
        try:
            with silenced:
                self.method.execute(chunk)
        except RuntimeError:
            pass
        lines = [re.sub(r"^\[[\w.]+:\d+\]\s*", "", line) for line in silenced.text.splitlines()
                 if line.strip() and "cpuinfo" not in line]
        return f" ({lines[0]})" if lines else ""

    def inspect(self) -> dict:
        """Methods, outputs, operators run by portable kernels vs calls into a delegate, modelport's record."""
        from collections import Counter
        from pathlib import Path

        from modelport.core.provenance import read_pte

        info: dict = {"methods": sorted(m for m in self.program.method_names if m != "modelport_io")}
        try:
            with quiet("torchao", "executorch", "torch.utils._pytree"), native_silenced():
                from executorch.exir._serialize._program import deserialize_pte_binary

                plan = next(p for p in deserialize_pte_binary(Path(self.path).read_bytes()).program.execution_plan
                            if p.name == "forward")
            ops: Counter = Counter()
            for instr in plan.chains[0].instructions:
                args = instr.instr_args
                if type(args).__name__ == "KernelCall":
                    ops[plan.operators[args.op_index].name] += 1
                elif type(args).__name__ == "DelegateCall":
                    ops[f"delegate:{plan.delegates[args.delegate_index].id}"] += 1
            info["operators"] = dict(ops.most_common())
            info["delegated_calls"] = sum(n for k, n in ops.items() if k.startswith("delegate:"))
            info["portable_kernels"] = sum(n for k, n in ops.items() if not k.startswith("delegate:"))
        except Exception as exc:  # the runtime reads it; the serializer may not (an older or newer schema)
            info["operators"] = {}
            info["operators_unread"] = one_line(exc)
        meta = self.method.metadata
        outputs, cap = [], self.batch_capacity()
        for i, name in enumerate(self.outputs):
            sizes, dtype = _tensor_info(meta.output_tensor_meta(i))
            shape = [None if cap and j == 0 and d == cap else d for j, d in enumerate(sizes)]  # planned for cap rows
            outputs.append({"name": name, "shape": shape, "dtype": dtype})
        info["outputs"] = outputs
        info["batch_capacity"] = cap
        try:
            info["provenance"] = read_pte(self.path)
        except Exception:
            info["provenance"] = {}
        return info

    def weight_bytes(self) -> int | None:
        return None
