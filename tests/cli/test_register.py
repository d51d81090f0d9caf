"""`modelport register` and models:/ sources against a real MLflow store (the embedded SQLite one users get by
default), checked through MLflow's own client and onnxruntime, never through modelport's report alone."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs, run_cli

pytestmark = [pytest.mark.slow, needs("sklearn"),
              pytest.mark.skipif(__import__("importlib").util.find_spec("mlflow") is None,
                                 reason="needs mlflow (pip install 'modelport[mlflow]')")]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """v1: a scaler + logistic regression, converted and verified; v2: the same with one scaler mean moved (a
    retrain that changed the model), converted and verified too. Built once; each test copies them."""
    import modelport
    from tests.builders import iris_versions

    folder = tmp_path_factory.mktemp("iris")
    iris_versions(folder)
    for v in ("v1", "v2"):
        assert modelport.convert(folder / f"{v}.skops", folder / f"{v}.onnx").ok
    return folder


def _iris_models(folder: Path, built: Path) -> tuple[Path, Path]:
    import shutil

    for file in built.iterdir():
        shutil.copyfile(file, folder / file.name)
    return folder / "v1.onnx", folder / "v2.onnx"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The default store: mlflow.db and mlruns/ in the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_two_versions_alias_move_verify_between_them_and_pyfunc(store, built, monkeypatch):
    import mlflow
    import onnxruntime as ort
    from mlflow import MlflowClient

    from modelport.commands.register import register, set_alias
    from modelport.commands.verify import verify

    v1, v2 = _iris_models(store, built)
    first = register(v1, "iris", alias="production")
    again = register(v1, "iris")  # unchanged: no new version
    second = register(v2, "iris")
    assert (first.details["version"], again.details["version"], second.details["version"]) == (1, 1, 2)
    assert (store / "mlflow.db").is_file() and (store / "mlruns").is_dir()

    db = f"sqlite:///{store / 'mlflow.db'}"
    client = MlflowClient(db, db)
    versions = {int(v.version): v for v in client.search_model_versions("name='iris'")}
    assert sorted(versions) == [1, 2]
    tags = versions[2].tags
    assert tags["modelport.verification"] == "passed" and tags["modelport.route"].startswith("sklearn-skl2onnx")
    assert tags["modelport.source_name"] == "v2.skops"
    metrics = client.get_run(versions[2].run_id).data.metrics
    assert metrics["size_bytes"] == os.path.getsize(v2) and metrics["latency_p50_ms"] > 0
    registered = Path(mlflow.artifacts.download_artifacts("models:/iris/2", dst_path=str(store / "dl")))
    assert (registered / "v2.onnx").read_bytes() == v2.read_bytes()  # the very file that was verified
    report = json.loads(Path(mlflow.artifacts.download_artifacts(
        f"runs:/{versions[2].run_id}/modelport_report.json", dst_path=str(store / "dl2"))).read_text())
    assert report["provenance"]["verification"] == "passed"

    # the alias moves to v2 and back (a rollback), as MLflow itself sees it
    set_alias("iris", "production", 2)
    assert str(client.get_model_version_by_alias("iris", "production").version) == "2"
    set_alias("iris", "production", 1)
    assert str(client.get_model_version_by_alias("iris", "production").version) == "1"

    # versions are sources: v1 against v2 differs (the moved scaler mean), the alias against its own file matches
    assert not verify("models:/iris/1", "models:/iris/2").ok
    same = verify("models:/iris@production", v1)
    assert same.ok and same.source["path"] == "models:/iris@production"

    # a model with its weights in NAME.onnx.data travels as a pair, under its own names
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from modelport.core import provenance

    ext = store / "ext" / "mm.onnx"
    ext.parent.mkdir()
    weight = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(ext),
              save_as_external_data=True, location="mm.onnx.data", size_threshold=0)
    provenance.write_onnx(ext, {"verification": "passed"})
    assert register(ext, "mm").details["version"] == 1
    got_ext = Path(mlflow.artifacts.download_artifacts("models:/mm/1", dst_path=str(store / "dl3")))
    assert (got_ext / "mm.onnx.data").read_bytes() == (store / "ext" / "mm.onnx.data").read_bytes()
    x4 = np.ones((2, 4), np.float32)
    assert np.array_equal(mlflow.pyfunc.load_model("models:/mm/1").predict({"x": x4})["y"],
                          x4 @ np.arange(12, dtype=np.float32).reshape(4, 3))

    # two registers of one model at once: the one that did not see the other removes its own version
    import modelport.commands.register as api

    assert register(v1, "race").details["version"] == 1
    real, calls = api._same_model, []

    def blind_at_first(*args):  # the check before logging misses the other one's version, the one after sees it
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(api, "_same_model", blind_at_first)
    raced = register(v1, "race")
    assert (raced.details["version"], raced.details["created"]) == (1, False)
    assert [v.version for v in client.search_model_versions("name='race'")] in ([1], ["1"])
    monkeypatch.setattr(api, "_same_model", real)

    # MLflow's pyfunc gives what onnxruntime gives on the file
    x = np.random.default_rng(0).uniform(0, 8, size=(7, 4)).astype(np.float32)
    got = mlflow.pyfunc.load_model("models:/iris/latest").predict({"X": x})
    want = ort.InferenceSession(str(v2), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    assert np.array_equal(got["label"], want[0]) and np.allclose(got["probabilities"], want[1], atol=0, rtol=0)


def test_cli_list_refusals_and_models_uri_errors(tmp_path, built, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'team.db'}"}
    v1, v2 = _iris_models(tmp_path, built)
    got = run_cli("register", v1, "--name", "fraud", "--alias", "production", "--json", "-", "-q",
                  env=env)
    assert got.returncode == 0 and got.stderr == "", got.stderr  # no MLflow chatter (migrations, "Created version")
    assert json.loads(got.stdout)["version"] == 1
    assert run_cli("register", v2, "-n", "fraud", "-q", env=env).returncode == 0
    listed = run_cli("register", "--list", "fraud", "--json", "-", env=env)
    rows = json.loads(listed.stdout)["versions"]
    assert [(r["version"], r["aliases"], r["verification"]) for r in rows] == \
        [(2, [], "passed"), (1, ["production"], "passed")]
    table = run_cli("register", "--list", "fraud", env=env).stdout
    assert "production" in table and "passed" in table
    from mlflow import MlflowClient

    db = env["MLFLOW_TRACKING_URI"]
    assert MlflowClient(db, db).get_registered_model("fraud").aliases == {"production": 1}
    bad_alias = run_cli("register", v2, "-n", "fraud", "--alias", "latest", env=env)
    assert bad_alias.returncode == 2 and "alias" in bad_alias.stderr, bad_alias.stderr
    assert len(MlflowClient(db, db).search_model_versions("name='fraud'")) == 2  # refused before any work
    assert not (tmp_path / "mlflow.db").exists()  # MLFLOW_TRACKING_URI's store, not the working directory's

    # a file whose verification failed is not registered (exit 1); a source model is not an artifact (exit 2)
    from modelport.core import provenance

    facts = provenance.read_onnx(v2)
    provenance.write_onnx(v2, dict(facts, verification="failed"))
    refused = run_cli("register", v2, "-n", "fraud", env=env)
    assert refused.returncode == 1 and "not registered" in refused.stderr, refused.stderr
    assert run_cli("register", tmp_path / "v1.skops", "-n", "fraud", env=env).returncode == 2
    missing = run_cli("verify", "models:/fraud/9", v1, env=env)
    assert missing.returncode == 2 and "register --list fraud" in missing.stderr
    assert "Traceback" not in missing.stderr
    # the alias's version is what inspect describes
    shown = json.loads(run_cli("inspect", "models:/fraud@production", "--json", "-", env=env).stdout)["model"]
    assert shown["path"] == "models:/fraud@production" and shown["provenance"]["source_name"] == "v1.skops"


def test_tflite_is_registered_as_a_plain_artifact(tmp_path, models, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    import modelport
    from modelport.commands.register import register

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "seq.tflite"
    assert modelport.convert(models("keras_seq"), out).ok
    first = register(out, "seq-tflite")
    assert first.details["version"] == 1 and register(out, "seq-tflite").details["created"] is False
    version = MlflowClient(uri, uri).get_model_version("seq-tflite", "1")
    assert version.tags["modelport.format"] == "tflite"
    folder = Path(mlflow.artifacts.download_artifacts(version.source, dst_path=str(tmp_path / "dl")))
    assert sorted(p.name for p in folder.iterdir()) == ["seq.tflite"]
    assert (folder / "seq.tflite").read_bytes() == out.read_bytes()
    bench = run_cli("bench", "models:/seq-tflite/1", out, "--runs", "5", "--json", "-")
    assert bench.returncode == 0, bench.stderr
    # a second record rewrites the first in place: the model's content digest does not move
    from modelport.commands.register_log import content_digest
    from modelport.core import provenance
    from modelport.core.formats import Format

    before = content_digest(out, Format.TFLITE)
    provenance.write_tflite(out, dict(provenance.read_tflite(out), created="2030-01-01T00:00:00Z"))
    assert content_digest(out, Format.TFLITE) == before


def test_batch_register_adds_versions_once(tmp_path, built, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    _iris_models(tmp_path, built)
    (tmp_path / "m.yaml").write_text("jobs:\n  - {source: v1.skops, name: iris, output: out/, tags: {team: risk}}\n"
                                     "  - {source: v2.skops, name: other, output: out/, register: false}\n")
    first = run_cli("batch", tmp_path / "m.yaml", "--register", "--json", "-", "-q", env=env)
    assert first.returncode == 0, first.stderr
    jobs = {j["name"]: j.get("registered") for j in json.loads(first.stdout)["jobs"]}
    assert jobs == {"iris": {"uri": "models:/iris/1", "version": 1, "created": True}, "other": None}
    forced = run_cli("batch", tmp_path / "m.yaml", "--register", "--force", "--json", "-", "-q", env=env)
    again = json.loads(forced.stdout)["jobs"][0]["registered"]
    assert again == {"uri": "models:/iris/1", "version": 1, "created": False}  # converted again, same model

    from mlflow import MlflowClient

    db = env["MLFLOW_TRACKING_URI"]
    versions = MlflowClient(db, db).search_model_versions("name='iris'")
    assert len(versions) == 1 and versions[0].tags["team"] == "risk"
    if importlib.util.find_spec("bokeh") is not None:  # modelport[report]: the job's page beside its JSON report
        import mlflow

        page = Path(mlflow.artifacts.download_artifacts(f"runs:/{versions[0].run_id}/modelport_report.html",
                                                        dst_path=str(tmp_path / "page"), tracking_uri=db))
        text = page.read_text()
        assert "<title>modelport convert: v1.skops" in text and "PASSED" in text


def test_without_mlflow_register_names_the_extra(tmp_path):
    (tmp_path / "fake" / "mlflow").mkdir(parents=True)
    (tmp_path / "fake" / "mlflow" / "__init__.py").write_text("raise ImportError('no mlflow here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")])}
    got = run_cli("register", "--list", "x", env=env)
    assert got.returncode == 5 and "pip install 'modelport[mlflow]'" in got.stderr, got.stderr
    got = run_cli("verify", "models:/x/1", "models:/x/2", env=env)
    assert got.returncode == 5, got.stderr


def test_mlflow_models_serve_answers_like_the_file(tmp_path, built, monkeypatch):
    """`mlflow models serve` (no environment rebuild) on a registered version: the same predictions over HTTP."""
    import onnxruntime as ort

    from modelport.commands.register import register

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    v1, _ = _iris_models(tmp_path, built)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    register(v1, "served", latency_runs=0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/served/1",
                               "--env-manager", "local", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # start-up only; never a timing assertion
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        x = np.random.default_rng(1).uniform(0, 8, size=(5, 4)).astype(np.float32)
        body = json.dumps({"inputs": {"X": x.tolist()}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        got = json.loads(urllib.request.urlopen(request, timeout=30).read())["predictions"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    want = ort.InferenceSession(str(v1), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    assert got["label"] == want[0].tolist()
    assert np.allclose(np.array(got["probabilities"], dtype=np.float32), want[1], atol=1e-7)
