"""`modelport convert`: a route chain from the source format to ONNX or TFLite, verified by default."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UnsupportedError, UsageError
from modelport.core.formats import Format, detect, target_format
from modelport.core.registry import Registry, StepOptions, load_registry
from modelport.core.report import Report
from modelport.pipeline import Job, Stage, VerifyOptions, run
from modelport.pipeline.runner import SUFFIX


def _noop(_: str) -> None:
    pass


def convert(
    source: str | Path,
    output: str | Path,
    *,
    from_format: str | Format | None = None,
    to: str | None = None,
    inputs: Sequence[TensorSpec | str] = (),
    opset: int | None = None,
    static: bool = False,
    route: str | None = None,
    verify: bool = True,
    check: VerifyOptions | None = None,
    force: bool = False,
    external_data: bool = False,
    trust: bool = False,
    imports: Sequence[str] = (),
    locate: bool = False,
    task: str | None = None,
    layout: str | None = None,
    registry: Registry | None = None,
    record: dict[str, str] | None = None,
    progress: Callable[[str], None] = _noop,
) -> Report:
    """Convert `source` to `output` through the first route whose result verifies.

    Returns the report (ok=False when the only results failed verification: the file is kept).
    Raises ModelportError subclasses for everything else; `exc.report` carries the attempts.
    """
    registry = registry or load_registry()
    src_fmt = detect(source, from_format)
    folder = output_folder(output)
    check_layout(layout, src_fmt, folder, to)
    parts = hf_parts(source, task) if src_fmt is Format.TRANSFORMERS else {}
    if parts and layout:
        raise UsageError(f"--layout {layout} is for decoders with a KV cache; {source} is an encoder-decoder",
                         hint="convert it without --layout: -o DIR/ writes its encoder and decoder files")
    if parts:  # an encoder-decoder: one verified file per part, then the folder's side files
        if folder is None:
            names = ", ".join(f"{stem}.onnx" for stem in parts)
            raise UsageError(f"{source}: {task or 'its task'} writes {names}: -o must name a folder",
                             hint=f"-o {Path(str(output)).stem}/")
        suffix = ".tflite" if to == "tflite" else ".onnx"
        reports = []
        try:
            for stem, part in parts.items():
                reports.append(convert(source, folder / f"{stem}{suffix}", from_format=src_fmt, to=to, inputs=inputs,
                                       opset=opset, static=static, route=route, verify=verify, check=check,
                                       force=force, external_data=external_data, trust=trust, imports=imports,
                                       locate=locate, task=part, registry=registry, record=record,
                                       progress=progress))
        except BaseException:  # a part that cannot be made: the parts already written would be an unusable set
            for written in reports:
                Path(written.output).unlink(missing_ok=True)
            raise
        report = reports[-1]
        report.ok = all(r.ok for r in reports)
        report.details["parts"] = [{"output": r.output, "route": r.route, "ok": r.ok,
                                    "verification": r.verification.summary() if r.verification else None}
                                   for r in reports]
        report.warnings = [w for r in reports for w in r.warnings]
        report.details["copied"] = copy_side_files(Path(source), folder)
        return report
    if folder is not None:  # -o DIR/: model.onnx (or .tflite) inside, plus a Hugging Face folder's side files
        dst_fmt = target_format(f"model.{to or 'onnx'}", to)
        output = folder / f"model{SUFFIX[dst_fmt]}"
    else:
        dst_fmt = target_format(output, to)
    if src_fmt is dst_fmt:
        raise UsageError(f"{source} is already {dst_fmt}", hint="use `modelport verify` or `optimize` instead")
    if src_fmt is Format.ONNX and dst_fmt is Format.TFLITE:
        raise UnsupportedError(
            "ONNX -> TFLite is not a supported route (onnx2tf rewrites its input and downgrades TensorFlow)",
            hint="convert from the source model instead, e.g. modelport convert model.keras -o model.tflite")
    chain = registry.find(src_fmt, dst_fmt, route)
    verify_options = replace(check or VerifyOptions(), enabled=verify)
    job = Job(
        "convert", str(source), str(output),
        [Stage("convert", [s.name for s in chain], forced=bool(route),
               options=StepOptions(opset=opset, dynamic_batch=not static, imports=tuple(imports)))],
        source_format=src_fmt.value, inputs=[str(s) for s in inputs], static=static, trust=trust,
        imports=list(imports), force=force, external_data=external_data, verify=verify_options, locate=locate,
        task=task, record=dict(record or {}),
    )
    report = run(job, registry=registry, progress=progress)
    if folder is not None and src_fmt is Format.TRANSFORMERS and report.output:
        report.details["copied"] = copy_side_files(Path(source), folder)
        if layout == "genai" and report.ok:
            from modelport.frameworks.hf import genai
            from modelport.verify.generation import genai_check

            progress("writing genai_config.json and loading the folder with onnxruntime-genai")
            report.details["genai"] = genai.write(folder, Path(source), Path(report.output),
                                                  (report.source or {}).get("task", ""), check=genai_check)
    return report


LAYOUTS = ("genai",)


def check_layout(layout: str | None, src_fmt: Format, folder: Path | None, to: str | None) -> None:
    """--layout genai: a Hugging Face decoder folder into an output folder, as ONNX."""
    if layout is None:
        return
    if layout not in LAYOUTS:
        raise UsageError(f"unknown --layout '{layout}'", hint=f"layouts: {', '.join(LAYOUTS)}")
    if src_fmt is not Format.TRANSFORMERS or folder is None or to not in (None, "onnx"):
        raise UsageError("--layout genai writes a Hugging Face decoder's folder for ONNX Runtime GenAI",
                         hint="modelport convert llama-dir/ -o llama-genai/ --layout genai")


def hf_parts(source, task: str | None) -> dict[str, str]:
    """For a task written as several files (an encoder-decoder): file stem -> the task naming that part."""
    from modelport.frameworks.hf.model import read_config
    from modelport.frameworks.hf.tasks import check_task, parts, task_from_config

    try:
        config = read_config(Path(source))
        task = check_task(task) if task else task_from_config(config, source)
    except UsageError:  # the loader says why, after its own checks (remote code first)
        if task:
            check_task(task)
        return {}
    return {stem: f"{task}:{part}" for stem, part in parts(task, config).items()}


def output_folder(output: str | Path) -> Path | None:
    """The folder `-o` names (a trailing slash, or an existing folder), created when missing; None for a file."""
    text = str(output)
    if not (text.endswith(("/", os.sep)) or Path(text).is_dir()):
        return None
    folder = Path(text)
    if not folder.parent.exists():
        raise UsageError(f"{folder.parent}: output folder does not exist", hint="create it first")
    folder.mkdir(exist_ok=True)
    return folder


def copy_side_files(source: Path, folder: Path) -> list[str]:
    """config.json, generation_config.json, tokenizer and preprocessor files beside the model, each written to
    a temp name and renamed into place."""
    import shutil

    from modelport.frameworks.hf.tasks import side_files

    copied = []
    for file in side_files(source):
        partial = folder / f".{file.name}.partial"
        shutil.copyfile(file, partial)
        os.replace(partial, folder / file.name)
        copied.append(file.name)
    return copied
