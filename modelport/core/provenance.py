"""Provenance written into every converted ONNX file (`metadata_props`, keys prefixed `modelport.`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFIX = "modelport."


def write_onnx(path: str | Path, facts: dict[str, Any], model=None) -> None:
    """Add modelport facts to an ONNX file (`model`: its already-loaded proto, to skip a reload).

    A file with no modelport facts yet (what a converter just wrote) gets them appended: a protobuf message
    followed by another is their merge, and repeated fields (`metadata_props`) concatenate, so the weights are
    neither re-serialised nor rewritten (3 s of a BERT-base conversion). Only for a file not yet in place (the
    caller's temp file): an append interrupted half-way must never be the user's file. Otherwise every entry
    is replaced through a full rewrite."""
    import onnx

    if model is None:
        model = onnx.load(str(path), load_external_data=False)
    if not any(p.key.startswith(PREFIX) for p in model.metadata_props):
        extra = onnx.ModelProto()
        _add(extra, facts)
        model.metadata_props.extend(extra.metadata_props)  # the proto in memory says what the file says
        with open(path, "ab") as fh:
            fh.write(extra.SerializeToString())
        return
    keep = [p for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    _add(model, facts)
    _replace_bytes(path, model.SerializeToString())


def _add(model, facts: dict[str, Any]) -> None:
    for key, value in facts.items():
        entry = model.metadata_props.add()
        entry.key = PREFIX + key
        entry.value = value if isinstance(value, str) else json.dumps(value)


def _replace_bytes(path: str | Path, data: bytes) -> None:
    """Rewrite a file through a temp file + rename: a failure never leaves it half-written."""
    import os

    tmp = Path(str(path) + ".prov")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_onnx(path: str | Path, model=None) -> dict[str, Any]:
    """modelport facts from an ONNX file (`model`: its already-loaded proto, to skip a reload)."""
    import onnx

    if model is None:
        model = onnx.load(str(path), load_external_data=False)
    facts = {}
    for prop in model.metadata_props:
        if prop.key.startswith(PREFIX):
            try:
                facts[prop.key[len(PREFIX):]] = json.loads(prop.value)
            except ValueError:
                facts[prop.key[len(PREFIX):]] = prop.value
    return facts


TFLITE_KEY = "modelport"


def tflite_tools():
    """(schema module, flatbuffer_utils) from ai-edge-litert or TensorFlow, or None."""
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils as fbu

        return schema, fbu
    except ImportError:
        pass
    try:
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils as fbu

        return schema, fbu
    except ImportError:
        return None


def sidecar(path: str | Path) -> Path:
    return Path(str(path) + ".modelport.json")


def write_tflite(path: str | Path, facts: dict[str, Any]) -> str:
    """Store facts in the flatbuffer's metadata list under "modelport"; returns where they went.

    Without a schema tool installed the facts go to a sidecar `OUT.tflite.modelport.json` (written by the
    caller once the model itself is in place)."""
    tools = tflite_tools()
    if tools is None:
        return "sidecar"
    import numpy as np

    schema, fbu = tools
    path = Path(path)
    model = fbu.read_model_from_bytearray(bytearray(path.read_bytes()))
    data = np.frombuffer(json.dumps(facts).encode(), dtype=np.uint8)
    ours = [m for m in (model.metadata or []) if _name(m.name) == TFLITE_KEY]
    if ours:  # rewritten in place: a second record must not leave the first one's bytes behind
        model.buffers[ours[0].buffer].data = data
        model.metadata = [m for m in model.metadata if m not in ours[1:]]
    else:
        buffer = schema.BufferT()
        buffer.data = data
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = TFLITE_KEY
        entry.buffer = len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    _replace_bytes(path, fbu.convert_object_to_bytearray(model))
    return "metadata"


def tflite_without_record(path: str | Path) -> bytes:
    """The TFLite model re-serialised without modelport's metadata entry (the file's bytes without a schema
    tool, where the record is a sidecar anyway): what a content digest hashes."""
    data = Path(path).read_bytes()
    tools = tflite_tools()
    if tools is None:
        return data
    _, fbu = tools
    model = fbu.read_model_from_bytearray(bytearray(data))
    ours = [m for m in (model.metadata or []) if _name(m.name) == TFLITE_KEY]
    for entry in ours:
        model.buffers[entry.buffer].data = None
    model.metadata = [m for m in (model.metadata or []) if m not in ours] or None
    return bytes(fbu.convert_object_to_bytearray(model))


def _name(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_tflite(path: str | Path, model=None) -> dict[str, Any]:
    """modelport facts from a TFLite file's metadata, else from its sidecar; {} when there are none.
    `model`: the flatbuffer already unpacked (ModelT), to skip a second parse."""
    tools = tflite_tools()
    if model is None and tools is not None:
        _, fbu = tools
        model = fbu.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    if model is not None:
        for entry in model.metadata or []:
            if _name(entry.name) == TFLITE_KEY:
                data = model.buffers[entry.buffer].data
                return json.loads(bytes(bytearray(data)).decode())
    side = sidecar(path)
    if side.exists():
        return json.loads(side.read_text())
    return {}


def write_openvino(path: str | Path, facts: dict[str, Any]) -> None:
    """Store facts in an OpenVINO IR's `<rt_info>` as `<modelport value="JSON"/>` (OpenVINO keeps unknown
    rt_info entries; model.bin is not touched). Rewritten through a temp file."""
    import xml.etree.ElementTree as ET

    tree = ET.parse(str(path))
    root = tree.getroot()
    info = root.find("rt_info")
    if info is None:
        info = ET.SubElement(root, "rt_info")
    for old in info.findall(TFLITE_KEY):
        info.remove(old)
    ET.SubElement(info, TFLITE_KEY, {"value": json.dumps(facts)})
    _replace_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))


def read_openvino(path: str | Path) -> dict[str, Any]:
    """modelport facts from an OpenVINO IR's rt_info ({} when there are none)."""
    import xml.etree.ElementTree as ET

    info = ET.parse(str(path)).getroot().find("rt_info")
    entry = info.find(TFLITE_KEY) if info is not None else None
    return json.loads(entry.get("value", "{}")) if entry is not None else {}


# An ExecuTorch program has no metadata table modelport can add to after lowering. Its loader reads the program
# and its segments by the offsets in its header and ignores bytes past them, so the record is a trailer:
# JSON, then its length (8 bytes, little-endian), then PTE_MAGIC.
PTE_MAGIC = b"MPORTREC"


def _pte_split(data: bytes) -> tuple[bytes, bytes]:
    """(the program, the record's JSON or b"")."""
    if data[-8:] != PTE_MAGIC or len(data) < 16:
        return data, b""
    size = int.from_bytes(data[-16:-8], "little")
    if size > len(data) - 16:
        return data, b""
    return data[:len(data) - 16 - size], data[len(data) - 16 - size:-16]


def write_pte(path: str | Path, facts: dict[str, Any]) -> None:
    """Store facts as a trailer after the program (replacing one already there), through a temp file."""
    program, _ = _pte_split(Path(path).read_bytes())
    record = json.dumps(facts).encode()
    _replace_bytes(path, program + record + len(record).to_bytes(8, "little") + PTE_MAGIC)


def read_pte(path: str | Path) -> dict[str, Any]:
    """modelport facts from an ExecuTorch program's trailer ({} when there are none)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        end = fh.tell()
        if end < 16:
            return {}
        fh.seek(end - 16)
        tail = fh.read(16)
        if tail[8:] != PTE_MAGIC:
            return {}
        size = int.from_bytes(tail[:8], "little")
        if size > end - 16:
            return {}
        fh.seek(end - 16 - size)
        return json.loads(fh.read(size))


def without_record(path: str | Path) -> bytes:
    """An OpenVINO IR's `.xml` without modelport's rt_info entry followed by its `.bin`, or an ExecuTorch program
    without its trailer: what a content digest hashes (the same model converted twice digests the same)."""
    path = Path(path)
    if path.suffix == ".pte":
        return _pte_split(path.read_bytes())[0]
    import xml.etree.ElementTree as ET

    root = ET.parse(str(path)).getroot()
    info = root.find("rt_info")
    for old in info.findall(TFLITE_KEY) if info is not None else []:
        info.remove(old)
    weights = path.with_suffix(".bin")
    return ET.tostring(root) + (weights.read_bytes() if weights.exists() else b"")


def read(path: str | Path) -> dict[str, Any]:
    """modelport facts from any file modelport writes, by its suffix ({} when there are none)."""
    suffix = Path(path).suffix
    if suffix == ".tflite":
        return read_tflite(path)
    if suffix == ".xml":
        return read_openvino(path)
    if suffix == ".pte":
        return read_pte(path)
    return read_onnx(path)
