"""`modelport register`: a verified ONNX or TFLite file becomes a version of a registered model in MLflow.

ONNX goes through MLflow's onnx flavor (an `MLmodel` folder, so `mlflow models serve -m models:/NAME/V` and
`mlflow.pyfunc.load_model` work); the flavor's model file is replaced by the very file modelport verified, byte
for byte. TFLite goes in as a plain artifact. Either way the version carries the file's provenance as tags
(`modelport.*`), its verification error, size and latency as metrics of its run, and the JSON report as the
run's artifact `modelport_report.json`. A file whose sha256 is already a version of NAME adds no version.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport import __version__
from modelport.core.errors import UsageError, one_line
from modelport.core.formats import Format, detect
from modelport.core.io import sha256_of, side_data, size_of_path
from modelport.core.report import Report
from modelport.loaders import mlflow_store

EXPERIMENT = "modelport"
TAG = "modelport."
SHOWN = ("verification", "route", "source_format", "source_name", "source_sha256", "converter", "framework",
         "compressed", "optimized", "modelport_version", "source_uri")  # provenance facts copied into tags


def register(
    model: str | Path,
    name: str,
    *,
    alias: str | None = None,
    experiment: str = EXPERIMENT,
    report: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    latency_runs: int = 30,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Log `model` (ONNX or TFLite) as a new version of `name`, unless a version already holds the same file;
    move `alias` to that version. `report`: the job's full report, logged as the run's artifact (default: the
    file's provenance). A file whose recorded verification failed is refused (report.ok False, exit 1)."""
    from modelport.core import provenance

    path = Path(model)
    fmt = detect(path)
    if fmt not in (Format.ONNX, Format.TFLITE):
        raise UsageError(f"{path}: register takes an ONNX or TFLite file, not {fmt}",
                         hint=f"convert it first: modelport convert {path} -o model.onnx")
    _check_name(name)
    facts = provenance.read_onnx(path) if fmt is Format.ONNX else provenance.read_tflite(path)
    verdict = facts.get("verification") or "unverified"
    out = Report("register", ok=True)
    out.details.update({"name": name, "file": str(path), "format": fmt.value, "verification": verdict})
    if verdict == "failed":
        out.ok = False
        out.details["refused"] = "its recorded verification failed"
        return out
    if verdict != "passed":
        out.warnings.append(f"{path.name} carries no passed verification (verification: {verdict}); registered "
                            "as unverified")
    digest, content = sha256_of(path), content_digest(path, fmt)
    client = mlflow_store.client()
    progress(f"registering {path.name} as {name}")
    existing = _same_model(client, name, content)
    if existing is not None:
        version, created = str(existing.version), False
    else:
        metrics = _metrics(path, facts, report, latency_runs, out.warnings, progress)
        version_tags = {TAG + "sha256": digest, TAG + "content_sha256": content, TAG + "format": fmt.value,
                        TAG + "file": path.name, TAG + "verification": verdict,
                        TAG + "registered_by": f"modelport {__version__}"}
        version_tags.update({TAG + k: _text(facts[k]) for k in SHOWN if k in facts and k != "verification"})
        version_tags.update({k: _text(v) for k, v in (tags or {}).items()})
        record = report if report is not None else {"command": "register", "file": path.name, "provenance": facts}
        version, created = _log(client, path, fmt, name, experiment, version_tags, metrics, record), True
        out.details["metrics"] = metrics
    if alias:
        with mlflow_store.quiet():
            client.set_registered_model_alias(name, alias, version)
    out.details.update({"version": int(version), "uri": f"models:/{name}/{version}", "created": created,
                        "alias": alias, "sha256": digest, "tracking_uri": mlflow_store.tracking_uri()})
    return out


def versions(name: str) -> Report:
    """Every version of `name`, newest first: verdict, size, latency, aliases, file, when."""
    _check_name(name)
    client = mlflow_store.client()
    with mlflow_store.quiet():
        found = client.search_model_versions(f"name='{name}'")
        if not found:
            raise UsageError(f"no registered model '{name}' in {mlflow_store.tracking_uri()}",
                             hint="modelport register MODEL.onnx --name NAME adds one")
        aliases = {}
        for alias, version in (client.get_registered_model(name).aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        rows = []
        for v in sorted(found, key=lambda v: -int(v.version)):
            metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
            rows.append({"version": int(v.version), "aliases": sorted(aliases.get(str(v.version), [])),
                         "verification": v.tags.get(TAG + "verification", "?"),
                         "size_bytes": metrics.get("size_bytes"), "latency_p50_ms": metrics.get("latency_p50_ms"),
                         "max_abs_error": metrics.get("max_abs_error"), "file": v.tags.get(TAG + "file", ""),
                         "route": v.tags.get(TAG + "route", ""), "created": v.creation_timestamp})
    report = Report("register", ok=True)
    report.details.update({"name": name, "versions": rows, "tracking_uri": mlflow_store.tracking_uri()})
    return report


def set_alias(name: str, alias: str, version: int) -> Report:
    """Point `alias` at an existing version (a rollback is pointing it at the previous one)."""
    _check_name(name)
    client = mlflow_store.client()
    mlflow_store.version_of(client, f"models:/{name}/{version}")  # exit 2 when it does not exist
    with mlflow_store.quiet():
        client.set_registered_model_alias(name, alias, str(version))
    report = Report("register", ok=True)
    report.details.update({"name": name, "version": int(version), "uri": f"models:/{name}/{version}",
                           "created": False, "alias": alias, "tracking_uri": mlflow_store.tracking_uri()})
    return report


def _check_name(name: str) -> None:
    if not name or not re.fullmatch(r"[\w.-]+", name):
        raise UsageError(f"--name '{name}': use letters, digits, '_', '-' and '.'")


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:4000]


def _same_model(client, name: str, content: str):
    with mlflow_store.quiet():
        found = client.search_model_versions(f"name='{name}' and tags.`{TAG}content_sha256` = '{content}'")
    return min(found, key=lambda v: int(v.version)) if found else None


def content_digest(path: Path, fmt: Format) -> str:
    """sha256 of the model without modelport's own record (conversion time, batch digest): the same model
    converted twice has the same content digest, so registering it again adds no version."""
    import hashlib

    digest = hashlib.sha256()
    if fmt is Format.ONNX:
        import onnx

        from modelport.core.onnx_files import locations

        proto = onnx.load(str(path), load_external_data=False)
        keep = [p for p in proto.metadata_props if not p.key.startswith(TAG)]
        del proto.metadata_props[:]
        proto.metadata_props.extend(keep)
        digest.update(proto.SerializeToString())
        extra = sorted(path.parent / loc for loc in locations(proto))
    else:
        from modelport.core.provenance import tflite_without_record

        digest.update(tflite_without_record(path))
        extra = []
    for file in extra:
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _metrics(path: Path, facts: dict, report: dict | None, runs: int, warnings: list[str],
             progress: Callable[[str], None]) -> dict[str, float]:
    """Size, latency (p50/p90 on generated inputs, batch 1) and verification error."""
    metrics: dict[str, float] = {"size_bytes": float(size_of_path(path))}
    if isinstance(facts.get("max_abs_error"), int | float):
        metrics["max_abs_error"] = float(facts["max_abs_error"])
    for output in ((report or {}).get("verification") or {}).get("outputs", []):
        key = re.sub(r"[^\w./ -]", "_", str(output.get("name")))
        metrics[f"max_abs_error.{key}"] = float(output.get("max_abs_error") or 0.0)
    if runs > 0:
        from modelport.commands.bench import bench

        progress(f"timing {path.name} ({runs} runs)")
        try:
            row = bench([str(path)], runs=runs, warmup=3).details["rows"][0]
            metrics.update(latency_p50_ms=row["p50_ms"], latency_p90_ms=row["p90_ms"])
        except Exception as exc:  # a model that needs --input shapes to run: registered without latency
            warnings.append(f"latency not measured ({getattr(exc, 'message', None) or one_line(exc)})")
    return metrics


def _log(client, path: Path, fmt: Format, name: str, experiment: str, tags: dict[str, str],
         metrics: dict[str, float], record: dict) -> str:
    """One MLflow run holding the model folder and the report; the version made from it. Returns the version."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="modelport-register-") as tmp, mlflow_store.quiet():
        folder = Path(tmp) / "model"
        if fmt is Format.ONNX:
            _onnx_folder(path, folder)
        else:
            folder.mkdir()
            shutil.copyfile(path, folder / path.name)
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=f"{name} {path.name}") as run:
            mlflow.set_tags(tags)
            mlflow.log_metrics(metrics)
            mlflow.log_artifacts(str(folder), "model")
            mlflow.log_dict(record, "modelport_report.json")
        try:
            client.get_registered_model(name)
        except Exception:  # a first version: the registered model itself is made now
            client.create_registered_model(name)
        version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                              tags=tags)
    return str(version.version)


def _onnx_folder(path: Path, folder: Path) -> None:
    """MLflow's onnx flavor folder, holding `path` itself (and its external weights) as the model file."""
    import mlflow.onnx
    import onnx
    import onnxruntime

    from modelport.core.onnx_files import locations

    proto = onnx.load(str(path), load_external_data=False)
    # Requirements stated, not inferred: MLflow infers them by loading the model in a child process (2.3 s each).
    needs = [f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"]
    mlflow.onnx.save_model(proto, str(folder), signature=_signature(proto), save_as_external_data=False,
                           pip_requirements=needs)
    shutil.copyfile(path, folder / "model.onnx")
    for location in locations(proto):
        source = path.parent / location if location else side_data(path)
        if source.is_file():
            shutil.copyfile(source, folder / location)


def _signature(proto):
    """The graph's inputs and outputs as an MLflow signature (None when an output is not a tensor: ZipMap)."""
    import numpy as np
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    from modelport.core.onnx_graph import graph_io

    inputs, outputs = graph_io(proto)
    try:
        def schema(specs):
            return Schema([TensorSpec(np.dtype(s["dtype"]), tuple(d if isinstance(d, int) else -1 for d in
                                                                    (s["shape"] or [])), s["name"])
                           for s in specs])

        return ModelSignature(inputs=schema(inputs), outputs=schema(outputs))
    except Exception:
        return None
