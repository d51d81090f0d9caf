"""Atomic output: write to a temp file in the target folder, rename at the end, clean up on failure."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from modelport.core.errors import UsageError


class PendingOutput:
    """A temp path beside `final`; `commit()` renames it into place, `discard()` removes it.

    Used as a context manager, anything not committed is removed on exit, so a failure never leaves a
    half-written file behind.
    """

    def __init__(self, final: str | Path, force: bool = False, source: str | Path | None = None) -> None:
        self.final = Path(final)
        if source is not None and _same_file(self.final, Path(str(source))):
            raise UsageError(f"{final}: output would overwrite the input", hint="choose another -o path")
        if self.final.exists() and not force:
            raise UsageError(f"{final} already exists", hint="pass --force to overwrite it")
        if self.final.exists() and self.final.is_dir():
            raise UsageError(f"{final} is a folder", hint="choose a file path for -o")
        parent = self.final.parent
        if not parent.exists():
            raise UsageError(f"{parent}: output folder does not exist", hint="create it first")
        # Keep the suffix: some converters decide the file type from it.
        self.path = parent / f".{self.final.stem}.{uuid.uuid4().hex[:8]}.partial{self.final.suffix}"
        self.committed = False

    def commit(self) -> Path:
        os.replace(self.path, self.final)
        self.committed = True
        return self.final

    def discard(self) -> None:
        remove(self.path)

    def __enter__(self) -> PendingOutput:
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed:
            self.discard()


def remove(path: Path) -> None:
    """Remove a file (or folder) and the side files named after it (external data, `.prov` rewrites)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
    for extra in path.parent.glob(path.name + "*"):
        extra.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.resolve() == b.resolve()
    except OSError:
        return False


def size_of_path(path: str | Path) -> int:
    """Bytes of a file, or of every file in a folder (SavedModel); 0 for a missing path."""
    path = Path(str(path))
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def sha256_of(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files in sorted order (SavedModel)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
