"""The MLflow model registry as a place models come from: `models:/NAME/VERSION`, `models:/NAME@ALIAS`,
`models:/NAME/latest` resolved to a local file, and the client `modelport register` writes through.

The store is the one users start: `MLFLOW_TRACKING_URI` when it is set (a team server), else an embedded
SQLite file `mlflow.db` with its artifact folder `mlruns/` in the working directory. MLflow is imported only
here, inside functions (`modelport[mlflow]`; exit 5 without it), and its chatter (database migrations,
"Created version", download bars) is kept off the terminal unless --debug.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

PREFIX = "models:/"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+|latest)|@(?P<alias>[\w.-]+))$")
_fetched: dict[tuple[str, str], Path] = {}  # (store, uri) -> the downloaded model file


def is_models_uri(source: Any) -> bool:
    return isinstance(source, str) and source.startswith(PREFIX)


def parse(uri: str) -> tuple[str, str | None, str | None]:
    """(name, version or "latest", alias) of a models:/ URI; UsageError (exit 2) for anything else."""
    from modelport.core.errors import UsageError

    match = _URI.match(uri)
    if not match:
        raise UsageError(f"{uri}: not a registry URI modelport reads",
                         hint="models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest")
    return match["name"], match["version"], match["alias"]


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


@contextlib.contextmanager
def quiet():
    """MLflow logs database migrations and prints "Successfully registered model" to stderr: not ours to show."""
    from modelport.core.logs import debugging
    from modelport.core.logs import quiet as quiet_logs

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if debugging():
        yield
        return
    with quiet_logs("mlflow", "alembic", "sqlalchemy"), contextlib.redirect_stderr(io.StringIO()):
        yield


def client():
    """An MlflowClient on the store (see module doc); MissingDependency (exit 5) without MLflow."""
    from modelport.core.errors import UsageError, require

    # A server that is down fails in seconds, not after MLflow's default 7 retries with backoff (4 minutes);
    # the user's own settings win.
    for key, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                       ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")):
        os.environ.setdefault(key, value)
    mlflow = require("mlflow", "mlflow", "use an MLflow model registry")
    uri = tracking_uri()
    with quiet():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            from mlflow import MlflowClient

            made = MlflowClient(uri, uri)
            made.search_registered_models(max_results=1)  # opens (and for a new file, creates) the store now
        except Exception as exc:
            from modelport.core.errors import one_line

            raise UsageError(f"cannot open the MLflow store {uri} ({one_line(exc)})",
                             hint="check MLFLOW_TRACKING_URI") from exc
    return made


def version_of(mlflow_client, uri: str):
    """The ModelVersion a models:/ URI names; UsageError (exit 2) naming what exists when it does not."""
    from modelport.core.errors import UsageError

    name, version, alias = parse(uri)
    with quiet():
        try:
            if alias:
                return mlflow_client.get_model_version_by_alias(name, alias)
            if version == "latest":
                found = mlflow_client.search_model_versions(f"name='{_quote(name)}'")
                if found:
                    return max(found, key=lambda v: int(v.version))
                raise LookupError
            return mlflow_client.get_model_version(name, version)
        except Exception as exc:
            raise UsageError(f"{uri}: no such model version in {tracking_uri()}",
                             hint=f"modelport register --list {name} shows its versions") from exc


def fetch(uri: str) -> Path:
    """Download a registered version once per process; the model file in it (ONNX or TFLite). The download is
    removed when the process ends."""
    from modelport.core.errors import UsageError

    key = (tracking_uri(), uri)
    if key in _fetched:
        return _fetched[key]
    found = version_of(client(), uri)  # exit 5 without MLflow, 2 without the version
    import mlflow

    where = Path(tempfile.mkdtemp(prefix="modelport-registry-"))
    atexit.register(shutil.rmtree, where, True)
    with quiet():
        try:
            folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=found.source, dst_path=str(where)))
        except Exception as exc:
            from modelport.core.errors import one_line

            raise UsageError(f"{uri}: cannot download version {found.version} ({one_line(exc)})") from exc
    path = model_file(folder)
    if path is None:
        raise UsageError(f"{uri}: version {found.version} holds no ONNX or TFLite model",
                         hint="modelport reads models registered by `modelport register`")
    _fetched[key] = path
    return path


def model_file(folder: Path) -> Path | None:
    """The model in a downloaded version: the ONNX flavor's file (MLmodel), else the one .onnx / .tflite."""
    mlmodel = folder / "MLmodel"
    if mlmodel.exists():
        import yaml

        data = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("onnx", {}).get("data")
        if data and (folder / data).is_file():
            return folder / data
    found = sorted(p for p in folder.iterdir() if p.suffix in (".onnx", ".tflite"))
    return found[0] if len(found) == 1 else None


def _quote(text: str) -> str:
    return text.replace("'", "\\'")
