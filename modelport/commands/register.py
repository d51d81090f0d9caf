"""`modelport register`: a verified ONNX or TFLite file becomes a version of a registered model in MLflow.

ONNX goes through MLflow's onnx flavor (an `MLmodel` folder, so `mlflow models serve -m models:/NAME/V` and
`mlflow.pyfunc.load_model` work) whose model file is the very file modelport verified, byte for byte, under its
own name. TFLite goes in as a plain artifact. Either way the version carries the file's provenance as tags
(`modelport.*`), its verification error, size and latency as metrics of its run, and the JSON report as the
run's artifact `modelport_report.json`. A file whose model (content digest: the file without modelport's own
record) is already a version of NAME, with a verdict as good, adds no version. Writing: commands/register_log.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport import __version__
from modelport.commands import register_log as log
from modelport.commands.register_log import TAG, content_digest, load_graph, log_version, metrics_for
from modelport.core.errors import UsageError, one_line
from modelport.core.formats import Format, detect
from modelport.core.io import sha256_of
from modelport.core.report import Report
from modelport.loaders import mlflow_store

EXPERIMENT = "modelport"
SHOWN = ("route", "source_format", "source_name", "source_sha256", "converter", "framework", "compressed",
         "optimized", "modelport_version", "source_uri")  # provenance facts copied into tags
RANK = {"passed": 2, "skipped": 1, "unverified": 1}  # a version made from a verified file beats an unverified one


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
    """Log `model` (ONNX, TFLite, OpenVINO IR with its .bin, or ExecuTorch) as a new version of `name`, unless a
    version already holds the same model (content digest) with a verdict as good; move `alias` to that version.
    `report`: the job's full report, logged as the run's artifact (default: the file's provenance). A file whose
    recorded verification failed is refused (report.ok False, exit 1)."""
    path = Path(model)
    fmt = detect(path)
    if fmt not in (Format.ONNX, Format.TFLITE, Format.OPENVINO, Format.EXECUTORCH):
        raise UsageError(f"{path}: register takes an ONNX, TFLite, OpenVINO IR or ExecuTorch file, not {fmt}",
                         hint=f"convert it first: modelport convert {path} -o model.onnx")
    check_name(name)
    if alias:
        mlflow_store.check_alias(alias)
    proto = load_graph(path) if fmt is Format.ONNX else None  # read once: provenance, digest, flavor folder
    facts = _facts(path, fmt, proto)
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
    signed = log.signature_facts(path, out.warnings)  # exit 4 for a signature the file no longer matches
    if signed:
        out.details["signature"] = {"status": signed["status"], "signed_by": signed["signed_by"]}
    digest, content = sha256_of(path), content_digest(path, fmt, proto)
    client = mlflow_store.client()
    progress(f"registering {path.name} as {name}")
    existing = _same_model(client, name, content, verdict, signed.get("signed_by"))
    if existing is not None:
        version, created = str(existing.version), False
        out.details["verification"] = existing.tags.get(TAG + "verification", verdict)
    else:
        metrics = metrics_for(path, facts, report, latency_runs, out.warnings, progress)
        version_tags = {k: _text(v) for k, v in (tags or {}).items()}  # the facts below win over a user's tag
        version_tags.update({TAG + k: _text(facts[k]) for k in SHOWN if k in facts})
        version_tags.update(signed.get("tags", {}))
        version_tags.update({TAG + "sha256": digest, TAG + "content_sha256": content, TAG + "format": fmt.value,
                             TAG + "file": path.name, TAG + "verification": verdict,
                             TAG + "registered_by": f"modelport {__version__}"})
        record = report if report is not None else {"command": "register", "file": path.name, "provenance": facts}
        version = _mlflow_call(lambda: log_version(client, path, fmt, name, experiment, version_tags, metrics,
                                                   record, proto, tuple(signed.get("files", ()))))
        created = True
        out.details["metrics"] = metrics
        # another register of the same model, meanwhile?
        first = _same_model(client, name, content, verdict, signed.get("signed_by"))
        if first is not None and int(first.version) < int(version):
            _mlflow_call(lambda: client.delete_model_version(name, version))  # the earlier one stands
            version, created = str(first.version), False
            out.details.pop("metrics")
    if alias:
        _mlflow_call(lambda: client.set_registered_model_alias(name, alias, version))
    out.details.update({"version": int(version), "uri": f"models:/{name}/{version}", "created": created,
                        "alias": alias, "sha256": digest,
                        "tracking_uri": mlflow_store.shown(mlflow_store.tracking_uri())})
    return out


def versions(name: str) -> Report:
    """Every version of `name`, newest first: verdict, size, latency, aliases, file, when."""
    check_name(name)
    client = mlflow_store.client()
    with mlflow_store.quiet():
        found = _mlflow_call(lambda: client.search_model_versions(mlflow_store.name_filter(name)))
        if not found:
            raise UsageError(f"no registered model '{name}' in {mlflow_store.shown(mlflow_store.registry_uri())}",
                             hint="modelport register MODEL.onnx --name NAME adds one")
        aliases: dict[str, list[str]] = {}
        for alias, version in (client.get_registered_model(name).aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        rows = []
        for v in sorted(found, key=lambda v: -int(v.version)):
            try:
                metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
            except Exception:  # its run was deleted: the version is still listed
                metrics = {}
            rows.append({"version": int(v.version), "aliases": sorted(aliases.get(str(v.version), [])),
                         "verification": v.tags.get(TAG + "verification", "?"),
                         "size_bytes": metrics.get("size_bytes"), "latency_p50_ms": metrics.get("latency_p50_ms"),
                         "max_abs_error": metrics.get("max_abs_error"), "file": v.tags.get(TAG + "file", ""),
                         "route": v.tags.get(TAG + "route", ""), "created": v.creation_timestamp,
                         "signed_by": v.tags.get(TAG + "signed_by", "")})
    report = Report("register", ok=True)
    report.details.update({"name": name, "versions": rows,
                           "tracking_uri": mlflow_store.shown(mlflow_store.tracking_uri())})
    return report


def set_alias(name: str, alias: str, version: int) -> Report:
    """Point `alias` at an existing version (a rollback is pointing it at the previous one)."""
    check_name(name)
    mlflow_store.check_alias(alias)
    client = mlflow_store.client()
    mlflow_store.version_of(client, f"models:/{name}/{version}")  # exit 2 when it does not exist
    _mlflow_call(lambda: client.set_registered_model_alias(name, alias, str(version)))
    report = Report("register", ok=True)
    report.details.update({"name": name, "version": int(version), "uri": f"models:/{name}/{version}",
                           "created": False, "alias": alias,
                           "tracking_uri": mlflow_store.shown(mlflow_store.tracking_uri())})
    return report


def check_name(name: str) -> None:
    """Registered model names modelport writes: letters, digits, '_', '-', '.' (exit 2 otherwise)."""
    if not name or not re.fullmatch(r"[\w.-]+", name):
        raise UsageError(f"registered model name '{name}': use letters, digits, '_', '-' and '.'",
                         hint="--name fraud-detector (in a batch manifest: register: NAME)")


def _facts(path: Path, fmt: Format, proto: Any) -> dict:
    from modelport.core import provenance

    try:
        return provenance.read_onnx(path, proto) if fmt is Format.ONNX else provenance.read(path)
    except Exception as exc:
        raise UsageError(f"{path}: not a readable {fmt} file ({one_line(exc)})") from exc


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:4000]


def _same_model(client, name: str, content: str, verdict: str, signed_by: str | None = None):
    """The first version of `name` holding the same model with a verdict at least as good (and, for a signed
    file, signed by the same key), or None."""
    query = f"{mlflow_store.name_filter(name)} and tags.`{TAG}content_sha256` = '{content}'"
    found = _mlflow_call(lambda: client.search_model_versions(query))
    good = [v for v in found if RANK.get(v.tags.get(TAG + "verification"), 0) >= RANK.get(verdict, 0)
            and (signed_by is None or v.tags.get(TAG + "signed_by") == signed_by)]
    return min(good, key=lambda v: int(v.version)) if good else None


def _mlflow_call(call: Callable[[], Any]) -> Any:
    """Run an MLflow call quietly; its refusals become one-line errors (exit 2) rather than internal ones."""
    with mlflow_store.quiet():
        try:
            return call()
        except Exception as exc:
            if type(exc).__name__ != "MlflowException":
                raise
            raise UsageError(f"MLflow refused: {one_line(exc)}",
                             hint=f"store: {mlflow_store.shown(mlflow_store.tracking_uri())}") from exc
