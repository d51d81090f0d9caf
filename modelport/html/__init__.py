"""`--report PATH.html`: a self-contained page of a command's report (`modelport[report]`: Jinja2 and Bokeh).
Imported only when a page is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.core.errors import MissingDependency, UsageError


def require() -> None:
    """Exit 5 with the install line when the page's libraries are missing (checked before the command runs)."""
    import importlib.util

    for module in ("jinja2", "bokeh"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependency(module, "report", "write an HTML report (--report)")


def check_path(path: str | Path) -> Path:
    """The page's path, checked before the command runs: an .html file in an existing folder (exit 2)."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--report {path}: the page is an .html file", hint="--report report.html")
    if not path.parent.is_dir():
        raise UsageError(f"--report {path}: no folder {path.parent}")
    return path


def write(report: dict[str, Any], path: str | Path) -> Path:
    """Write the page for `report` (a `Report.to_dict()`) to `path` whole, or not at all."""
    from modelport.core.io import PendingOutput
    from modelport.html.page import render

    text = render(report, Path(path).absolute().parent)
    with PendingOutput(str(path), force=True) as pending:
        Path(pending.path).write_text(text, encoding="utf-8")
        return pending.commit()
