"""From manifest entries to tasks: one task per job and target, each a list of steps (convert, then optimize
and compress when asked), each step a call of modelport's Python API with plain arguments.

A task is plain data (`to_dict` / `from_dict`): the same task runs in a pool process or a Ray worker. Each
step carries a digest of what it was asked to do; the file it writes records that digest in its provenance,
so a rerun can tell an output that is up to date (same source bytes, same step, same modelport, verified)
from one to redo.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelport import __version__
from modelport.batch.manifest import EXTENSION, Entry, module_ref, parse_memory
from modelport.core.errors import UsageError

FROM_SOURCE = ("tflite", "executorch")  # targets whose compression converts from the source itself

COMPRESS_RUNS = 10  # before/after latency runs of a compress step: a fleet run wants its figures, not precision
VERIFY_KEYS = ("samples", "seed", "data")


@dataclass
class StepSpec:
    command: str  # convert | optimize | compress
    source: str
    output: str
    kwargs: dict[str, Any]
    digest: str = ""
    skip: bool = False  # up to date: not run again
    page: str | None = None  # the manifest's `report`: this step's report page (not part of the digest)

    def __post_init__(self) -> None:
        if not self.digest:
            text = json.dumps({"command": self.command, "source": self.source, "output": self.output,
                               "kwargs": self.kwargs}, sort_keys=True, default=str)
            self.digest = hashlib.sha256(text.encode()).hexdigest()

    def entry(self, status: str, exit_code: int = 0, seconds: float = 0.0, **extra: Any) -> dict[str, Any]:
        """This step's line in a task result (run_task fills it for the steps it ran)."""
        return {"command": self.command, "output": self.output, "status": status, "exit_code": exit_code,
                "seconds": seconds, **extra}


@dataclass
class Task:
    name: str
    target: str
    source: str
    steps: list[StepSpec]
    tags: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    num_cpus: float = 1.0
    memory: int | None = None
    register: str | None = None  # the registered model name `batch --register` logs the output under

    @property
    def label(self) -> str:
        return f"{self.name} -> {self.target}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        values = dict(data)
        values["steps"] = [StepSpec(**s) for s in data["steps"]]
        return cls(**values)


def tasks_for(entries: list[Entry], manifest: str | Path) -> list[Task]:
    tasks = []
    for entry in entries:
        for target, output in entry.targets.items():
            tasks.append(_task(entry, target, output, manifest))
    return tasks


def _verify(entry: Entry, tolerances: bool) -> dict[str, Any]:
    check = {k: entry.get(k) for k in VERIFY_KEYS if entry.get(k) is not None}
    if tolerances:
        check.update({k: entry.get(k) for k in ("atol", "rtol") if entry.get(k) is not None})
    return check


def _signing(entry: Entry, manifest: str | Path) -> dict | bool | None:
    """How the job's outputs are signed: the job's `sign` key, else --sign-key's (with its certificate), False for
    `sign: false`, None when nothing signs. Part of each step's digest: signing a batch that was not signed
    redoes its jobs."""
    from modelport.core.signature_policy import signing_options

    value = entry.get("sign")
    if value is False:
        return False if signing_options() else None
    if isinstance(value, str):
        if not Path(value).is_file():
            raise UsageError(f"{manifest}: job {entry.name!r}: field 'sign': {value} does not exist",
                             hint="sign takes an elliptic-curve private key (PEM)")
        return {"key": value, "cert": None, "chain": []}
    options = signing_options()
    return {"key": options["key"], "cert": options["cert"], "chain": list(options["chain"])} if options else None


def _pages(entry: Entry, target: str, steps: list[StepSpec], manifest: str | Path) -> None:
    """The manifest's `report`: the conversion's page at that path, the other steps' beside it."""
    value = entry.get("report")
    if not value:
        return
    base = Path(value)
    if base.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{manifest}: job {entry.name!r}: field 'report': {value} is not an .html file",
                         hint="report: pages/NAME.html")
    if len(entry.targets) > 1:
        base = base.with_name(f"{base.stem}-{target}{base.suffix}")
    for step in steps:
        step.page = str(base if step.command == "convert" else base.with_name(f"{base.stem}.{step.command}"
                                                                             f"{base.suffix}"))


def _task(entry: Entry, target: str, output: str, manifest: str | Path) -> Task:
    out = Path(output)
    folder = output.endswith("/")  # a Hugging Face folder's output: a folder of files
    if folder and (entry.get("optimize") or entry.get("compress")):
        raise UsageError(f"{manifest}: job {entry.name!r}: 'optimize' and 'compress' take one file, and this job "
                         "writes a folder (a Hugging Face model's files)",
                         hint=f"run modelport optimize / compress on the files in {out.name}/ after the batch")
    convert = {"to": target, "inputs": list(entry.get("inputs", [])), "opset": entry.get("opset"),
               "static": bool(entry.get("static", False)), "route": entry.get("route"), "task": entry.get("task"),
               "trust": bool(entry.get("trust", False)), "check": _verify(entry, tolerances=True)}
    sign = _signing(entry, manifest)
    if sign is not None:
        convert["sign"] = sign
    steps = [StepSpec("convert", entry.source, str(out) + ("/" if folder else ""), convert)]
    last = str(out)
    if entry.get("optimize") and target == "onnx":
        opt = out.with_name(f"{_stem(out)}.opt.onnx")
        steps.append(StepSpec("optimize", last, str(opt), {"check": _verify(entry, tolerances=True),
                                                           **({"sign": sign} if sign is not None else {})}))
        last = str(opt)
    method = entry.get("compress")
    if isinstance(method, dict):
        method = method.get(target)
    if method:
        _check_method(entry, target, method, manifest)
        kwargs: dict[str, Any] = {"method": method, "calibration": entry.get("calibration"), "runs": COMPRESS_RUNS,
                                  **{k: entry.get(k) for k in VERIFY_KEYS if entry.get(k) is not None}}
        if sign is not None:
            kwargs["sign"] = sign
        suffix = EXTENSION[target]
        if target in FROM_SOURCE:  # quantization is part of the conversion: from the source itself
            kwargs.update(trust=bool(entry.get("trust", False)), inputs=list(entry.get("inputs", [])))
            steps.append(StepSpec("compress", entry.source, str(out.with_name(f"{_stem(out)}.{method}.{suffix}")),
                                  kwargs))
        else:  # ONNX and OpenVINO: the converted file is compressed
            steps.append(StepSpec("compress", last, str(out.with_name(f"{_stem(out)}.{method}.{suffix}")), kwargs))
    _pages(entry, target, steps, manifest)
    memory = entry.get("memory")
    register = entry.get("register", not folder)  # a folder is registered only when named (and then refused)
    if register is not False:
        register = (entry.name if register is True else register) + ("" if target == "onnx" else f"-{target}")
    return Task(entry.name, target, entry.source, steps,
                tags={k: str(v) for k, v in (entry.get("tags") or {}).items()}, timeout=entry.get("timeout"),
                num_cpus=float(entry.get("num_cpus", 1.0)),
                memory=parse_memory(memory) if memory is not None else None, register=register or None)


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix else path.name


def _check_method(entry: Entry, target: str, method: str, manifest: str | Path) -> None:
    """A compression method that cannot apply is a manifest error (exit 2, before any work)."""
    from modelport.core.formats import Format, detect
    from modelport.core.registry import load_registry

    registry = load_registry()
    fmt = Format(target)
    if target not in FROM_SOURCE:
        known = [*registry.methods(fmt, fmt), "auto"]
    else:
        try:
            source = detect(entry.source)
        except Exception:  # an unreadable source fails as its own job, with its own message
            return
        known = list(registry.methods(source, fmt))
    if method not in known:
        raise UsageError(f"{manifest}: job {entry.name!r}: field 'compress': method {method!r} does not apply to "
                         f"{target} here", hint=f"methods: {', '.join(known) or 'none for this source'}")


def up_to_date(task: Task) -> bool:
    """Mark the steps whose output already records this step, this source and this modelport, verified, and
    that follow no step to redo (a later step reads an earlier one's file). True when every step is."""
    from modelport.core.formats import detect
    from modelport.pipeline.facts import source_digest

    if module_ref(task.source) and not task.steps[0].kwargs.get("trust"):
        return False  # finding the module would run its package's code: the job itself refuses it (exit 4)
    try:
        digest = source_digest(task.source, detect(task.source))
    except Exception:
        return False
    redo = False
    for step in task.steps:
        redo = redo or not _recorded(step, digest)
        step.skip = not redo
    return not redo


def _recorded(step: StepSpec, source_sha256: str) -> bool:
    path = Path(step.output)
    if step.output.endswith("/"):  # a Hugging Face folder's output: each file the task writes records this step
        from modelport.commands.convert import hf_parts

        suffix = "." + EXTENSION[step.kwargs.get("to") or "onnx"]
        try:
            stems = list(hf_parts(step.source, step.kwargs.get("task"))) or ["model"]
        except Exception:
            return False
        return all(_file_recorded(path / f"{stem}{suffix}", step, source_sha256) for stem in stems)
    return _file_recorded(path, step, source_sha256)


def _file_recorded(path: Path, step: StepSpec, source_sha256: str) -> bool:
    from modelport.core import provenance

    if not path.is_file():
        return False
    try:
        facts = provenance.read(path)
    except Exception:
        return False
    return (facts.get("batch_digest") == step.digest and facts.get("source_sha256") == source_sha256
            and facts.get("modelport_version") == __version__ and facts.get("verification") == "passed")
