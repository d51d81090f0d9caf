"""What `modelport serve` serves: each MODEL argument resolved to a file, a name, a version, the provenance
modelport recorded in it, and a runtime that runs it the way `verify` and `bench` do (the same loaders).

A file whose recorded verification failed is refused unless the caller allows it; a file without a record is
served with a warning; a source model (PyTorch, Keras, scikit-learn) is never served: it must be converted first.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.core.errors import UnsupportedError, UsageError, VerificationRefused
from modelport.core.formats import Format, detect
from modelport.serve.tensors import BadRequest, TensorMeta, meta

SERVABLE = (Format.ONNX, Format.TFLITE)
PROVENANCE_KEYS = ("source_name", "source_format", "route", "verification", "max_abs_error", "compressed",
                   "optimized", "modelport_version", "created")


class Runtime:
    """One loaded model as the server runs it: its inputs and outputs as the protocol declares them and a thread-
    safe `run` (the LiteRT interpreter is not thread-safe: its runs take a lock; ONNX Runtime sessions are)."""

    def __init__(self, model) -> None:
        self.model = model
        self.inputs = [meta(s.name, s.dtype, s.shape) for s in model.inputs]
        self.outputs = output_meta(model)
        self.platform = "onnxruntime_onnx" if model.format is Format.ONNX else "tflite"
        self._lock = threading.Lock() if model.format is Format.TFLITE else nullcontext()

    def run(self, feed: dict[str, Any]) -> dict[str, Any]:
        try:
            with self._lock:
                return self.model.run(feed)
        except Exception as exc:
            if caller_caused(exc):
                raise BadRequest(f"the model cannot run on these inputs: {' '.join(str(exc).split())[:300]}") \
                    from exc
            raise


def caller_caused(exc: BaseException) -> bool:
    """A run that failed on inputs which passed every declared check (sizes the graph cannot combine: a Concat
    of rows from two batch sizes). The model loaded and ran before serving, so it is these inputs: 400."""
    name = type(exc).__name__
    text = str(exc)
    return name in ("InvalidArgument", "Fail", "ValueError") or \
        (name == "RuntimeException" and "while running" in text)


def output_meta(model) -> list[TensorMeta]:
    """Outputs with datatypes and shapes from the graph (ONNX Runtime's session, the LiteRT output details)."""
    import numpy as np

    from modelport.runtimes.onnx.model import ORT_DTYPES

    if model.format is Format.ONNX:
        out = []
        for o in model.session.get_outputs():
            dtype = ORT_DTYPES.get(o.type)
            if dtype is None:
                raise UnsupportedError(f"{model.path}: output '{o.name}' is a {o.type}, not a tensor: it cannot be "
                                       "served over the Open Inference Protocol",
                                       hint="scikit-learn classifiers: convert with probabilities as a tensor "
                                            "(modelport convert does, ZipMap off)")
            out.append(meta(o.name, dtype, o.shape))
        return out
    details = getattr(model, "out_details", None)
    if details is not None:
        rows = [(n, details[n]) for n in model.outputs]
    else:
        rows = [(d["name"], d) for d in model.interpreter.get_output_details()]
    out = []
    for name, d in rows:
        scale = d.get("quantization", (0.0, 0))[0]
        dtype = "float32" if scale and np.dtype(d["dtype"]).kind in "iu" else np.dtype(d["dtype"]).name
        signature = list(d.get("shape_signature", d["shape"]))
        out.append(meta(name, dtype, [int(x) for x in signature]))
    return out


@dataclass
class Version:
    """One loaded version of a served model. Swapped whole when an alias moves: a request holds its version."""

    number: str
    file: Path
    runtime: Runtime
    facts: dict[str, Any] = field(default_factory=dict)
    uri: str | None = None  # models:/NAME/N for a registry version

    def metadata(self, name: str) -> dict[str, Any]:
        """The protocol's model metadata (tensors as TensorMeta; `metadata_json` for the wire)."""
        return {"name": name, "versions": [self.number], "platform": self.runtime.platform,
                "inputs": list(self.runtime.inputs), "outputs": list(self.runtime.outputs),
                "parameters": self.parameters()}

    def parameters(self) -> dict[str, str]:
        """Provenance as protocol parameters (strings), for the model's metadata."""
        import json

        params = {f"modelport.{k}": v if isinstance(v, str) else json.dumps(v)
                  for k, v in self.facts.items() if k in PROVENANCE_KEYS}
        params["modelport.file"] = self.file.name
        if self.uri:
            params["modelport.registry_version"] = self.uri
        return params


@dataclass
class Served:
    """A model under one name. `current` is replaced (never mutated) when a followed alias moves."""

    name: str
    source: str
    current: Version
    notes: list[str] = field(default_factory=list)


def metadata_json(meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, "inputs": [t.to_dict() for t in meta["inputs"]], "outputs": [t.to_dict() for t in meta["outputs"]]}


def model_file(source: str) -> Path:
    """The ONNX or TFLite file a MODEL argument names: a file, a Hugging Face output folder (its model.onnx)."""
    path = Path(source)
    if path.is_dir() and (path / "model.onnx").exists():
        return path / "model.onnx"
    if path.is_dir():
        onnx = sorted(p.name for p in path.glob("*.onnx"))
        if onnx:
            raise UsageError(f"{source}: folder has no model.onnx (it holds {', '.join(onnx)})",
                             hint="serve its files by path, each under its own name: "
                                  + " ".join(f"{source.rstrip('/')}/{n}" for n in onnx))
    fmt = detect(path)  # exit 2 for a missing or unreadable path
    if fmt not in SERVABLE:
        raise UsageError(f"{source}: a {fmt} model cannot be served; modelport serves ONNX and TFLite files",
                         hint=f"convert it first: modelport convert {source} -o {path.stem}.onnx")
    return path


def load_version(source: str, *, threads: int | None, allow_unverified: bool, notes: list[str]) -> Version:
    """Download (models:/), load and check one version; refuses a file whose recorded verification failed."""
    from modelport.commands.sources import local, version_uri
    from modelport.loaders import open_model
    from modelport.pipeline.facts import inherited

    file = model_file(str(local(source)))
    fmt = detect(file)
    facts = inherited(file, fmt)
    verdict = facts.get("verification")
    if verdict == "failed" and not allow_unverified:
        raise VerificationRefused(f"{source}: its recorded verification failed (max abs error "
                                  f"{facts.get('max_abs_error', '?')}); refusing to serve it",
                                  hint="re-convert it, or pass --allow-unverified to serve it anyway")
    if verdict != "passed":
        notes.append(f"{source}: " + ("verification failed (served with --allow-unverified)" if verdict == "failed"
                                      else "no passed verification is recorded in this file"))
    model = open_model(file, fmt, threads=threads)
    uri = version_uri(source)
    number = uri.rsplit("/", 1)[1] if uri else "1"
    return Version(number, Path(file), Runtime(model), facts, uri)


def default_name(source: str) -> str:
    from modelport.loaders.mlflow_store import is_models_uri, parse

    if is_models_uri(source):
        return parse(source)[0]
    path = Path(source)
    if path.is_dir():
        return path.name
    return path.stem


def resolve(sources: list[str], names: list[str] | None = None, *, threads: int | None = None,
            allow_unverified: bool = False, progress=lambda _: None) -> list[Served]:
    """Every MODEL argument loaded under its name (--name in order, else the file stem or registered name)."""
    import re

    names = list(names or [])
    if len(names) > len(sources):
        raise UsageError(f"{len(names)} --name for {len(sources)} model(s)", hint="give one --name per model, in order")
    chosen = [names[i] if i < len(names) else default_name(s) for i, s in enumerate(sources)]
    for name in chosen:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise UsageError(f"'{name}' cannot be a model name (it is part of the URL)",
                             hint="use letters, digits, '_', '-' and '.'; pass --name")
    dupes = sorted({n for n in chosen if chosen.count(n) > 1})
    if dupes:
        raise UsageError(f"two models would be served as '{dupes[0]}'", hint="give each its own --name")
    served = []
    for source, name in zip(sources, chosen):
        progress(f"loading {name}")
        notes: list[str] = []
        version = load_version(source, threads=threads, allow_unverified=allow_unverified, notes=notes)
        served.append(Served(name, source, version, notes))
    return served
