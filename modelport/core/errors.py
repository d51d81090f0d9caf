"""Typed errors. Library code raises these; only `modelport.cli.app` maps them to exit codes."""

from __future__ import annotations


class ModelportError(Exception):
    """Base error: a one-line message plus an optional hint for the user."""

    exit_code = 70
    kind = "internal"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class VerificationRefused(ModelportError):
    """A model whose recorded verification failed, refused where only verified models go (exit 1)."""

    exit_code = 1
    kind = "verification_failed"


class UsageError(ModelportError):
    """Bad flags, or an input that is missing, unreadable or corrupt (exit 2)."""

    exit_code = 2
    kind = "usage"


class UnsupportedError(ModelportError):
    """No route for this format pair, or every route failed (exit 3)."""

    exit_code = 3
    kind = "unsupported"


class ConversionFailed(UnsupportedError):
    """Every route of a chain was tried and none produced a verified model."""

    kind = "conversion_failed"

    def __init__(self, message: str, hint: str | None = None, attempts: list | None = None) -> None:
        super().__init__(message, hint)
        self.attempts = attempts or []


class UnsafeError(ModelportError):
    """Loading would run arbitrary code; the user must pass --trust (exit 4)."""

    exit_code = 4
    kind = "unsafe"


class MissingDependency(ModelportError):
    """An optional framework is not installed (exit 5). Never auto-installed."""

    exit_code = 5
    kind = "missing_dependency"

    def __init__(self, package: str, extra: str | None, what: str | None = None) -> None:
        need = f" to {what}" if what else ""
        super().__init__(
            f"{package} is not installed; it is needed{need}",
            hint=f"pip install 'modelport[{extra}]'" if extra else f"pip install {package}",
        )
        self.package = package
        self.extra = extra


def one_line(exc: BaseException, limit: int = 200) -> str:
    """`Type: first line of the message`, for one-line error reports (terminal colour codes dropped: torch.onnx
    colours its step banners)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0].strip()[:limit]}" if text else type(exc).__name__


def require(module: str, extra: str, what: str | None = None):
    """Import an optional framework module or raise MissingDependency (exit 5)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # Only the module itself missing is a missing dependency; a broken install is internal.
        top = module.split(".")[0]
        if getattr(exc, "name", None) and exc.name.split(".")[0] != top:
            raise
        raise MissingDependency(top, extra, what) from exc


def first_line(exc: BaseException) -> str:
    """One line saying why a converter failed: the innermost cause, preferring a line naming an op."""
    import re

    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 8:
        chain.append(chain[-1].__cause__)
    inner = chain[-1]
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    lines = [ansi.sub("", ln).strip() for ln in str(inner).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    for candidate in lines:
        if any(k in candidate for k in ("Unsupported", "unsupported", "not supported", "Failed to", "No conversion")):
            line = candidate
            break
    name = type(inner).__name__ if inner is exc else f"{type(exc).__name__} <- {type(inner).__name__}"
    return f"{name}: {line[:240]}" if line else name
