"""Model formats and their detection: flag > directory markers > extension > magic bytes.

A *format* is a file layout (torch.export program, TorchScript, .keras, ...); a *framework* is a family
of formats. Detection reads at most a zip directory or a few header bytes; it never imports a framework.
"""

from __future__ import annotations

import zipfile
from enum import Enum
from pathlib import Path

from modelport.core.archive import check_entries
from modelport.core.errors import UsageError
from modelport.core.io import is_work_path


class Format(str, Enum):
    TORCH_EXPORT = "torch.export"
    TORCHSCRIPT = "torchscript"
    TORCH_PY = "torch.py"
    TORCH_PICKLE = "torch.pickle"
    TRANSFORMERS = "transformers"  # a Hugging Face save_pretrained folder (config.json + weights)
    KERAS = "keras"
    TF_SAVEDMODEL = "tf.savedmodel"
    SKLEARN_SKOPS = "sklearn.skops"
    SKLEARN_PICKLE = "sklearn.pickle"
    ONNX = "onnx"
    TFLITE = "tflite"
    OPENVINO = "openvino"  # OpenVINO IR: model.xml + model.bin
    EXECUTORCH = "executorch"  # an ExecuTorch program (.pte)

    def __str__(self) -> str:
        return self.value

    @property
    def framework(self) -> str:
        return FRAMEWORK[self]


FRAMEWORK = {
    Format.TORCH_EXPORT: "torch",
    Format.TORCHSCRIPT: "torch",
    Format.TORCH_PY: "torch",
    Format.TORCH_PICKLE: "torch",
    Format.TRANSFORMERS: "torch",
    Format.KERAS: "tensorflow",
    Format.TF_SAVEDMODEL: "tensorflow",
    Format.SKLEARN_SKOPS: "sklearn",
    Format.SKLEARN_PICKLE: "sklearn",
    Format.ONNX: "onnx",
    Format.TFLITE: "tflite",
    Format.OPENVINO: "openvino",
    Format.EXECUTORCH: "executorch",
}

# Formats that can only be read by running code from the file: they need --trust.
UNSAFE = {Format.TORCH_PY, Format.TORCH_PICKLE, Format.SKLEARN_PICKLE}

# Formats stored as zip archives: `core.archive.check_archive` vets them before a framework reads them.
ZIP_FORMATS = {Format.TORCH_EXPORT, Format.TORCHSCRIPT, Format.TORCH_PICKLE, Format.KERAS, Format.SKLEARN_SKOPS}

TARGET_EXTENSIONS = {".onnx": Format.ONNX, ".tflite": Format.TFLITE, ".xml": Format.OPENVINO, ".pte": Format.EXECUTORCH}
SUFFIXES = {fmt: ext for ext, fmt in TARGET_EXTENSIONS.items()}  # Format.OPENVINO -> ".xml"

_EXTENSIONS = {
    ".pt2": Format.TORCH_EXPORT,
    ".ts": Format.TORCHSCRIPT,
    ".keras": Format.KERAS,
    ".h5": Format.KERAS,
    ".hdf5": Format.KERAS,
    ".skops": Format.SKLEARN_SKOPS,
    ".pkl": Format.SKLEARN_PICKLE,
    ".pickle": Format.SKLEARN_PICKLE,
    ".joblib": Format.SKLEARN_PICKLE,
    ".onnx": Format.ONNX,
    ".tflite": Format.TFLITE,
    ".xml": Format.OPENVINO,
    ".pte": Format.EXECUTORCH,
}

KNOWN = (
    ".pt2 (torch.export), .pt/.ts (TorchScript), file.py:callable (factory, --trust), "
    ".keras/.h5, SavedModel folder, Hugging Face save_pretrained folder (config.json), .skops, "
    ".pkl/.joblib (--trust), .onnx, .tflite, .xml (OpenVINO IR), .pte (ExecuTorch)"
)


def parse_format(value: str) -> Format:
    try:
        return Format(value)
    except ValueError:
        names = ", ".join(f.value for f in Format)
        raise UsageError(f"unknown format '{value}'", hint=f"known formats: {names}") from None


def is_factory_ref(source: str) -> bool:
    """`path/to/file.py:callable` or `package.module:callable` (a Python factory returning a model)."""
    if ":" not in source or Path(source).exists():
        return False
    module, _, attr = source.rpartition(":")
    return bool(module) and attr.isidentifier() and (module.endswith(".py") or "/" not in module)


def detect(source: str | Path, flag: str | Format | None = None) -> Format:
    """Detect the format of a model path. Raises UsageError (exit 2) when it cannot be read, UnsafeError (exit 4)
    for a zip archive with an absolute or `..` entry name or a zip-bomb size total."""
    text = str(source)
    if flag or is_factory_ref(text):  # checked by open_model before it reads
        return Format.TORCH_PY if not flag else flag if isinstance(flag, Format) else parse_format(flag)
    path = Path(text)
    if not path.exists():
        raise UsageError(f"{text}: no such file or folder", hint="check the path")
    if is_work_path(path):
        raise UsageError(f"{text}: an unfinished modelport output (a run in progress, or killed)",
                         hint="use the finished file beside its work folder; the next run for it removes the folder")
    from modelport.core.signature_policy import ensure

    ensure(path)  # --require-signature: before any byte is read
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            return Format.TF_SAVEDMODEL
        if (path / "config.json").exists():
            return Format.TRANSFORMERS
        raise UsageError(
            f"{text}: folder holds no model (no saved_model.pb, no config.json)",
            hint=f"known formats: {KNOWN}",
        )
    if path.stat().st_size == 0:
        raise UsageError(f"{text}: file is empty", hint="re-save the model")
    head = _head(path)
    by_magic = _by_magic(path, head)
    ext = path.suffix.lower()
    if ext == ".pt" or ext == ".pth":
        if by_magic is None:
            raise UsageError(f"{text}: not a PyTorch archive (corrupt or truncated?)", hint="re-save the model")
        return by_magic
    by_ext = _EXTENSIONS.get(ext)
    if by_ext is not None:
        # A zip-based format whose zip is unreadable is corrupt: say so now, not deep in a framework.
        if by_ext in (Format.TORCH_EXPORT, Format.TORCHSCRIPT, Format.SKLEARN_SKOPS) and by_magic is None:
            raise UsageError(f"{text}: not a valid {by_ext} file (corrupt or truncated?)", hint="re-save the model")
        if by_ext is Format.OPENVINO and b"<net" not in path.read_bytes()[:1024]:
            raise UsageError(f"{text}: not an OpenVINO IR (no <net> element)",
                             hint="modelport reads .xml files that OpenVINO wrote (model.xml + model.bin)")
        if by_ext is Format.EXECUTORCH and by_magic is not Format.EXECUTORCH:
            raise UsageError(f"{text}: not an ExecuTorch program (no ET header; corrupt or truncated?)",
                             hint="re-export it with executorch's to_executorch()")
        if ext == ".keras" and by_magic is not Format.KERAS:
            raise UsageError(f"{text}: not a valid .keras archive (corrupt or truncated?)", hint="re-save the model")
        return by_ext
    if by_magic is not None:
        return by_magic
    raise UsageError(f"{text}: unrecognised model format", hint=f"known formats: {KNOWN}; or pass --from")


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(16)


def _by_magic(path: Path, head: bytes) -> Format | None:
    if head[:4] == b"\x89HDF":
        return Format.KERAS
    if head[4:8] == b"TFL3":
        return Format.TFLITE
    if head[4:6] == b"ET" and head[6:8].isdigit():  # flatbuffer identifier ET12 (format version 12)
        return Format.EXECUTORCH
    if head[:2] != b"PK":
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError):
        return None
    check_entries(path, entries, path.stat().st_size)  # an escaping or bomb archive: exit 4, before any framework
    names = [e.filename for e in entries]
    tails = {n.split("/", 1)[-1] for n in names}
    if "schema.json" in names:
        return Format.SKLEARN_SKOPS
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return Format.KERAS
    if "models/model.json" in tails or "archive_format" in tails:
        return Format.TORCH_EXPORT
    if any(t.startswith("code/") for t in tails) and "constants.pkl" in tails:
        return Format.TORCHSCRIPT
    if "data.pkl" in tails:
        return Format.TORCH_PICKLE
    return None


def target_format(out: str | Path, flag: str | None = None) -> Format:
    if flag:
        fmt = parse_format(flag)
        if fmt not in TARGET_EXTENSIONS.values():
            raise UsageError(f"cannot convert to '{flag}'", hint="targets: onnx, tflite, openvino, executorch")
        return fmt
    ext = Path(out).suffix.lower()
    if ext not in TARGET_EXTENSIONS:
        raise UsageError(f"{out}: cannot tell the target format from the extension",
                         hint="use .onnx, .tflite, .xml (OpenVINO IR) or .pte (ExecuTorch), or --to onnx")
    return TARGET_EXTENSIONS[ext]
