"""A batch manifest: jobs to run, read from YAML or JSON, checked whole before any work starts.

    defaults: {to: [onnx], samples: 16}
    jobs:
      - source: models/*.keras          # a glob: one job per match, named after the file
        to: [onnx, tflite]
        output: out/                    # a folder (several targets); default: beside the source
        compress: {onnx: dynamic-int8, tflite: dynamic-range}
      - {source: fraud.skops, name: fraud, optimize: true, tags: {team: risk}}

`FIELDS` is the one description of what a job may say: the checker and `modelport batch --schema` (a JSON Schema)
both come from it. An error names the manifest, the job and the field (exit 2).
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.core.errors import UsageError

TARGETS = ("onnx", "tflite", "openvino", "executorch")
EXTENSION = {"onnx": "onnx", "tflite": "tflite", "openvino": "xml", "executorch": "pte"}  # a target's file suffix


@dataclass(frozen=True)
class Field:
    kind: str  # string, boolean, integer, number, strings (list), targets, compress, tags, memory
    help: str
    minimum: float | None = None


FIELDS: dict[str, Field] = {
    "source": Field("string", "Model file, SavedModel or Hugging Face folder, file.py:callable (relative to the "
                              "manifest) or package.module:callable. A glob (models/*.keras) makes one job per "
                              "match."),
    "name": Field("string", "Job name (default: the source's file name without its extension)."),
    "to": Field("targets", "Target format, or a list of them: onnx, tflite, openvino, executorch (default: "
                           "onnx)."),
    "output": Field("string", "Output file, or a folder (ending in /) holding NAME.onnx / NAME.tflite / NAME.xml "
                              "(+ NAME.bin) / NAME.pte (default: beside the source)."),
    "optimize": Field("boolean", "Also write OUT-STEM.opt.onnx, the simplified graph (ONNX targets)."),
    "compress": Field("compress", "Also write OUT-STEM.METHOD.EXT, compressed: a method for every target, or "
                                  "{onnx: METHOD, tflite: METHOD, ...}. ONNX: dynamic-int8, static-int8, fp16, auto; "
                                  "TFLite: dynamic-range, fp16, int8; OpenVINO: ov-int8, ov-weights-int8, ov-fp16; "
                                  "ExecuTorch: pte-int8."),
    "calibration": Field("string", "Calibration inputs (.npz) for static-int8 / int8."),
    "task": Field("string", "Hugging Face task (default: from config.json)."),
    "inputs": Field("strings", "Input specs NAME:D1,D2[:DTYPE], as --input."),
    "data": Field("string", "Verification inputs (.npz), as --data."),
    "samples": Field("integer", "Rows of generated verification input (default 16; fewer for large rows).", minimum=1),
    "seed": Field("integer", "Seed of the generated inputs (default 0)."),
    "atol": Field("number", "Absolute tolerance.", minimum=0),
    "rtol": Field("number", "Relative tolerance.", minimum=0),
    "opset": Field("integer", "ONNX opset.", minimum=1),
    "route": Field("string", "Force one route (see `modelport routes`)."),
    "static": Field("boolean", "Freeze the batch dimension."),
    "trust": Field("boolean", "Allow formats whose loading runs code (pickles, Lambda layers)."),
    "sign": Field("sign", "Sign this job's outputs (OUT.sig, OUT.intoto.jsonl) with this elliptic-curve private "
                          "key (PEM), as --sign-key; false: leave them unsigned when --sign-key is given."),
    "report": Field("string", "Write this job's report pages (as --report): the conversion's at this .html path, an "
                              "optimize / compress step's beside it as STEM.optimize.html / STEM.compress.html "
                              "(-TARGET in the name when the job has several targets)."),
    "tags": Field("tags", "Labels for the reports and the registry: {key: value}."),
    "register": Field("register", "With `batch --register`: the MLflow registered model name (default: the job's "
                                  "name; another target's gets -tflite / -openvino / -executorch), or false to "
                                  "keep this job out."),
    "timeout": Field("number", "Seconds this job may take (default: --timeout).", minimum=1),
    "num_cpus": Field("number", "CPUs this job needs on Ray (default 1; each actor reserves the largest any job "
                                "asks).", minimum=0.01),
    "memory": Field("memory", "Memory this job needs on Ray: bytes or 512MB / 4GB (default: from the source's "
                              "size; each actor reserves the largest any job asks)."),
}
PATHS = ("source", "output", "calibration", "data", "sign", "report")  # relative to the manifest's folder


@dataclass
class Entry:
    """One job after defaults, globs and paths are resolved: a source and the targets to make from it."""

    name: str
    source: str
    targets: dict[str, str]  # target -> output path
    options: dict[str, Any] = field(default_factory=dict)  # every other field

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


def load(path: str | Path) -> list[Entry]:
    """Read and check a manifest; every error is a UsageError naming the job and the field."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such manifest")
    raw = _parse(path)
    if isinstance(raw, list):
        raw = {"jobs": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), list) or not raw["jobs"]:
        raise UsageError(f"{path}: a manifest is a list of jobs, or a mapping with a 'jobs' list",
                         hint="modelport batch --schema prints the format")
    unknown = set(raw) - {"defaults", "jobs"}
    if unknown:
        raise UsageError(f"{path}: unknown top-level key {sorted(unknown)[0]!r}", hint="expected: defaults, jobs")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise UsageError(f"{path}: 'defaults' must be a mapping of job fields")
    _check(path, "defaults", defaults, need_source=False)
    entries: list[Entry] = []
    for i, job in enumerate(raw["jobs"], 1):
        where = f"job {i}" + (f" ({job.get('name') or job.get('source')})" if isinstance(job, dict) else "")
        if not isinstance(job, dict):
            raise UsageError(f"{path}: {where}: a job is a mapping of fields (source: ..., to: ...)")
        _check(path, where, job, need_source=True)
        entries += _expand(path, where, {**defaults, **job})
    seen: dict[str, str] = {}
    for entry in entries:
        for out in entry.targets.values():
            key = str(Path(out).resolve())
            if key in seen:
                raise UsageError(f"{path}: jobs {seen[key]!r} and {entry.name!r} both write {out}",
                                 hint="give one of them another 'output' or 'name'")
            seen[key] = entry.name
    names = [e.name for e in entries]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UsageError(f"{path}: two jobs are named {dup!r}", hint="give each job its own 'name'")
    return entries


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UsageError(f"{path}: not valid YAML ({where}{getattr(exc, 'problem', None) or exc})") from exc


def _check(path: Path, where: str, job: dict, need_source: bool) -> None:
    for key, value in job.items():
        spec = FIELDS.get(key)
        if spec is None or (not need_source and key in ("source", "name")):
            known = ", ".join(k for k in FIELDS if need_source or k not in ("source", "name"))
            raise UsageError(f"{path}: {where}: unknown field {key!r}", hint=f"fields: {known}")
        problem = _problem(spec, value)
        if problem:
            raise UsageError(f"{path}: {where}: field {key!r}: {problem}")
    if need_source and "source" not in job:
        raise UsageError(f"{path}: {where}: field 'source' is required")


def _problem(spec: Field, value: Any) -> str | None:
    kind = spec.kind
    if kind == "string":
        return None if isinstance(value, str) and value else "expected a non-empty string"
    if kind == "boolean":
        return None if isinstance(value, bool) else "expected true or false"
    if kind in ("integer", "number"):
        ok = isinstance(value, int) if kind == "integer" else isinstance(value, (int, float))
        if not ok or isinstance(value, bool):
            return f"expected {'an integer' if kind == 'integer' else 'a number'}"
        return f"must be at least {spec.minimum:g}" if spec.minimum is not None and value < spec.minimum else None
    if kind == "strings":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "expected a list of strings"
    if kind == "targets":
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or any(v not in TARGETS for v in values):
            return f"expected {' or '.join(TARGETS)}, or a list of them"
        return None
    if kind == "compress":
        if isinstance(value, str) and value:
            return None
        if isinstance(value, dict) and value and all(k in TARGETS and isinstance(v, str) for k, v in value.items()):
            return None
        return "expected a method, or {onnx: METHOD, tflite: METHOD}"
    if kind == "tags":
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, (str, int, float, bool))
                                             for k, v in value.items())
        return None if ok else "expected a mapping of names to values"
    if kind == "register":
        ok = value is False or value is True or (isinstance(value, str) and re.fullmatch(r"[\w.-]+", value))
        return None if ok else "expected a name (letters, digits, _ - .) or false"
    if kind == "sign":
        return None if value is False or (isinstance(value, str) and value) else "expected a key file or false"
    if kind == "memory":
        return None if parse_memory(value) is not None else "expected bytes, or a size like 512MB or 4GB"
    return None


def parse_memory(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?)\s*", str(value), re.IGNORECASE)
    if not match:
        return None
    unit = match.group(2).upper()[0]
    return int(float(match.group(1)) * 1024 ** "KMGT".index(unit) * 1024)


def _expand(path: Path, where: str, job: dict) -> list[Entry]:
    base = path.parent.resolve()  # absolute: a Ray worker runs elsewhere than this process
    source = str(job["source"])
    resolved = {k: str(_resolve(base, job[k])) for k in PATHS
                if isinstance(job.get(k), str) and k not in ("source", "output")}
    if glob.has_magic(source):
        matches = sorted(glob.glob(str(_resolve(base, source))))
        if not matches:
            raise UsageError(f"{path}: {where}: field 'source': {source!r} matches no file")
        sources = matches
    elif module_ref(source) and not _resolve(base, source).exists():
        sources = [source]  # imported by name on the worker (its sys.path), like convert's package.module:callable
    else:
        sources = [_source_path(base, source)]
        if not source_file(sources[0]).exists():
            raise UsageError(f"{path}: {where}: field 'source': {source} does not exist")
    targets = job.get("to", "onnx")
    targets = [targets] if isinstance(targets, str) else list(dict.fromkeys(targets))
    output = job.get("output")
    if output and len(targets) > 1 and not _is_folder(output):
        raise UsageError(f"{path}: {where}: field 'output': {len(targets)} targets need a folder",
                         hint=f"output: {Path(output).stem}/")
    if output and len(sources) > 1 and not _is_folder(output):
        raise UsageError(f"{path}: {where}: field 'output': a glob's matches need a folder",
                         hint=f"output: {Path(output).stem}/")
    if job.get("optimize") and "onnx" not in targets:
        raise UsageError(f"{path}: {where}: field 'optimize': it simplifies ONNX graphs, and this job has no "
                         "ONNX target")
    entries = []
    for src in sources:
        name = job.get("name") if len(sources) == 1 else None
        name = name or _stem(src)
        outs = {}
        for target in targets:
            # a Hugging Face folder converts into a folder, as `convert hf-dir/ -o DIR/` does: the model file(s)
            # (three for text2text) with config and tokenizer files beside them
            made = f"{name}-{target}/" if hf_folder(src) else f"{name}.{EXTENSION[target]}"
            if output and not _is_folder(output):
                outs[target] = str(_resolve(base, output))
            elif output:
                outs[target] = str(_resolve(base, output) / made) + ("/" if made.endswith("/") else "")
            else:
                beside = base if module_ref(src) else source_file(src).parent
                outs[target] = str(beside / made) + ("/" if made.endswith("/") else "")
        options = {k: v for k, v in job.items() if k not in ("source", "name", "to", "output")}
        options.update(resolved)
        entries.append(Entry(name, src, outs, options))
    return entries


def _is_folder(output: str) -> bool:
    return output.endswith(("/", "\\")) or Path(output).suffix == ""


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _source_path(base: Path, source: str) -> str:
    if ".py:" in source:  # file.py:callable: the file is relative, the callable is not
        file, _, func = source.rpartition(":")
        return f"{_resolve(base, file)}:{func}"
    return str(_resolve(base, source))


def source_file(source: str) -> Path:
    """What a source is read from on disk: the file or folder, or a factory's .py file (`file.py:callable`)."""
    return Path(source.rpartition(":")[0] if ".py:" in source else source)


def hf_folder(source: str) -> bool:
    """A Hugging Face save_pretrained folder, as `detect` tells one from a SavedModel."""
    from modelport.core.formats import Format, detect

    if not Path(source).is_dir():
        return False
    try:
        return detect(source) is Format.TRANSFORMERS
    except UsageError:
        return False


def module_ref(source: str) -> bool:
    """`package.module:callable`: a factory imported by name rather than read from a file."""
    module, sep, attr = source.rpartition(":")
    return (bool(sep) and attr.isidentifier() and not module.endswith(".py")
            and all(p.isidentifier() for p in module.split(".")))


def _stem(source: str) -> str:
    if module_ref(source):
        return source.rpartition(":")[2]
    stem = source_file(source).name
    for suffix in (".onnx", ".tflite", ".keras", ".h5", ".pt2", ".pt", ".pth", ".skops", ".pkl", ".joblib", ".py"):
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def schema() -> dict[str, Any]:
    """The manifest's JSON Schema, from FIELDS."""
    kinds = {
        "string": {"type": "string", "minLength": 1},
        "boolean": {"type": "boolean"},
        "integer": {"type": "integer"},
        "number": {"type": "number"},
        "strings": {"type": "array", "items": {"type": "string"}},
        "targets": {"oneOf": [{"enum": list(TARGETS)},
                              {"type": "array", "items": {"enum": list(TARGETS)}, "minItems": 1}]},
        "compress": {"oneOf": [{"type": "string", "minLength": 1},
                               {"type": "object", "properties": {t: {"type": "string"} for t in TARGETS},
                                "additionalProperties": False, "minProperties": 1}]},
        "tags": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "register": {"oneOf": [{"type": "boolean"}, {"type": "string", "pattern": r"^[\w.-]+$"}]},
        "sign": {"oneOf": [{"const": False}, {"type": "string", "minLength": 1}]},
        "memory": {"oneOf": [{"type": "integer", "minimum": 1},
                             {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[KMGTkmgt]i?[Bb]?\s*$"}]},
    }

    def prop(spec: Field) -> dict:
        out = dict(kinds[spec.kind], description=spec.help)
        if spec.minimum is not None:
            out["minimum"] = spec.minimum
        return out

    job = {"type": "object", "properties": {k: prop(v) for k, v in FIELDS.items()}, "required": ["source"],
           "additionalProperties": False}
    defaults = {"type": "object", "additionalProperties": False,
                "properties": {k: prop(v) for k, v in FIELDS.items() if k not in ("source", "name")}}
    jobs = {"type": "array", "items": {"$ref": "#/$defs/job"}, "minItems": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "modelport batch manifest",
        "oneOf": [{"type": "object", "properties": {"defaults": {"$ref": "#/$defs/defaults"}, "jobs": jobs},
                   "required": ["jobs"], "additionalProperties": False}, jobs],
        "$defs": {"job": job, "defaults": defaults},
    }
