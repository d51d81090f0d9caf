"""The MLflow model registry as a place models come from: `models:/NAME/VERSION`, `models:/NAME@ALIAS`,
`models:/NAME/latest` resolved to a local file, and the client `modelport register` writes through.

The store is the one users start: `MLFLOW_TRACKING_URI` when it is set (a team server), else an embedded
SQLite file `mlflow.db` with its artifact folder `mlruns/` in the working directory; `MLFLOW_REGISTRY_URI`, when
set, names the registry. Everything goes through an explicit `MlflowClient`: modelport never sets MLflow's
process-wide tracking URI, experiment or active run (a user's own MLflow calls in the same process, and
`MLFLOW_RUN_ID` under `mlflow run`, are left alone). MLflow is imported only here and in commands/register.py,
inside functions (`modelport[mlflow]`; exit 5 without it); its chatter (database migrations, "Created
version", download bars) is kept off the terminal unless --debug.
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
NAME = r"[^/@]+"
ALIAS = r"[\w-]+"  # what MLflow accepts for an alias
_URI = re.compile(rf"^models:/(?P<name>{NAME})(?:/(?P<version>\d+|latest)|@(?P<alias>{ALIAS}))$")
_fetched: dict[tuple[str, str, str], Path] = {}  # (store, name, version) -> the downloaded model file
# A server that is down fails in seconds rather than after MLflow's default 7 retries with backoff (minutes);
# the user's own settings win.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


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


def check_alias(alias: str) -> None:
    """MLflow's rule for aliases, checked before any work (exit 2)."""
    from modelport.core.errors import UsageError

    if not re.fullmatch(ALIAS, alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise UsageError(f"--alias '{alias}': an alias is letters, digits, '_' and '-', and not 'latest' or "
                         "v<number>", hint="for example --alias production")


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def registry_uri() -> str:
    return os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri()


def shown(uri: str) -> str:
    """A store URI as reports and messages show it: without a user:password@ part."""
    return re.sub(r"//[^/@]*@", "//***@", uri)


@contextlib.contextmanager
def quiet():
    """MLflow logs database migrations and prints "Successfully registered model" to stderr: not ours to show."""
    from modelport.core.logs import debugging
    from modelport.core.logs import quiet as quiet_logs

    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if debugging():
        yield
        return
    with quiet_logs("mlflow", "alembic", "sqlalchemy"), contextlib.redirect_stderr(io.StringIO()):
        yield


def client():
    """An MlflowClient on the store (see module doc), opened now; MissingDependency (exit 5) without MLflow,
    UsageError (exit 2) when the store cannot be opened."""
    from modelport.core.errors import UsageError, one_line, require

    require("mlflow", "mlflow", "use an MLflow model registry")
    with quiet():
        try:
            from mlflow import MlflowClient

            made = MlflowClient(tracking_uri(), registry_uri())
            made.search_registered_models(max_results=1)  # opens (and for a new file, creates) the store now
        except Exception as exc:
            raise UsageError(f"cannot open the MLflow store {shown(tracking_uri())} ({one_line(exc)})",
                             hint="check MLFLOW_TRACKING_URI (and MLFLOW_REGISTRY_URI)") from exc
    return made


def missing(exc: BaseException) -> bool:
    """True when MLflow said the thing asked for does not exist (not: the server failed)."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def name_filter(name: str) -> str:
    """`name = '...'` for search_model_versions; MLflow keeps a backslash escape, so quote with the other kind."""
    return f'name = "{name}"' if "'" in name else f"name = '{name}'"


def version_of(mlflow_client, uri: str):
    """The ModelVersion a models:/ URI names: exit 2 naming `register --list` when it does not exist, exit 2
    "cannot read the registry" when the store fails."""
    from modelport.core.errors import UsageError, one_line

    name, version, alias = parse(uri)
    with quiet():
        try:
            if alias:
                return mlflow_client.get_model_version_by_alias(name, alias)
            if version == "latest":
                found = mlflow_client.search_model_versions(name_filter(name))
                if found:
                    return max(found, key=lambda v: int(v.version))
                raise LookupError(name)
            return mlflow_client.get_model_version(name, version)
        except Exception as exc:
            if isinstance(exc, LookupError) or missing(exc):
                raise UsageError(f"{uri}: no such model version in {shown(registry_uri())}",
                                 hint=f"modelport register --list {name} shows its versions") from exc
            raise UsageError(f"{uri}: cannot read the registry {shown(registry_uri())} ({one_line(exc)})") from exc


def fetch(uri: str) -> tuple[Path, str]:
    """Download the version a models:/ URI names (once per process and version; an alias is resolved on every
    call). Returns the model file in it (ONNX or TFLite) and the fixed URI `models:/NAME/N` it resolved to. The
    download is removed when the process ends, or by the next download after a killed process."""
    from modelport.core.errors import UsageError, one_line

    found = version_of(client(), uri)  # exit 5 without MLflow, 2 without the version
    fixed = f"models:/{found.name}/{found.version}"
    key = (registry_uri(), str(found.name), str(found.version))
    if key in _fetched:
        return _fetched[key], fixed
    import mlflow

    sweep_downloads()
    where = Path(tempfile.mkdtemp(prefix=f"modelport-registry-{os.getpid()}-"))
    atexit.register(shutil.rmtree, where, True)
    with quiet():
        try:
            folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=found.source, dst_path=str(where),
                                                              tracking_uri=tracking_uri()))
        except Exception as exc:
            raise UsageError(f"{uri}: cannot download version {found.version} ({one_line(exc)})") from exc
    path = model_file(folder)
    if path is None:
        raise UsageError(f"{uri}: version {found.version} holds no ONNX or TFLite model",
                         hint="modelport reads models registered by `modelport register`")
    _fetched[key] = path
    return path, fixed


def sweep_downloads() -> None:
    """Remove the downloads of commands that were killed (their process is gone): atexit never ran for them."""
    for folder in Path(tempfile.gettempdir()).glob("modelport-registry-*-*"):
        pid = folder.name.split("-")[2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # another user's process: not ours to judge
            pass


def model_file(folder: Path) -> Path | None:
    """The model in a downloaded version: the ONNX flavor's file (MLmodel), else the one .onnx / .tflite / .xml
    (OpenVINO IR, its .bin beside it) / .pte."""
    mlmodel = folder / "MLmodel"
    if mlmodel.exists():
        import yaml

        data = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("onnx", {}).get("data")
        if data and (folder / data).is_file():
            return folder / data
    found = sorted(p for p in folder.iterdir() if p.suffix in (".onnx", ".tflite", ".xml", ".pte"))
    return found[0] if len(found) == 1 else None
