"""The parts of `modelport register` that need no MLflow: registry URIs, the content digest that decides whether a
file is already a version, the downloaded folder's model file, and the manifest's `register` field."""

from __future__ import annotations

import os

import numpy as np
import pytest

from modelport.core.errors import UsageError
from modelport.core.formats import Format
from modelport.loaders.mlflow_store import is_models_uri, model_file, parse


@pytest.mark.parametrize("uri, want", [
    ("models:/fraud/3", ("fraud", "3", None)),
    ("models:/fraud@production", ("fraud", None, "production")),
    ("models:/fraud-v2.x/latest", ("fraud-v2.x", "latest", None)),
])
def test_models_uris(uri, want):
    assert is_models_uri(uri) and parse(uri) == want


@pytest.mark.parametrize("uri", ["models:/fraud", "models:/fraud/", "models:/fraud/three", "models:/a/1/2",
                                 "models:/@prod"])
def test_a_wrong_models_uri_is_exit_2(uri):
    with pytest.raises(UsageError) as err:
        parse(uri)
    assert err.value.exit_code == 2 and "models:/NAME/VERSION" in err.value.hint


def _onnx(path, weight: float):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((4, 3), weight, np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_the_content_digest_ignores_modelports_record_and_sees_a_weight(tmp_path):
    from modelport.commands.register_log import content_digest
    from modelport.core import provenance
    from modelport.core.io import sha256_of

    a, b, c = (_onnx(tmp_path / f"{n}.onnx", w) for n, w in (("a", 0.5), ("b", 0.5), ("c", 0.5001)))
    provenance.write_onnx(a, {"created": "2026-01-01T00:00:00Z", "batch_digest": "x"})
    provenance.write_onnx(b, {"created": "2026-02-02T00:00:00Z", "batch_digest": "y"})
    assert sha256_of(a) != sha256_of(b)  # the files differ (their record) ...
    assert content_digest(a, Format.ONNX) == content_digest(b, Format.ONNX)  # ... the models do not
    assert content_digest(c, Format.ONNX) != content_digest(a, Format.ONNX)  # one weight moved: another model


def test_the_downloaded_folders_model_file(tmp_path):
    (tmp_path / "flavor").mkdir()
    (tmp_path / "flavor" / "MLmodel").write_text("flavors:\n  onnx: {data: model.onnx}\n")
    (tmp_path / "flavor" / "model.onnx").write_bytes(b"x")
    (tmp_path / "flavor" / "model.onnx.data").write_bytes(b"x")
    assert model_file(tmp_path / "flavor").name == "model.onnx"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "seq.tflite").write_bytes(b"x")
    assert model_file(tmp_path / "plain").name == "seq.tflite"
    (tmp_path / "plain" / "other.tflite").write_bytes(b"x")
    assert model_file(tmp_path / "plain") is None  # two candidates: not guessed


def test_manifest_register_names(tmp_path):
    from modelport.batch.manifest import load, schema
    from modelport.batch.plan import tasks_for

    (tmp_path / "a.onnx").write_bytes(b"")
    (tmp_path / "m.yaml").write_text("jobs:\n  - {source: a.onnx, to: [onnx, tflite], output: out/}\n"
                                     "  - {source: a.onnx, name: b, register: fraud}\n"
                                     "  - {source: a.onnx, name: c, register: false}\n")
    tasks = tasks_for(load(tmp_path / "m.yaml"), tmp_path / "m.yaml")
    assert [(t.name, t.target, t.register) for t in tasks] == [
        ("a", "onnx", "a"), ("a", "tflite", "a-tflite"), ("b", "onnx", "fraud"), ("c", "onnx", None)]
    (tmp_path / "bad.yaml").write_text("jobs: [{source: a.onnx, register: 'no spaces'}]\n")
    with pytest.raises(UsageError, match="field 'register'"):
        load(tmp_path / "bad.yaml")
    assert "register" in schema()["$defs"]["job"]["properties"]


@pytest.mark.parametrize("alias", ["prod.1", "latest", "v2", "", "a b"])
def test_aliases_mlflow_would_refuse_are_exit_2_before_any_work(alias):
    from modelport.loaders.mlflow_store import check_alias

    with pytest.raises(UsageError):
        check_alias(alias)
    check_alias("production")


def test_store_uris_are_shown_without_credentials_and_names_are_quoted():
    from modelport.commands.register_log import metric_key
    from modelport.loaders.mlflow_store import name_filter, shown

    assert shown("postgresql://user:secret@db:5432/mlflow") == "postgresql://***@db:5432/mlflow"
    assert shown("https://token@host/x") == "https://***@host/x" and shown("sqlite:///a.db") == "sqlite:///a.db"
    assert name_filter("fraud") == "name = 'fraud'" and name_filter("o'brien") == "name = \"o'brien\""
    assert metric_key("dense/BiasAdd:0") == "dense_BiasAdd_0" and metric_key("out/") == "out_"


def test_weights_outside_the_models_folder_are_refused(tmp_path):
    import onnx

    from modelport.commands.register_log import external_files, load_graph

    model = _onnx(tmp_path / "m.onnx", 0.5)
    proto = onnx.load(str(model))
    onnx.save(proto, str(model), save_as_external_data=True, location="m.onnx.data", size_threshold=0)
    assert external_files(model, load_graph(model)) == ["m.onnx.data"]
    (tmp_path / "m.onnx.data").unlink()
    with pytest.raises(UsageError, match="missing"):
        external_files(model, load_graph(model))
    for tensor in proto.graph.initializer:
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", "../elsewhere.bin"
    (tmp_path / "far.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(UsageError, match="outside its folder"):
        external_files(tmp_path / "far.onnx", load_graph(tmp_path / "far.onnx"))


def test_downloads_of_killed_commands_are_swept(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from modelport.loaders.mlflow_store import sweep_downloads

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"modelport-registry-{gone.pid}-abc"
    alive = tmp_path / f"modelport-registry-{os.getppid()}-def"
    for folder in (dead, alive):
        (folder / "model").mkdir(parents=True)
    sweep_downloads()
    assert not dead.exists() and alive.exists()
