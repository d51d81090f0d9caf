"""Zip archive safety: refuse entries that escape the archive and declared sizes that add up to a bomb.

`.keras`, `.skops`, `.pt2` and TorchScript/torch `.pt` files are zip archives that frameworks unpack or read
entry by entry. A file saved by its framework never names an entry `/etc/...`, `C:...` or `../...`, and never
declares gigabytes behind a small file, so such a file is refused (exit 4) before any framework reads it.
Only the central directory is read; no entry is decompressed. No framework imports here.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from modelport.core.errors import UnsafeError

MAX_RATIO = 100  # declared uncompressed total / file size ...
MAX_TOTAL = 1 << 30  # ... and over 1 GiB: both must hold to refuse (a large uncompressed model is fine)
ZIP_MAGIC = b"PK"
_DRIVE = re.compile(r"^[A-Za-z]:")
_HINT = "a model saved by its framework never holds such an entry; do not load this file, re-save the model"


def check_archive(path: str | Path) -> None:
    """Raise UnsafeError if `path` is a zip with an absolute or `..` entry name or a zip-bomb size total.

    Anything that is not a readable zip passes: telling a corrupt file apart is format detection's job."""
    path = Path(path)
    try:
        if not path.is_file():
            return
        with open(path, "rb") as fh:
            if fh.read(2) != ZIP_MAGIC:
                return
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
        size = path.stat().st_size
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError):
        return
    check_entries(path, entries, size)


def check_entries(path: str | Path, entries: list[zipfile.ZipInfo], size: int) -> None:
    """The checks of `check_archive` on an already read central directory (`size`: the file's bytes)."""
    for info in entries:
        problem = unsafe_name(info.filename)
        if problem:
            raise UnsafeError(f"{path}: archive entry {_show(info.filename)} {problem}", hint=_HINT)
    total = sum(max(info.file_size, 0) for info in entries)
    if total > MAX_TOTAL and total > MAX_RATIO * max(size, 1):
        raise UnsafeError(
            f"{path}: archive entries declare {total:,} bytes uncompressed, {total // max(size, 1):,}x the "
            f"{size:,}-byte file (a zip bomb?)",
            hint="a saved model does not compress like this; do not load this file, re-save the model",
        )


def unsafe_name(name: str) -> str | None:
    """Why an entry name is unsafe ("has an absolute path", "climbs out of the archive"), or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return "has an absolute path"
    if ".." in norm.split("/"):
        return "climbs out of the archive ('..')"
    return None


def _show(name: str, limit: int = 80) -> str:
    """An entry name on one line, whatever bytes it holds."""
    text = repr(name[:limit])
    return text if len(name) <= limit else text + "..."
