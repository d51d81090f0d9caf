"""A second look at a pickle before `--trust` loads it: which globals it imports, read from its opcodes without
running it (`pickletools`), and a refusal (exit 4) when one of them runs commands or code (`os.system`,
`subprocess.Popen`, `builtins.eval` ...) unless `--trust-unsafe` is given.

Covered: plain pickles (`.pkl`, `.pickle`), joblib files (uncompressed, or zlib / gzip / bz2 / xz / lzma
compressed), and the pickles inside a PyTorch zip (`data.pkl`). This is a scanner, and scanners can be bypassed
(an allowed global that reaches a denied one, opcodes after raw array bytes that stop the parse): the safe
formats (skops, .pt2, ONNX) stay the first defence. A plain pickle is also loaded through an unpickler that
refuses the denied globals when they are resolved.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

from modelport.core.errors import UnsafeError

# modules whose every global runs commands, code or I/O outside the model; builtins names that do the same
DENIED_MODULES = {"os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "importlib", "runpy", "pty",
                  "ctypes", "multiprocessing", "webbrowser", "code", "codeop", "pdb", "commands", "marshal",
                  "asyncio", "tempfile", "urllib", "http", "requests", "pickle", "_pickle", "dill", "types"}
DENIED_BUILTINS = {"eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
                   "locals", "vars", "input", "breakpoint", "exit", "quit", "help"}
LIMIT = 1 << 30  # bytes of pickle read for a scan
_policy = {"allow_unsafe": False}  # --trust-unsafe, for this command


def allow_unsafe(value: bool) -> None:
    _policy["allow_unsafe"] = bool(value)


def unsafe_allowed() -> bool:
    return _policy["allow_unsafe"]


def denied(module: str, name: str) -> bool:
    top = module.split(".")[0]
    if top in ("builtins", "__builtin__"):
        return name.split(".")[0] in DENIED_BUILTINS
    return top in DENIED_MODULES


def _streams(path: Path):
    """(label, bytes) of each pickle in the file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".pkl") and info.file_size <= LIMIT:
                    yield info.filename, archive.read(info)
        return
    with open(path, "rb") as fh:
        data = fh.read(LIMIT)
    yield path.name, _decompressed(data)


def _decompressed(data: bytes) -> bytes:
    """joblib's compressed files (zlib, gzip, bz2, xz, lzma): the pickle inside."""
    import bz2
    import gzip
    import lzma
    import zlib

    openers = ((b"\x78", zlib.decompress), (b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress),
               (b"\xfd7zXZ\x00", lzma.decompress), (b"\x5d\x00\x00", lzma.decompress))
    for magic, opener in openers:
        if data.startswith(magic):
            try:
                return opener(data)
            except (OSError, ValueError, EOFError, lzma.LZMAError, zlib.error):
                return data
    return data


def globals_in(data: bytes) -> list[str]:
    """`module.name` of every global the pickle's opcodes import (GLOBAL, STACK_GLOBAL), in order. The parse
    stops where the stream stops being a pickle (joblib writes raw array bytes inside it): what follows is not
    seen here, which is why loading also goes through a guarded unpickler (`guarded`)."""
    found: list[str] = []
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING",
                               "BINSTRING", "STRING"):
                strings.append(str(arg))
            elif opcode.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # raw data or a truncated stream: the rest is for the guarded load
        pass
    return found


def scan(path: str | Path) -> list[str]:
    """Every global the pickles in `path` import (deduplicated, in order)."""
    seen: dict[str, None] = {}
    for _, data in _streams(Path(path)):
        for name in globals_in(data):
            seen.setdefault(name, None)
    return list(seen)


def check(path: str | Path) -> list[str]:
    """Refuse (exit 4) a pickle that imports a denied global, unless --trust-unsafe. Returns its globals."""
    names = scan(path)
    bad = [n for n in names if denied(*_split(n))]
    if bad and not unsafe_allowed():
        raise UnsafeError(f"{path}: the pickle imports {', '.join(bad[:5])}: loading it would run commands or "
                          "code, even with --trust",
                          hint="re-save the model in a safe format (skops, .pt2); --trust-unsafe loads it anyway")
    return names


def _split(name: str) -> tuple[str, str]:
    module, _, attr = name.rpartition(".")
    return module, attr


def _refuse(module: str, name: str) -> None:
    if denied(module, name) and not unsafe_allowed():
        raise UnsafeError(f"the pickle imports {module}.{name} (it would run commands or code): refused",
                          hint="re-save the model in a safe format (skops, .pt2); --trust-unsafe loads it anyway")


def guarded_module():
    """A `pickle`-like module whose Unpickler refuses the denied globals as they are resolved (torch.load's
    `pickle_module`)."""
    import pickle
    import types

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            _refuse(module, name)
            return super().find_class(module, name)

    module = types.ModuleType("modelport_guarded_pickle")
    module.__dict__.update({k: getattr(pickle, k) for k in ("load", "loads", "dump", "dumps", "Pickler",
                                                            "UnpicklingError", "HIGHEST_PROTOCOL")})
    module.Unpickler = Unpickler
    module.load = lambda fh, **kw: Unpickler(fh, **kw).load()
    return module


def joblib_load(path: Path):
    """joblib.load through its own unpickler, with the denied globals refused as they are resolved."""
    from joblib import numpy_pickle

    base = numpy_pickle.NumpyUnpickler

    class Guarded(base):
        def find_class(self, module, name):
            _refuse(module, name)
            return super().find_class(module, name)

    numpy_pickle.NumpyUnpickler = Guarded  # joblib builds its unpickler by this module-level name
    try:
        return numpy_pickle.load(str(path))
    finally:
        numpy_pickle.NumpyUnpickler = base
