"""Batch manifests: defaults, globs, outputs and steps resolved; every mistake is exit 2 naming the job and the
field, before anything runs; the JSON Schema describes the same fields."""

from __future__ import annotations

import json

import pytest

from modelport.batch.manifest import FIELDS, load, parse_memory, schema
from modelport.batch.plan import tasks_for
from modelport.core.errors import UsageError


def _manifest(tmp_path, text: str, name: str = "m.yaml"):
    for model in ("a.skops", "b.skops", "c.onnx"):
        (tmp_path / "models").mkdir(exist_ok=True)
        (tmp_path / "models" / model).write_bytes(b"x")
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_globs_outputs_and_steps(tmp_path):
    path = _manifest(tmp_path, """
defaults: {samples: 8, to: [onnx, tflite]}
jobs:
  - source: models/*.skops
    to: onnx
    output: out/
  - source: models/c.onnx
    name: small
    to: onnx
    output: out/small.onnx
    optimize: true
    compress: {onnx: fp16}
    tags: {team: risk, tier: 1}
    memory: 512MB
""")
    entries = load(path)
    assert [e.name for e in entries] == ["a", "b", "small"]
    assert entries[0].targets == {"onnx": str(tmp_path / "out" / "a.onnx")}
    assert entries[0].get("samples") == 8 and entries[0].source == str(tmp_path / "models" / "a.skops")
    tasks = tasks_for(entries, path)
    small = tasks[2]
    assert [(s.command, s.output.rsplit("/", 1)[1]) for s in small.steps] == [
        ("convert", "small.onnx"), ("optimize", "small.opt.onnx"), ("compress", "small.fp16.onnx")]
    assert small.steps[1].source == small.steps[0].output and small.steps[2].source == small.steps[1].output
    assert small.tags == {"team": "risk", "tier": "1"} and small.memory == 512 * 2**20
    assert len({s.digest for t in tasks for s in t.steps}) == 5  # each step its own digest
    again = tasks_for(load(path), path)
    assert [s.digest for s in again[2].steps] == [s.digest for s in small.steps]  # stable across reads


def test_a_json_manifest_and_outputs_beside_the_source(tmp_path):
    path = _manifest(tmp_path, json.dumps([{"source": "models/a.skops", "to": ["onnx", "tflite"]}]), "m.json")
    (entry,) = load(path)
    models = tmp_path / "models"
    assert entry.targets == {"onnx": str(models / "a.onnx"), "tflite": str(models / "a.tflite")}


@pytest.mark.parametrize("text, says", [
    ("jobs: [{source: models/a.skops, colour: red}]", "job 1 (models/a.skops): unknown field 'colour'"),
    ("jobs: [{source: models/a.skops, to: pdf}]", "job 1 (models/a.skops): field 'to': expected onnx or tflite"),
    ("jobs: [{source: models/a.skops, samples: 0}]", "field 'samples': must be at least 1"),
    ("jobs: [{source: models/a.skops, samples: many}]", "field 'samples': expected an integer"),
    ("jobs: [{source: models/*.keras}]", "field 'source': 'models/*.keras' matches no file"),
    ("jobs: [{source: models/none.skops}]", "field 'source'"),
    ("jobs: [{name: x}]", "job 1 (x): field 'source' is required"),
    ("jobs: [{source: models/a.skops, to: [onnx, tflite], output: a.onnx}]", "2 targets need a folder"),
    ("jobs: [{source: models/a.skops, to: tflite, optimize: true}]", "field 'optimize'"),
    ("jobs: [{source: models/c.onnx, compress: int4}]", "field 'compress': method 'int4' does not apply"),
    ("jobs: [{source: models/a.skops, memory: lots}]", "field 'memory'"),
    ("jobs: [{source: models/a.skops}, {source: models/a.skops}]", "both write"),
    ("jobs: [{source: models/a.skops, name: x, output: o/a.onnx}, {source: models/b.skops, name: x}]",
     "two jobs are named 'x'"),
    ("defaults: {source: models/a.skops}\njobs: [{source: models/a.skops}]", "defaults: unknown field 'source'"),
    ("jobs: []", "a manifest is a list of jobs"),
    ("jobs: [{source: models/a.skops\n", "not valid YAML"),
])
def test_mistakes_name_the_job_and_the_field(tmp_path, text, says):
    path = _manifest(tmp_path, text)
    with pytest.raises(UsageError) as err:
        tasks_for(load(path), path)
    assert err.value.exit_code == 2
    assert says in err.value.message and str(path) in err.value.message


def test_memory_sizes():
    assert parse_memory("512MB") == 512 * 2**20 and parse_memory("4GiB") == 4 * 2**30
    assert parse_memory(1000) == 1000 and parse_memory("lots") is None and parse_memory(True) is None


def test_the_schema_lists_every_field():
    got = schema()
    job = got["$defs"]["job"]
    assert set(job["properties"]) == set(FIELDS) and job["required"] == ["source"]
    assert job["additionalProperties"] is False
    assert "source" not in got["$defs"]["defaults"]["properties"]
    json.dumps(got)  # plain JSON


def test_each_job_gets_its_share_of_the_cores(monkeypatch):
    import os

    from modelport.batch.pool import thread_env
    from modelport.runtimes.onnx.model import _env_threads

    for var in ("OMP_NUM_THREADS", "MODELPORT_THREADS", "PYTHONHASHSEED"):
        monkeypatch.delenv(var, raising=False)
    env = thread_env(jobs=max(1, (os.cpu_count() or 1)))
    assert env["OMP_NUM_THREADS"] == env["MODELPORT_THREADS"] == "1" and env["PYTHONHASHSEED"] == "0"
    assert thread_env(1, cpus=3)["MODELPORT_THREADS"] == "3"
    monkeypatch.setenv("MODELPORT_THREADS", "2")
    assert _env_threads() == 2  # what an ONNX Runtime session then uses
    monkeypatch.setenv("MODELPORT_THREADS", "lots")
    assert _env_threads() is None


def test_a_step_after_one_to_redo_is_redone(tmp_path, monkeypatch):
    """optimize and compress read convert's file: when convert is redone (an option changed), they are too, even
    if their own files still record their own digests."""
    import modelport.batch.plan as plan
    import modelport.core.formats as formats
    import modelport.pipeline.facts as facts

    path = _manifest(tmp_path, "jobs: [{source: models/c.onnx, optimize: true, compress: fp16, output: out/}]")
    (task,) = tasks_for(load(path), path)
    monkeypatch.setattr(formats, "detect", lambda source, flag=None: formats.Format.ONNX)
    monkeypatch.setattr(facts, "source_digest", lambda source, fmt: "sha")
    recorded = {task.steps[1].output, task.steps[2].output}  # convert's own file is stale
    monkeypatch.setattr(plan, "_recorded", lambda step, sha: step.output in recorded)
    assert not plan.up_to_date(task) and [s.skip for s in task.steps] == [False, False, False]
    recorded.add(task.steps[0].output)
    assert plan.up_to_date(task) and all(s.skip for s in task.steps)
    recorded.discard(task.steps[2].output)  # only the last step to redo
    assert not plan.up_to_date(task) and [s.skip for s in task.steps] == [True, True, False]


def test_a_package_module_factory_is_a_source(tmp_path):
    """`package.module:callable` is imported by name (no file to find); `file.py:callable` stays a file."""
    from modelport.batch.plan import tasks_for, up_to_date

    (tmp_path / "nets.py").write_text("")
    (tmp_path / "m.yaml").write_text("jobs:\n  - {source: 'mypkg.nets:make_mlp', trust: true, inputs: ['x:1,4']}\n"
                                     "  - {source: 'nets.py:make', name: local, trust: true}\n"
                                     "  - {source: 'mypkg.nets:make_cnn'}\n")
    entries = load(tmp_path / "m.yaml")
    assert [(e.name, e.source, e.targets["onnx"]) for e in entries] == [
        ("make_mlp", "mypkg.nets:make_mlp", str(tmp_path.resolve() / "make_mlp.onnx")),
        ("local", f"{tmp_path.resolve() / 'nets.py'}:make", str(tmp_path.resolve() / "local.onnx")),
        ("make_cnn", "mypkg.nets:make_cnn", str(tmp_path.resolve() / "make_cnn.onnx"))]
    tasks = tasks_for(entries, tmp_path / "m.yaml")
    assert not up_to_date(tasks[2])  # untrusted: not even looked up (the job refuses it, exit 4)


def test_a_hugging_face_folder_converts_into_a_folder(tmp_path):
    """As `convert hf-dir/ -o DIR/`: NAME-onnx/ (model.onnx, or a text2text model's three files, with config and
    tokenizer files); optimize/compress, which take one file, are a manifest error; not registered unless named."""
    from modelport.batch.plan import tasks_for

    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text("{}")
    (tmp_path / "m.yaml").write_text("jobs: [{source: bert/, to: [onnx, tflite], output: out/}]\n")
    tasks = tasks_for(load(tmp_path / "m.yaml"), tmp_path / "m.yaml")
    base = tmp_path.resolve()
    assert [(t.name, t.steps[0].output, t.register) for t in tasks] == [
        ("bert", f"{base / 'out' / 'bert-onnx'}/", None), ("bert", f"{base / 'out' / 'bert-tflite'}/", None)]
    (tmp_path / "m.yaml").write_text("jobs: [{source: bert/, optimize: true}]\n")
    with pytest.raises(UsageError, match="writes a folder"):
        tasks_for(load(tmp_path / "m.yaml"), tmp_path / "m.yaml")
