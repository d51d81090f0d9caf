"""Open Inference Protocol bodies to arrays and back, for engines without KServe's codec (Ray Serve: KServe's
modules define the same protobuf symbols as the ones Ray's gRPC proxy needs, and cannot share its process).

REST: JSON tensors and the binary tensor extension (`inference-header-content-length`, `binary_data_size`,
`binary_data`, `binary_data_output`). gRPC: `raw_input_contents` or typed `contents`; answers always carry
`raw_output_contents`, which is what tritonclient.grpc reads.
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from modelport.serve.tensors import NUMPY, BadRequest, TensorMeta, check_array, check_header, data_error

JSON_LENGTH = "inference-header-content-length"
CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
            "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
            "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
            "FP64": "fp64_contents", "BYTES": "bytes_contents"}


@dataclass
class Request:
    id: str
    inputs: dict[str, Any]  # name -> array, checked against the model
    outputs: list[str] = field(default_factory=list)  # requested names ([]: all)
    binary: dict[str, bool] = field(default_factory=dict)  # REST: per output, binary or JSON
    binary_default: bool = False


def numpy_dtype(datatype: str):
    import numpy as np

    if datatype == "BYTES":
        return np.object_
    if datatype not in NUMPY:
        raise BadRequest(f"unknown datatype {datatype!r}")
    return np.dtype(NUMPY[datatype])


def from_bytes_tensor(raw: bytes):
    """BYTES elements: each a 4-byte little-endian length then its bytes."""
    import numpy as np

    items, at = [], 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise ValueError("truncated BYTES element")
        (size,) = struct.unpack_from("<I", raw, at)
        items.append(raw[at + 4:at + 4 + size])
        at += 4 + size
    return np.array(items, dtype=object)


def to_bytes_tensor(array) -> bytes:
    parts = []
    for item in array.reshape(-1):
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)


def _array(name: str, datatype: str, shape, *, data=None, raw: bytes | None = None):
    import numpy as np

    try:
        if raw is not None:
            flat = from_bytes_tensor(raw) if datatype == "BYTES" else np.frombuffer(raw, dtype=numpy_dtype(datatype))
        elif datatype == "BYTES":
            flat = np.array([d.encode() if isinstance(d, str) else bytes(d) for d in np.ravel(np.array(data, object))],
                            dtype=object)
        else:
            flat = np.array(data, dtype=numpy_dtype(datatype))
        return flat.reshape([int(d) for d in shape])
    except BadRequest:
        raise
    except Exception as exc:
        raise data_error(name, datatype, shape, exc) from None


def _checked(tensors: list[tuple[str, str, list, dict]], specs: list[TensorMeta]) -> dict[str, Any]:
    """(name, datatype, shape, {data or raw}) tensors checked against the model, as arrays."""
    check_header([(n, dt, shape) for n, dt, shape, _ in tensors], specs)
    wanted = {s.name: s for s in specs}
    return {n: check_array(n, _array(n, dt, shape, **src), wanted[n]) for n, dt, shape, src in tensors}


def decode_rest(body: bytes, headers: dict[str, str], specs: list[TensorMeta]) -> Request:
    json_length = headers.get(JSON_LENGTH)
    try:
        size = int(json_length) if json_length is not None else len(body)
        doc = json.loads(body[:size])
        if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
            raise BadRequest("malformed inference request: expected an object with an 'inputs' list")
        at = size
        tensors = []
        for item in doc["inputs"]:
            params = item.get("parameters") or {}
            source: dict[str, Any]
            if "binary_data_size" in params:
                length = int(params["binary_data_size"])
                source = {"raw": body[at:at + length]}
                at += length
            elif "data" in item:
                source = {"data": item["data"]}
            else:
                raise BadRequest(f"malformed inference request: input '{item.get('name')}' has no data")
            tensors.append((str(item["name"]), str(item["datatype"]), item["shape"], source))
        outputs = doc.get("outputs") or []
        binary = {str(o["name"]): bool((o.get("parameters") or {}).get("binary_data", False)) for o in outputs}
        default = bool((doc.get("parameters") or {}).get("binary_data_output", False))
        rid = str(doc.get("id") or uuid.uuid4())
    except BadRequest:
        raise
    except Exception as exc:
        raise BadRequest(f"malformed inference request: {type(exc).__name__}: {exc}") from None
    return Request(rid, _checked(tensors, specs), list(binary), binary, default)


def encode_rest(request: Request, model: str, version: str, values: dict[str, Any]) -> tuple[bytes, dict]:
    """The response body and headers: JSON, with binary outputs appended when asked for."""
    import numpy as np

    outputs, raws = [], []
    for name, value in values.items():
        value = np.asarray(value)
        entry = {"name": name, "datatype": datatype_of(value), "shape": list(value.shape)}
        if request.binary.get(name, request.binary_default):
            raw = to_bytes_tensor(value) if entry["datatype"] == "BYTES" else np.ascontiguousarray(value).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            raws.append(raw)
        else:
            entry["data"] = [v.decode() if isinstance(v, bytes) else v for v in value.reshape(-1).tolist()] \
                if entry["datatype"] == "BYTES" else value.reshape(-1).tolist()
        outputs.append(entry)
    head = json.dumps({"id": request.id, "model_name": model, "model_version": version, "outputs": outputs}).encode()
    if not raws:
        return head, {"content-type": "application/json"}
    return head + b"".join(raws), {JSON_LENGTH: str(len(head)), "content-type": "application/octet-stream"}


def datatype_of(value) -> str:
    from modelport.serve.tensors import DATATYPES

    kind = value.dtype.kind
    if kind in "OUS":
        return "BYTES"
    return DATATYPES[value.dtype.name]


def decode_grpc(message, specs: list[TensorMeta]) -> Request:
    """A ModelInferRequest (any protobuf class with the protocol's fields)."""
    raws = list(message.raw_input_contents)
    if raws and len(raws) != len(message.inputs):
        raise BadRequest(f"{len(message.inputs)} inputs but {len(raws)} raw_input_contents")
    tensors = []
    for i, item in enumerate(message.inputs):
        if raws:
            source: dict[str, Any] = {"raw": raws[i]}
        else:
            field_name = CONTENTS.get(item.datatype)
            if field_name is None:
                raise BadRequest(f"input '{item.name}': unknown datatype {item.datatype!r}")
            source = {"data": list(getattr(item.contents, field_name))}
        tensors.append((item.name, item.datatype, list(item.shape), source))
    outputs = [o.name for o in message.outputs]
    return Request(message.id or str(uuid.uuid4()), _checked(tensors, specs), outputs)


def encode_grpc(response, request: Request, model: str, version: str, values: dict[str, Any]):
    """Fill a ModelInferResponse with raw outputs."""
    import numpy as np

    response.model_name, response.model_version, response.id = model, version, request.id
    for name, value in values.items():
        value = np.asarray(value)
        kind = datatype_of(value)
        response.outputs.add(name=name, datatype=kind, shape=list(value.shape))
        response.raw_output_contents.append(
            to_bytes_tensor(value) if kind == "BYTES" else np.ascontiguousarray(value).tobytes())
    return response
