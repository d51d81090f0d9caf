"""Damaged copies of valid tiny models, for fuzzing modelport's readers.

Used by `benchmarks/fuzz.py` (the full run) and `tests/cli/test_fuzz_sample.py` (a fixed-seed sample). Every
mutation is a pure function of (bytes, format, rng): the same seed gives the same files. Frameworks import
lazily (only `huge_dims` on ONNX needs `onnx`; building the originals needs torch, TensorFlow and sklearn).
"""

from __future__ import annotations

import copy
import io
import random
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

EXTENSIONS = {"onnx": ".onnx", "tflite": ".tflite", "keras": ".keras", "pt2": ".pt2", "skops": ".skops"}
ZIPPED = ("keras", "pt2", "skops")
MUTATIONS = ("bitflip", "truncate", "shuffle", "zip_remove", "zip_inflate", "zip_entry_flip", "huge_dims")
# declared dimensions that no model has: far too big to allocate, past int32, negative, zero
HUGE = (2**40, 2**31 - 1, 2**62, -1, -7, 0)


@dataclass(frozen=True)
class Case:
    """One mutated file: `index` orders cases, `seed` reproduces the mutation alone."""

    index: int
    fmt: str
    mutation: str
    seed: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def mutations_for(fmt: str) -> tuple[str, ...]:
    return MUTATIONS if fmt in ZIPPED else tuple(m for m in MUTATIONS if not m.startswith("zip_"))


def build_originals(folder: Path) -> dict[str, Path]:
    """Valid tiny models: the three sources, the ONNX modelport makes of each, and a TFLite file (from Keras).

    Keys: the formats ("pt2", "keras", "skops", "onnx" = the .pt2's ONNX, "tflite" = the .keras's TFLite) and
    "keras.onnx", "skops.onnx" (what a mutated source is verified against)."""
    import modelport
    from tests import builders

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "pt2": builders.torch_iris_mlp(folder / "iris.pt2"),
        "keras": builders.keras_iris_mlp(folder / "iris.keras"),
        "skops": builders.sklearn_pipeline(folder / "iris.skops"),
    }
    targets = {"onnx": files["pt2"], "keras.onnx": files["keras"], "skops.onnx": files["skops"],
               "tflite": files["keras"]}
    for key, source in targets.items():
        out = folder / f"{source.stem}-{source.suffix[1:]}.{key.rpartition('.')[2]}"
        modelport.convert(source, out)
        files[key] = out
    return files


def verify_args(case: Case, originals: dict[str, Path]) -> list[Path]:
    """`modelport verify` arguments for a mutant: a damaged target is checked against its intact source, a
    damaged source against the intact ONNX made from it."""
    if case.fmt == "onnx":
        return [originals["pt2"], case.path]
    if case.fmt == "tflite":
        return [originals["keras"], case.path]
    return [case.path, originals["onnx" if case.fmt == "pt2" else f"{case.fmt}.onnx"]]


def plan(count: int, seed: int, formats: tuple[str, ...], only: tuple[str, ...] = MUTATIONS
         ) -> list[tuple[int, str, str, int]]:
    """(index, format, mutation, seed) for `count` cases: formats round-robin, each cycling its mutations
    (those of `only` that apply to it)."""
    rng = random.Random(seed)
    formats = tuple(f for f in formats if any(m in only for m in mutations_for(f)))
    turns = {fmt: 0 for fmt in formats}
    cases = []
    for index in range(count):
        fmt = formats[index % len(formats)]
        kinds = [m for m in mutations_for(fmt) if m in only]
        cases.append((index, fmt, kinds[turns[fmt] % len(kinds)], rng.randrange(2**31)))
        turns[fmt] += 1
    return cases


def make_mutants(originals: dict[str, Path], folder: Path, count: int, seed: int,
                 formats: tuple[str, ...] = tuple(EXTENSIONS), only: tuple[str, ...] = MUTATIONS) -> list[Case]:
    """Write `count` mutated copies of the originals into `folder` (one file each, named by index)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {fmt: originals[fmt].read_bytes() for fmt in formats}
    cases = []
    for index, fmt, mutation, case_seed in plan(count, seed, formats, only):
        path = folder / f"{index:04d}-{fmt}-{mutation}{EXTENSIONS[fmt]}"
        path.write_bytes(mutate(data[fmt], fmt, mutation, random.Random(case_seed)))
        cases.append(Case(index, fmt, mutation, case_seed, path))
    return cases


def mutate(data: bytes, fmt: str, mutation: str, rng: random.Random) -> bytes:
    """A damaged copy of `data` (a `fmt` model). Falls back to a bit flip when a mutation finds nothing to do."""
    fn = {"bitflip": bitflip, "truncate": truncate, "shuffle": shuffle, "zip_remove": zip_remove,
          "zip_inflate": zip_inflate, "zip_entry_flip": zip_entry_flip, "huge_dims": huge_dims}[mutation]
    for _ in range(5):  # a shuffle of identical chunks changes nothing: try again
        out = fn(data, fmt, rng)
        if out is not None and out != data:
            return out
    return bitflip(data, fmt, rng)


def bitflip(data: bytes, fmt: str, rng: random.Random) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8, 32))):
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return bytes(raw)


def truncate(data: bytes, fmt: str, rng: random.Random) -> bytes:
    """Cut the file: to a few header bytes, mid-way, or just short of the end."""
    how = rng.choice(("head", "middle", "tail"))
    if how == "head":
        return data[: rng.randint(1, 64)]
    if how == "tail":
        return data[: len(data) - rng.randint(1, 64)]
    return data[: rng.randint(1, len(data) - 1)]


def shuffle(data: bytes, fmt: str, rng: random.Random) -> bytes:
    """Split into equal chunks and shuffle a window of them (a file stitched together in the wrong order)."""
    size = rng.choice((16, 64, 256, 1024))
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    if len(chunks) < 2:
        return None
    width = rng.randint(2, min(8, len(chunks)))
    start = rng.randrange(len(chunks) - width + 1)
    window = chunks[start:start + width]
    rng.shuffle(window)
    if window == chunks[start:start + width]:
        window.reverse()
    return b"".join(chunks[:start] + window + chunks[start + width:])


def zip_remove(data: bytes, fmt: str, rng: random.Random) -> bytes:
    """Rewrite the archive without one entry."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = zf.infolist()
        drop = rng.choice(entries).filename
        return _rewrite(zf, {drop: None})


def zip_inflate(data: bytes, fmt: str, rng: random.Random) -> bytes:
    """Change the uncompressed size one entry (sometimes every entry) declares, without touching its data.

    Patches the central directory (offset 24) and, half the time, the local header too (offset 22)."""
    raw = bytearray(data)
    central = [m.start() for m in re.finditer(b"PK\x01\x02", raw)]
    if not central:
        return None
    chosen = central if rng.random() < 0.25 else [rng.choice(central)]
    for at in chosen:
        old = struct.unpack_from("<I", raw, at + 24)[0]
        new = rng.choice((old + 1, old * 2 + 7, old // 2, 0, 0xFFFFFFF0, rng.randrange(2**32)))
        struct.pack_into("<I", raw, at + 24, new & 0xFFFFFFFF)
        local = struct.unpack_from("<I", raw, at + 42)[0]
        if rng.random() < 0.5 and raw[local:local + 4] == b"PK\x03\x04":
            struct.pack_into("<I", raw, local + 22, new & 0xFFFFFFFF)
    return bytes(raw)


def zip_entry_flip(data: bytes, fmt: str, rng: random.Random) -> bytes:
    """Damage one entry's content (bit flips or a cut) and rewrite the archive with matching CRCs: the zip
    reads cleanly, so the damage reaches the framework's own parser (HDF5, JSON, pickle, .npy)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = rng.choice([i for i in zf.infolist() if i.file_size] or zf.infolist())
        content = zf.read(info.filename)
        if content and rng.random() < 0.25:
            damaged = content[: rng.randrange(len(content))]
        else:
            damaged = bitflip(content, fmt, rng) if content else b"\0"
        return _rewrite(zf, {info.filename: damaged})


def huge_dims(data: bytes, fmt: str, rng: random.Random) -> bytes | None:
    """Declare an impossible dimension (2**40, past int32, negative, zero) where the format keeps shapes."""
    value = rng.choice(HUGE)
    if fmt == "onnx":
        return _onnx_dims(data, value, rng)
    if fmt == "tflite":
        return _tflite_dims(data, value, rng)
    pattern = {"keras": (r"config\.json$", rb'("(?:batch_shape|input_shape)": \[null, |"units": )(\d+)'),
               "pt2": (r"models/model\.json$", rb'("sizes": \[(?:\{"as_int": \d+\}, )*\{"as_int": )(\d+)'),
               "skops": (r"\.npy$", rb"('shape': \((?:\d+, )*)(\d+)")}[fmt]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = [n for n in zf.namelist() if re.search(pattern[0], n)
                 and re.search(pattern[1], zf.read(n)[:4096 if fmt == "skops" else None])]
        if not names:
            return None
        name = rng.choice(names)
        text = zf.read(name)
        hits = list(re.finditer(pattern[1], text[:4096] if fmt == "skops" else text))
        hit = rng.choice(hits)
        new = text[:hit.start(2)] + str(value).encode() + text[hit.end(2):]
        if fmt == "skops":
            new = _npy_keep_header_length(text, new)
            if new is None:
                return None
        return _rewrite(zf, {name: new})


def _onnx_dims(data: bytes, value: int, rng: random.Random) -> bytes | None:
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception:
        return None
    graph = model.graph
    dims = [d for vi in (*graph.input, *graph.output) for d in vi.type.tensor_type.shape.dim]
    inits = [t for t in graph.initializer if len(t.dims)]
    if inits and (not dims or rng.random() < 0.4):
        tensor = rng.choice(inits)
        tensor.dims[rng.randrange(len(tensor.dims))] = value
    elif dims:
        dim = rng.choice(dims)
        dim.dim_value = value  # also replaces a symbolic dim_param
    else:
        return None
    return model.SerializeToString()


def _tflite_dims(data: bytes, value: int, rng: random.Random) -> bytes | None:
    """Patch one element of a flatbuffer int32 vector that looks like a shape: length 1-4, values -1..4096."""
    hits = []
    for m in re.finditer(rb"[\x01-\x04]\x00\x00\x00", data):
        length, at = data[m.start()], m.start() + 4
        if m.start() % 4 or at + 4 * length > len(data):
            continue
        values = struct.unpack_from(f"<{length}i", data, at)
        if all(-1 <= v <= 4096 for v in values) and any(v > 1 for v in values):
            hits.append((at, length))
    if not hits:
        return None
    at, length = rng.choice(hits)
    raw = bytearray(data)
    struct.pack_into("<i", raw, at + 4 * rng.randrange(length), max(min(value, 2**31 - 1), -(2**31)))
    return bytes(raw)


def _npy_keep_header_length(old: bytes, new: bytes) -> bytes | None:
    """A .npy header is padded with spaces to a fixed length: take the growth out of the padding."""
    if not old.startswith(b"\x93NUMPY") or old[6] != 1:
        return None
    length = struct.unpack_from("<H", old, 8)[0]
    header_end = 10 + length
    grew = len(new) - len(old)
    header = new[10:header_end + grew]
    body = header.rstrip(b"\n").rstrip(b" ")
    if len(body) + 1 > length:
        return None
    return new[:10] + body + b" " * (length - len(body) - 1) + b"\n" + new[header_end + grew:]


def _rewrite(zf: zipfile.ZipFile, changes: dict[str, bytes | None]) -> bytes:
    """The archive again with entries replaced (bytes) or dropped (None), in the same order and compression."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for info in zf.infolist():
            content = changes[info.filename] if info.filename in changes else zf.read(info.filename)
            if content is not None:
                out.writestr(copy.copy(info), content)  # writestr updates the ZipInfo it is given
    return buffer.getvalue()
