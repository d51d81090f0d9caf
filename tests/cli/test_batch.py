"""`modelport batch`: jobs in their own processes, verdicts and failures kept apart (exit 0/1/3), JUnit and JSON
reports, resume. Outputs are checked with onnxruntime against scikit-learn itself; the broken job is a model
with a random term, measured here to draw new numbers on every run."""

from __future__ import annotations

import importlib.util
import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.builders import iris, sklearn_pipeline
from tests.conftest import needs, run_cli

pytestmark = [pytest.mark.slow, needs("sklearn", "torch")]

FACTORIES = '''
import os
import time

import torch


class Noisy(torch.nn.Module):
    def forward(self, x):
        return x + torch.rand_like(x)


def noisy():
    return Noisy().eval()


def hang():
    time.sleep(600)


def crash():
    os.abort()
'''


def _predict(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))


def test_failures_stay_in_their_job_and_reach_junit(tmp_path):
    import skops.io as sio

    sklearn_pipeline(tmp_path / "pipe.skops")
    (tmp_path / "f.py").write_text(FACTORIES)
    (tmp_path / "bad.skops").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "m.yaml").write_text("""
defaults: {samples: 8}
jobs:
  - {source: pipe.skops, output: out/, tags: {team: risk}}
  - {source: "f.py:noisy", name: noisy, inputs: ["x:1,4"], trust: true, output: out/}
  - {source: bad.skops, output: out/}
  - {source: "f.py:hang", name: hang, inputs: ["x:1,4"], trust: true, timeout: 3, output: out/}
  - {source: "f.py:crash", name: crash, inputs: ["x:1,4"], trust: true, output: out/}
""")
    got = run_cli("batch", tmp_path / "m.yaml", "-j", "2", "--junit", tmp_path / "r.xml", "--json",
                  tmp_path / "r.json")
    assert got.returncode == 3, got.stderr  # a job failed to convert: worse than one failing verification
    assert "Traceback" not in got.stderr and "3 of 5 job(s) failed to convert" in got.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    status = {j["name"]: j["status"] for j in report["jobs"]}
    assert status == {"pipe": "ok", "noisy": "verification failed", "bad": "failed", "hang": "failed",
                      "crash": "failed"}
    jobs = {j["name"]: j for j in report["jobs"]}
    assert "timed out after 3 s" in jobs["hang"]["message"] and "signal 6" in jobs["crash"]["message"]
    assert jobs["bad"]["steps"][0]["exit_code"] == 2  # the job's own exit code is kept
    x, _ = iris()
    x = x[:20].astype(np.float32)
    expected = sio.load(str(tmp_path / "pipe.skops"), trusted=sio.get_untrusted_types(
        file=str(tmp_path / "pipe.skops"))).predict_proba(x)
    np.testing.assert_allclose(_predict(tmp_path / "out" / "pipe.onnx", x)["probabilities"], expected, atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["noisy.onnx", "pipe.onnx"]  # kept, marked failed

    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "1", "3")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["noisy -> onnx"].find("failure")
    assert failure is not None and "max abs" in failure.text and "FAIL" in failure.text  # the table
    assert cases["pipe -> onnx"].find("failure") is None and cases["pipe -> onnx"].find("error") is None
    assert cases["pipe -> onnx"].find("properties/property").attrib == {"name": "team", "value": "risk"}
    assert "not a valid sklearn.skops file" in cases["bad -> onnx"].find("error").get("message")


def _without_timestamp(path) -> tuple[bytes, dict]:
    import onnx

    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if p.key != "modelport.created"]
    assert len(keep) == len(model.metadata_props) - 1
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    return model.SerializeToString(), {p.key: p.value for p in keep}


def test_resume_and_ray_write_what_the_pool_wrote(tmp_path):
    """A rerun skips what is up to date (files untouched) and redoes what changed; Ray on a local instance
    writes the same bytes as the pool (provenance timestamps aside), quietly."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestRegressor

    x, y = iris()
    sklearn_pipeline(tmp_path / "a.skops")
    sio.dump(RandomForestRegressor(n_estimators=4, max_depth=3, random_state=0).fit(x, x[:, 0]),
             str(tmp_path / "b.skops"))
    (tmp_path / "m.json").write_text(json.dumps({"defaults": {"samples": 4, "output": "out/"},
                                                 "jobs": [{"source": "*.skops"}]}))
    first = run_cli("batch", tmp_path / "m.json", "-j", "2", "--json", "-", "-q")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["counts"]["ok"] == 2
    out = tmp_path / "out"
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    made = {n: _without_timestamp(out / n) for n in stamps}

    again = run_cli("batch", tmp_path / "m.json", "--json", "-", "-q")
    assert again.returncode == 0 and json.loads(again.stdout)["counts"] == {
        "ok": 0, "up to date": 2, "verification failed": 0, "failed": 0}
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps  # not rewritten

    if importlib.util.find_spec("ray") is not None:
        ray = run_cli("batch", tmp_path / "m.json", "--executor", "ray", "--force", "-q", "--json", "-",
                      env={"RAY_ADDRESS": ""})
        assert ray.returncode == 0 and ray.stderr == "", ray.stderr  # no Ray start-up chatter
        assert json.loads(ray.stdout)["executor"] == "ray"
        for name, (data, facts) in made.items():
            assert _without_timestamp(out / name)[1] == facts, name
            assert _without_timestamp(out / name)[0] == data, name  # byte for byte
        stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    sio.dump(RandomForestRegressor(n_estimators=3, max_depth=3, random_state=1).fit(x, x[:, 0]),
             str(tmp_path / "b.skops"))  # retrained
    changed = run_cli("batch", tmp_path / "m.json", "--json", "-", "-q")
    jobs = {j["name"]: j["status"] for j in json.loads(changed.stdout)["jobs"]}
    assert changed.returncode == 0 and jobs == {"a": "up to date", "b": "ok"}
    assert os.stat(out / "a.onnx").st_mtime_ns == stamps["a.onnx"]


def test_without_ray_the_command_names_the_extra(tmp_path):
    (tmp_path / "fake" / "ray").mkdir(parents=True)
    (tmp_path / "fake" / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    (tmp_path / "m.yaml").write_text("jobs: [{source: m.yaml}]\n")
    got = run_cli("batch", tmp_path / "m.yaml", "--executor", "ray",
                  env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")])})
    assert got.returncode == 5 and "pip install 'modelport[ray]'" in got.stderr, got.stderr


def test_a_wrong_manifest_is_exit_2_before_anything_runs(tmp_path):
    (tmp_path / "m.yaml").write_text("jobs: [{source: nowhere.skops}]\n")
    got = run_cli("batch", tmp_path / "m.yaml")
    assert got.returncode == 2 and "job 1 (nowhere.skops): field 'source'" in got.stderr
    schema = run_cli("batch", "--schema")
    assert schema.returncode == 0 and "source" in json.loads(schema.stdout)["$defs"]["job"]["properties"]


@needs("transformers")
def test_hugging_face_folders_convert_into_folders_and_resume(tmp_path):
    """A text2text folder writes its three files into NAME-onnx/ (it used to fail: a file output); a rerun skips
    it, and with one of its files gone it is no longer up to date."""
    from tests.hf_zoo import save

    save("t5", tmp_path / "t5")
    (tmp_path / "m.yaml").write_text("jobs: [{source: t5/, output: out/, samples: 4}]\n")
    first = run_cli("batch", tmp_path / "m.yaml", "-q", "--json", "-")
    assert first.returncode == 0, first.stderr
    out = tmp_path / "out" / "t5-onnx"
    assert {"encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx", "config.json"} <= \
        {p.name for p in out.iterdir()}
    again = run_cli("batch", tmp_path / "m.yaml", "-q", "--json", "-")
    assert json.loads(again.stdout)["jobs"][0]["status"] == "up to date"
    from modelport.batch.plan import up_to_date
    from modelport.batch.run import plan

    (out / "decoder_with_past_model.onnx").unlink()  # (a run killed between two parts)
    assert not up_to_date(plan(tmp_path / "m.yaml")[0])
