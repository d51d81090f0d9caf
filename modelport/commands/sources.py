"""Where a command's model comes from: a path, or a registered version (`models:/NAME/VERSION`,
`models:/NAME@ALIAS`, `models:/NAME/latest`) downloaded from the MLflow registry first."""

from __future__ import annotations

from pathlib import Path

_versions: dict[str, str] = {}  # models:/ URI given -> models:/NAME/N it resolved to (an alias, latest)


def local(source: str | Path) -> str | Path:
    """The local file for a source: a models:/ URI's download (exit 2 when the version does not exist, 5 without
    MLflow); anything else unchanged."""
    from modelport.loaders.mlflow_store import fetch, is_models_uri

    if not is_models_uri(source):
        return source
    path, _versions[str(source)] = fetch(str(source))
    return str(path)


def version_uri(source: str | Path) -> str | None:
    """The fixed `models:/NAME/N` a models:/ source resolved to (None for a path, or before `local`)."""
    return _versions.get(str(source))


def label(source: str | Path, info: dict) -> dict:
    """A model's info as reports show it: a registered version keeps its URI as its path, with the version it
    resolved to (`version_uri`: an alias moves, a version does not) and the downloaded file."""
    fixed = version_uri(source)
    return info if fixed is None else info | {"path": str(source), "version_uri": fixed, "file": info.get("path")}
