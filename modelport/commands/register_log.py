"""Writing one registered version: the model folder (MLflow's onnx flavor holding the verified file itself, or
the TFLite file), the run that carries it with tags, metrics and the report, and the content digest that says
whether a file is already a version. Only `MlflowClient` calls: no process-wide MLflow state is touched."""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from modelport.core.errors import UsageError, one_line
from modelport.core.formats import Format
from modelport.core.io import size_of_path
from modelport.loaders import mlflow_store

TAG = "modelport."


def load_graph(path: Path) -> Any:
    """The ONNX file's proto without its external weights, read once for everything register needs (exit 2 when
    it is not readable)."""
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{path}: not a readable ONNX file ({one_line(exc)})") from exc


def external_files(path: Path, proto: Any) -> list[str]:
    """The external weight files an ONNX file names, checked: relative, inside its folder, present (exit 2)."""
    from modelport.core.onnx_files import locations

    found = []
    for location in sorted(locations(proto)):
        parts = PurePosixPath(location.replace("\\", "/")).parts
        if not location or PurePosixPath(location).is_absolute() or ".." in parts or ":" in location:
            raise UsageError(f"{path}: its weights are at '{location}', outside its folder",
                             hint="keep external data beside the model (modelport convert writes NAME.onnx.data)")
        if not (path.parent / location).is_file():
            raise UsageError(f"{path}: its weights file {location} is missing", hint="copy it beside the model")
        found.append(location)
    return found


def content_digest(path: Path, fmt: Format, proto: Any = None) -> str:
    """sha256 of the model without modelport's own record (conversion time, batch digest): the same model
    converted twice has the same content digest, so registering it again adds no version. `proto`: the ONNX
    file's, already loaded (left as it was)."""
    digest = hashlib.sha256()
    if fmt is Format.ONNX:
        proto = load_graph(path) if proto is None else proto
        props = list(proto.metadata_props)
        del proto.metadata_props[:]
        proto.metadata_props.extend(p for p in props if not p.key.startswith(TAG))
        try:
            digest.update(proto.SerializeToString())
        finally:
            del proto.metadata_props[:]
            proto.metadata_props.extend(props)
        for location in external_files(path, proto):
            digest.update(location.encode())
            with open(path.parent / location, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    elif fmt is Format.TFLITE:
        from modelport.core.provenance import tflite_without_record

        digest.update(tflite_without_record(path))
    else:
        from modelport.core.provenance import without_record

        digest.update(without_record(path))
    return digest.hexdigest()


def metrics_for(path: Path, facts: dict, report: dict | None, runs: int, warnings: list[str],
                progress: Callable[[str], None]) -> dict[str, float]:
    """Size, latency (p50/p90 on generated inputs, batch 1) and verification error (overall, and per output
    from a full report)."""
    metrics: dict[str, float] = {"size_bytes": float(size_of_path(path))}
    if isinstance(facts.get("max_abs_error"), int | float):
        metrics["max_abs_error"] = float(facts["max_abs_error"])
    for output in ((report or {}).get("verification") or {}).get("outputs", []):
        if isinstance(output.get("max_abs_error"), int | float):
            metrics[f"max_abs_error.{metric_key(output.get('name'))}"] = float(output["max_abs_error"])
    if runs > 0:
        from modelport.commands.bench import bench

        progress(f"timing {path.name} ({runs} runs)")
        try:
            row = bench([str(path)], runs=runs, warmup=3).details["rows"][0]
            metrics.update(latency_p50_ms=row["p50_ms"], latency_p90_ms=row["p90_ms"])
        except Exception as exc:  # a model that needs --input shapes to run: registered without latency
            warnings.append(f"latency not measured ({getattr(exc, 'message', None) or one_line(exc)})")
    return metrics


def metric_key(name: Any) -> str:
    """An output name as MLflow accepts it in a metric key (no ':' or '//', no leading or trailing '/')."""
    key = re.sub(r"[^\w.\- ]", "_", str(name))
    return key.strip(" ") or "output"


def signature_facts(path: Path, warnings: list[str]) -> dict:
    """The file's own OpenSSF signature (`FILE.sig`), checked, as version tags and the files to log beside it
    ({} when unsigned). Checked against --require-signature's key or --require-cert's chain when given (already
    done before the file was read), else against the key its bundle carries (a file changed after signing is
    refused, exit 4); a certificate signature without a chain is logged as "not checked"."""
    from modelport.core import attestation, signature_policy, signing

    found = signature_policy.signature_for(path)
    if found is None:
        return {}
    model, sig = found
    if model != path:
        warnings.append(f"{path.name} is covered by the signature of its folder {model}: that signature is not "
                        "logged (sign the file itself: modelport sign FILE --key KEY.pem)")
        return {}
    who = signing.signer(sig)
    key, chain = signature_policy.required()
    if key or chain:
        status = "verified"
    elif who.get("kind") == "key":
        signing.check_own_key(path, sig)
        status = "self-consistent"
    else:
        status = "not checked"
    tags = {TAG + "signed": "true", TAG + "signature": status, TAG + "signed_by": who.get("fingerprint", "?")}
    if who.get("subject"):
        tags[TAG + "signer_subject"] = who["subject"]
    files = [sig] + [p for p in (attestation.path_for(path),) if p.is_file()]
    return {"tags": tags, "files": files, "status": status, "signed_by": tags[TAG + "signed_by"]}


def log_version(client, path: Path, fmt: Format, name: str, experiment: str, tags: dict[str, str],
                metrics: dict[str, float], record: dict, proto: Any = None, beside: tuple[Path, ...] = ()) -> str:
    """One run (in `experiment`) holding the model folder and the report; a version of `name` made from it.
    Returns the version number. `proto`: the ONNX file's, already loaded; `beside`: the signature and
    attestation, logged beside the model under their default names (`FILE.sig`, `FILE.intoto.jsonl`)."""
    from mlflow.entities import Metric, RunTag
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="modelport-register-") as tmp, mlflow_store.quiet():
        folder = Path(tmp) / "model"
        if fmt is Format.ONNX:
            onnx_folder(path, folder, load_graph(path) if proto is None else proto)
        else:
            folder.mkdir()
            shutil.copyfile(path, folder / path.name)
            if fmt is Format.OPENVINO:  # model.xml's weights: model.bin
                shutil.copyfile(path.with_suffix(".bin"), folder / path.with_suffix(".bin").name)
            from modelport.core.provenance import sidecar

            if sidecar(path).is_file():  # facts written beside the file when no schema tool was installed
                shutil.copyfile(sidecar(path), folder / sidecar(path).name)
        for extra in beside:
            suffix = ".sig" if extra.name.endswith(".sig") else extra.name[len(path.name):]
            shutil.copyfile(extra, folder / f"{path.name}{suffix}")
        run = client.create_run(_experiment_id(client, experiment), run_name=f"{name} {path.name}")
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                             tags=[RunTag(k, v) for k, v in tags.items()])
            client.log_artifacts(run_id, str(folder), "model")
            client.log_dict(run_id, record, "modelport_report.json")
            page = report_page(record)
            if page is not None:  # MLflow's UI shows HTML artifacts: the report a person reads, beside the JSON
                client.log_text(run_id, page, "modelport_report.html")
            try:
                client.create_registered_model(name)
            except MlflowException as exc:  # it exists (perhaps made a moment ago by another register)
                if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                    raise
            version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run_id, tags=tags)
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
    return str(version.version)


def report_page(record: dict) -> str | None:
    """The report page (docs/report.md) of what is logged, when modelport[report] is installed (None otherwise,
    or if it cannot be drawn: a page never stops a registration)."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("jinja2", "bokeh")):
        return None
    from modelport.html.page import render

    try:
        return render(record)
    except Exception:
        return None


def _experiment_id(client, experiment: str) -> str:
    """The experiment's id; a new one on a SQLite store keeps its artifacts in `mlruns/` beside the .db file
    (MLflow's default would be the working directory's `mlruns/`, wherever the command runs)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    uri = mlflow_store.tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).parent / "mlruns").resolve().as_uri()
    try:
        return client.create_experiment(experiment, artifact_location=location)
    except MlflowException:  # made meanwhile by another process
        return client.get_experiment_by_name(experiment).experiment_id


def onnx_folder(path: Path, folder: Path, proto: Any) -> None:
    """MLflow's onnx flavor folder holding `path` itself under its own name (and its external weights beside it,
    so the pair stays a pair): MLmodel points the flavor at it."""
    import mlflow.onnx
    import onnx
    import onnxruntime
    from mlflow.models import Model

    # Requirements stated, not inferred: MLflow infers them by loading the model in a child process (2.3 s each).
    needs = [f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"]
    mlflow.onnx.save_model(proto, str(folder), signature=_signature(proto), save_as_external_data=False,
                           pip_requirements=needs)
    (folder / "model.onnx").unlink()
    shutil.copyfile(path, folder / path.name)
    for location in external_files(path, proto):
        (folder / location).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path.parent / location, folder / location)
    meta = Model.load(str(folder / "MLmodel"))
    meta.flavors["onnx"]["data"] = path.name
    meta.flavors["python_function"]["data"] = path.name
    meta.model_size_bytes = size_of_path(folder)
    meta.save(str(folder / "MLmodel"))


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
