"""Where a command's model comes from: a path, or a registered version (`models:/NAME/VERSION`,
`models:/NAME@ALIAS`, `models:/NAME/latest`) downloaded from the MLflow registry first."""

from __future__ import annotations

from pathlib import Path


def local(source: str | Path) -> str | Path:
    """The local file for a source: a models:/ URI's download (exit 2 when the version does not exist, 5 without
    MLflow); anything else unchanged."""
    from modelport.loaders.mlflow_store import fetch, is_models_uri

    return str(fetch(str(source))) if is_models_uri(source) else source


def label(source: str | Path, info: dict) -> dict:
    """A model's info as reports show it: a registered version keeps its models:/ URI as its path."""
    from modelport.loaders.mlflow_store import is_models_uri

    return info | {"path": str(source), "file": info.get("path")} if is_models_uri(source) else info
