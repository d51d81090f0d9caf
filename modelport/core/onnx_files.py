"""ONNX files whose weights live beside them: one naming rule (`NAME.onnx.data`), kept through every step.

A protobuf message cannot exceed 2 GB, so a bigger model keeps its tensors in an external file that the
graph names by a path relative to itself. Converters pick that name (torch's `NAME.data`, per-tensor files
from the TorchScript exporter, the quantizer's own): `tidy` brings whatever a step wrote back to the one
file `side_data(path)`, `move` renames a model together with its data, and `save_onnx` writes a proto the
same way. onnx is imported inside the functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelport.core.io import side_data

PROTO_LIMIT = 2 << 30
EXTERNAL_ABOVE = 1800 << 20  # what a file may hold inline: headroom under the protobuf limit for the graph
SIZE_THRESHOLD = 1024  # tensors smaller than this stay in the graph (shapes, scalars)


def locations(proto: Any) -> set[str]:
    """The external files a model's tensors refer to (empty: self-contained)."""
    import onnx

    found = set()
    for tensor in _tensors(proto):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entry = {e.key: e.value for e in tensor.external_data}
            found.add(entry.get("location", ""))
    return found


def _tensors(proto: Any):
    from onnx.external_data_helper import _get_all_tensors

    return _get_all_tensors(proto)


def weight_bytes(proto: Any) -> int:
    """Bytes of tensor data held in the proto itself."""
    total = 0
    for tensor in _tensors(proto):
        if tensor.HasField("raw_data"):
            total += len(tensor.raw_data)
        else:
            total += 4 * (len(tensor.float_data) + len(tensor.int32_data)) + 8 * (
                len(tensor.int64_data) + len(tensor.double_data) + len(tensor.uint64_data))
    return total


def needs_external(model: str | Path | Any) -> bool:
    """Should this model be written with external data? Already so on disk, or too big to be inline."""
    if isinstance(model, (str, Path)):
        import onnx

        path = Path(model)
        if locations(onnx.load(str(path), load_external_data=False)):
            return True
        return path.stat().st_size > EXTERNAL_ABOVE
    return weight_bytes(model) > EXTERNAL_ABOVE


def save_onnx(proto: Any, path: str | Path, external: bool | None = None) -> None:
    """Write a proto (weights loaded) to `path`; over EXTERNAL_ABOVE (or `external=True`) the tensors go to
    `side_data(path)`. A stale data file from an earlier write is removed."""
    import onnx

    path = Path(path)
    data = side_data(path)
    data.unlink(missing_ok=True)
    if external is None:
        external = weight_bytes(proto) > EXTERNAL_ABOVE
    if not external:
        onnx.save_model(proto, str(path))
        return
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data.name, size_threshold=SIZE_THRESHOLD, convert_attribute=False)


def tidy(path: str | Path, proto: Any, keep: set[Path] | frozenset = frozenset()) -> Any:
    """After a step wrote `path` (`proto`: it, read without external weights): if its tensors live anywhere but
    `side_data(path)`, gather them there and remove the files they came from (except `keep`, the step's source
    files). Returns the graph as now on disk (without weights)."""
    import onnx

    path = Path(path)
    found = locations(proto)
    if not found and side_data(path).exists() and side_data(path) not in keep:
        side_data(path).unlink()  # written by an exporter for a model with no weights to put in it
    if not found or found == {side_data(path).name}:
        return proto
    proto = onnx.load(str(path))  # with its weights: they move to the one data file
    olds = {(path.parent / name).resolve() for name in found}
    tmp = path.parent / f".tidy.{path.name}"
    save_onnx(proto, tmp, external=True)
    del proto
    for old in olds:
        if old not in {k.resolve() for k in keep} and old.parent == path.parent.resolve():
            old.unlink(missing_ok=True)
    move(tmp, path)
    return onnx.load(str(path), load_external_data=False)


def move(src: str | Path, dst: str | Path) -> None:
    """Rename an ONNX file and its `side_data` file together; the graph's location entries follow. (An OpenVINO
    IR's `.bin` follows its `.xml`, which names no file.)"""
    import onnx

    src, dst = Path(src), Path(dst)
    data = side_data(src)
    if not data.exists():
        os.replace(src, dst)
        return
    os.replace(data, side_data(dst))
    if src.name == dst.name or src.suffix != ".onnx":
        os.replace(src, dst)
        return
    proto = onnx.load(str(src), load_external_data=False)
    for tensor in _tensors(proto):
        for entry in tensor.external_data:
            if entry.key == "location" and entry.value == data.name:
                entry.value = side_data(dst).name
    onnx.save_model(proto, str(dst))
    src.unlink()


def externalize(path: str | Path) -> None:
    """Move a self-contained file's weights to `side_data(path)` (the user asked for external data)."""
    import onnx

    path = Path(path)
    if locations(onnx.load(str(path), load_external_data=False)):
        return
    proto = onnx.load(str(path))
    tmp = path.parent / f".ext.{path.name}"
    save_onnx(proto, tmp, external=True)
    del proto
    move(tmp, path)


def internalize(path: str | Path) -> None:
    """Bring `side_data(path)`'s tensors back into the file itself (the data file is removed).

    The common case (every external tensor a top-level initializer in that one file) is streamed: the graph
    without its weights is written, then each initializer with its bytes copied from the data file, so the
    weights are never held in memory (protobuf fields may come in any order, and a message field written
    once with its exact length is the message). Anything else (subgraphs, attributes) loads and re-saves."""
    import onnx

    path = Path(path)
    data = side_data(path)
    proto = onnx.load(str(path), load_external_data=False)
    found = locations(proto)
    if not found:
        data.unlink(missing_ok=True)  # nothing refers to it
        return
    tmp = path.parent / f".inline.{path.name}"
    external = [t for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    everywhere = [t for t in _tensors(proto) if t.data_location == onnx.TensorProto.EXTERNAL]
    if found != {data.name} or len(everywhere) != len(external) or any(
            {e.key for e in t.external_data} - {"location", "offset", "length"} for t in external):
        proto = onnx.load(str(path))
        save_onnx(proto, tmp, external=False)
    else:
        _stream_inline(proto, data, tmp)
    del proto
    os.replace(tmp, path)
    data.unlink(missing_ok=True)


def _stream_inline(proto: Any, data: Path, out: Path) -> None:
    import onnx

    tensors = list(proto.graph.initializer)
    del proto.graph.initializer[:]
    head = onnx.ModelProto()
    head.CopyFrom(proto)
    head.ClearField("graph")
    graph = proto.graph.SerializeToString()
    size = data.stat().st_size
    parts = []  # (name, tensor header without its bytes, offset, length, serialized tensor size)
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            parts.append((tensor.name, tensor.SerializeToString(), 0, -1, tensor.ByteSize()))
            continue
        entry = {e.key: e.value for e in tensor.external_data}
        offset = int(entry.get("offset", 0))
        length = int(entry["length"]) if "length" in entry else size - offset
        tensor.ClearField("external_data")
        tensor.ClearField("data_location")
        header = tensor.SerializeToString()
        parts.append((tensor.name, header, offset, length, len(header) + 1 + len(_varint(length)) + length))
    graph_size = len(graph) + sum(1 + len(_varint(n)) + n for *_, n in parts)
    with open(data, "rb") as src, open(out, "wb") as dst:
        dst.write(head.SerializeToString())
        dst.write(b"\x3a" + _varint(graph_size))  # ModelProto.graph: field 7, length-delimited
        dst.write(graph)
        for name, header, offset, length, n in parts:
            dst.write(b"\x2a" + _varint(n))  # GraphProto.initializer: field 5
            dst.write(header)
            if length < 0:
                continue
            dst.write(b"\x4a" + _varint(length))  # TensorProto.raw_data: field 9
            src.seek(offset)
            left = length
            while left:
                chunk = src.read(min(left, 16 << 20))
                if not chunk:
                    raise OSError(f"{data.name} ends before the data of tensor {name!r}")
                dst.write(chunk)
                left -= len(chunk)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def inline_if_small(path: str | Path) -> None:
    """One self-contained file, unless the weights in `side_data(path)` are too big for one."""
    path = Path(path)
    data = side_data(path)
    if data.exists() and data.stat().st_size <= EXTERNAL_ABOVE:
        internalize(path)
