"""`modelport serve MODEL... --write-triton DIR`: a Triton model repository (`DIR/NAME/config.pbtxt`,
`DIR/NAME/V/model.onnx` with its external data) for users who run Triton themselves.

The config is built as tritonclient's own `ModelConfig` protobuf and printed in its text format, so Triton parses
what it was built from. A graph whose every input and output has a dynamic first axis batches
(`max_batch_size > 0`, dims without that axis); any other gets `max_batch_size: 0` and full dims.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from modelport.core.errors import UnsupportedError, UsageError, require
from modelport.core.formats import Format
from modelport.core.report import Report
from modelport.serve.tensors import TensorMeta

DEFAULT_MAX_BATCH = 8


def triton_type(datatype: str) -> str:
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def batches(inputs: list[TensorMeta], outputs: list[TensorMeta]) -> bool:
    """Triton's implicit batch axis fits: every tensor has a dynamic first axis (and inputs name it alike)."""
    tensors = [*inputs, *outputs]
    if not tensors or any(not t.shape or t.shape[0] != -1 for t in tensors):
        return False
    names = {t.symbols[0] for t in inputs if t.symbols and t.symbols[0]}
    return len(names) <= 1


def model_config(name: str, inputs: list[TensorMeta], outputs: list[TensorMeta], *, max_batch: int | None,
                 dynamic_batching: bool):
    """A tritonclient ModelConfig for one ONNX model on CPU."""
    require("tritonclient", "serve", "write a Triton model repository")
    from tritonclient.grpc import model_config_pb2 as mc

    batched = batches(inputs, outputs)
    config = mc.ModelConfig(name=name, platform="onnxruntime_onnx",
                            max_batch_size=(max_batch or DEFAULT_MAX_BATCH) if batched else 0)
    for items, field in ((inputs, config.input), (outputs, config.output)):
        for t in items:
            dims = list(t.shape[1:] if batched else t.shape)
            entry = field.add(name=t.name, data_type=mc.DataType.Value(triton_type(t.datatype)), dims=dims)
            if not dims:  # a per-row scalar: Triton wants [1] reshaped to []
                entry.dims.append(1)
                entry.reshape.SetInParent()
    if dynamic_batching and batched:
        config.dynamic_batching.SetInParent()
    config.instance_group.add(count=1, kind=mc.ModelInstanceGroup.Kind.Value("KIND_CPU"))
    return config


def write_repository(sources: list[str], directory: str, *, names: list[str] | None = None,
                     max_batch: int | None = None, dynamic_batching: bool = False, allow_unverified: bool = False,
                     force: bool = False) -> Report:
    from google.protobuf import text_format

    from modelport.core.io import WorkFolder
    from modelport.core.onnx_files import locations
    from modelport.serve.served import resolve

    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise UsageError(f"--write-triton {directory}: exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    served = resolve(list(sources), names, threads=1, allow_unverified=allow_unverified)
    for s in served:
        if s.current.runtime.model.format is not Format.ONNX:
            raise UnsupportedError(f"{s.source}: Triton has no TFLite backend on x86 servers",
                                   hint="serve it with modelport serve, or convert the source to ONNX for Triton")
        if (root / s.name).exists() and not force:
            raise UsageError(f"{root / s.name} already exists", hint="remove it, or write to another folder")
    report = Report("serve", ok=True)
    written = []
    for s in served:
        version = s.current
        config = model_config(s.name, version.runtime.inputs, version.runtime.outputs, max_batch=max_batch,
                              dynamic_batching=dynamic_batching)
        final = root / s.name
        with WorkFolder(final) as work:
            folder = work / s.name
            (folder / version.number).mkdir(parents=True)
            (folder / "config.pbtxt").write_text(text_format.MessageToString(config))
            shutil.copyfile(version.file, folder / version.number / "model.onnx")
            import onnx

            for location in locations(onnx.load(str(version.file), load_external_data=False)):
                shutil.copyfile(version.file.parent / location, folder / version.number / location)
            if final.exists():
                shutil.rmtree(final)
            os.rename(folder, final)
        report.warnings.extend(s.notes)
        written.append({"name": s.name, "config": str(final / "config.pbtxt"), "version": version.number,
                        "max_batch_size": config.max_batch_size, "source": s.source})
    report.details["triton"] = written
    return report
