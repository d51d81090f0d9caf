"""Atomic output: write in a locked work folder beside the target, rename at the end, clean up on failure."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import stat
import time
import uuid
from pathlib import Path

from modelport.core.errors import UsageError

SIDECARS = (".sig", ".intoto.jsonl")  # a signed output's signature and attestation, committed with it


class PendingOutput:
    """A work folder beside `final`; `commit()` moves the result (and its `.data` side file) into place.

    The folder (a WorkFolder) holds the result under `final`'s own name, so a converter that writes external
    weights names them `NAME.data` as the committed file will find them. Used as a context manager, anything
    not committed is removed on exit.
    """

    def __init__(self, final: str | Path, force: bool = False, source: str | Path | None = None) -> None:
        self.final = Path(final)
        if source is not None and _same_file(self.final, Path(str(source))):
            raise UsageError(f"{final}: output would overwrite the input", hint="choose another -o path")
        if self.final.exists() and not force:
            raise UsageError(f"{final} already exists", hint="pass --force to overwrite it")
        if self.final.exists() and self.final.is_dir():
            raise UsageError(f"{final} is a folder", hint="choose a file path for -o")
        self.force = force
        self.folder = WorkFolder(self.final)  # also: the output folder must exist (exit 2)
        self.dir = self.folder.dir
        self.path = self.dir / self.final.name

    @property
    def work(self) -> Path:
        """Scratch space for intermediate files, removed with the output's folder."""
        work = self.dir / "work"
        work.mkdir(exist_ok=True)
        return work

    def commit(self) -> Path:
        """Move the result into place under a lock on the output's folder (concurrent writers take turns).

        A self-contained file replaces the old one in one rename. A result with weights in `NAME.data` cannot:
        the old file is removed first, then the data and the file are renamed in, so a kill at any moment
        leaves the output absent or complete, never a file pointing at another run's weights."""
        data, final_data = side_data(self.path), side_data(self.final)
        sidecars = [(self.path.parent / f"{self.path.name}{s}", self.final.parent / f"{self.final.name}{s}")
                    for s in SIDECARS]
        with _locked(self.final.parent):
            if self.final.exists() and not self.force:
                raise UsageError(f"{self.final} already exists (written by another run meanwhile)",
                                 hint="pass --force to overwrite it")
            # signature and attestation first: a kill before the model lands leaves the old model with a
            # signature that does not match it (refused), never a new model under the old model's signature
            for mine, theirs in sidecars:
                if mine.exists():
                    os.replace(mine, theirs)
                else:
                    theirs.unlink(missing_ok=True)
            if data.exists():
                os.chmod(data, stat.S_IMODE(os.stat(self.path).st_mode))  # converters write it owner-only
                self.final.unlink(missing_ok=True)
                os.replace(data, final_data)
                os.replace(self.path, self.final)
            else:
                os.replace(self.path, self.final)
                if self.final.suffix == ".onnx":
                    final_data.unlink(missing_ok=True)  # the replaced file's weights
        self.discard()
        return self.final

    def discard(self) -> None:
        self.folder.remove()

    def __enter__(self) -> PendingOutput:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


WORK_SUFFIX = ".modelport"
LOCK = ".lock"


class WorkFolder:
    """A hidden folder `.NAME.<id>.modelport` beside an output, locked (flock) while this run lives.

    Creating one first removes the folders of killed runs for the same output (their lock is free), never a
    live run's. Locked before it gets the name a sweep looks for, so no run can take it for a killed one's.
    """

    def __init__(self, final: Path) -> None:
        if not final.parent.is_dir():
            raise UsageError(f"{final.parent}: output folder does not exist", hint="create it first")
        sweep_stale(final)
        token = uuid.uuid4().hex[:8]
        starting = final.parent / f".{final.name}.{token}-{os.getpid()}.starting"  # a sweep can tell it is dead
        starting.mkdir()
        # the lock is a file inside: the folder itself stays free for a commit lock of outputs written in it
        self._lock = _lock(starting / LOCK, block=True)
        self.dir = final.parent / f".{final.name}.{token}{WORK_SUFFIX}"
        os.rename(starting, self.dir)
        _HELD.add(self.dir.absolute())

    def remove(self) -> None:
        _HELD.discard(self.dir.absolute())
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> Path:
        return self.dir

    def __exit__(self, *exc) -> None:
        self.remove()


def side_data(path: Path) -> Path:
    """Where a model's weights beside it live: an ONNX file's external data `NAME.data` (`model.onnx.data`), an
    OpenVINO IR's `STEM.bin` (`model.bin`). Committed and removed with the file."""
    if path.suffix == ".xml":
        return path.with_suffix(".bin")
    return path.parent / f"{path.name}.data"


def is_work_path(path: str | Path) -> bool:
    """True for anything inside another run's work folder (not one this process holds): never an input."""
    path = Path(path).absolute()
    for folder in (path, *path.parents):
        if folder.name.startswith(".") and folder.name.endswith(WORK_SUFFIX):
            return folder not in _HELD
    return False


_HELD: set[Path] = set()  # this process's live work folders: their files are the pipeline's own intermediates


def is_own_work_path(path: str | Path) -> bool:
    """True for a file inside one of this process's live work folders (a result being checked or verified)."""
    path = Path(path).absolute()
    return any(folder in _HELD for folder in (path, *path.parents))


def sweep_stale(final: Path) -> None:
    """Remove the work folders of killed runs for `final` (their lock is free), and a data file whose model
    never made it into place."""
    name = glob.escape(final.name)
    starting = [f for f in final.parent.glob(f".{name}.*.starting") if _dead(f) or _age(f) > 60]
    for folder in [*final.parent.glob(f".{name}.*{WORK_SUFFIX}"), *starting]:
        fd = _lock(folder / LOCK, block=False)
        if fd is not None:
            shutil.rmtree(folder, ignore_errors=True)
            os.close(fd)
    data = side_data(final)
    if data.exists() and not final.exists():
        with _locked(final.parent):
            if not final.exists():
                data.unlink(missing_ok=True)


def _dead(starting: Path) -> bool:
    """A folder being set up (not yet locked) whose process is gone: killed between mkdir and lock."""
    pid = starting.name[: -len(".starting")].rpartition("-")[2]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _lock(path: Path, block: bool) -> int | None:
    """An exclusive flock on a folder or a lock file, created if missing (the kernel drops it when the process
    dies); None if another open file holds it (and `block` is False)."""
    try:
        fd = os.open(path, os.O_RDONLY) if path.is_dir() else os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def _locked(folder: Path):
    fd = _lock(folder, block=True)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def remove(path: Path) -> None:
    """Remove a file (or folder) and the side files named after it (external data, `.prov` rewrites)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
    for extra in path.parent.glob(path.name + "*"):
        extra.unlink(missing_ok=True)
    if path.suffix == ".xml":  # an OpenVINO IR's weights
        side_data(path).unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.resolve() == b.resolve()
    except OSError:
        return False


def size_of_path(path: str | Path) -> int:
    """Bytes of a file (with its `NAME.data` weights), or of every file in a folder (SavedModel); 0 for a
    missing path."""
    path = Path(str(path))
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return sum(p.stat().st_size for p in (path, side_data(path)) if p.is_file())


def sha256_of(path: str | Path) -> str:
    """sha256 of a file (then its `NAME.data` weights), or of a folder's files in sorted order (SavedModel)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [
        p for p in (path, side_data(path)) if p.is_file()]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
