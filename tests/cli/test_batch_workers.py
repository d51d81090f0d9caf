"""`modelport batch` on warm workers: a job writes the same bytes first or eleventh in its worker (and as in a
process of its own); a timeout or a crash is recorded against its job and a fresh worker takes the next one;
workers are replaced at their job count and memory bound; Ctrl-C exits 130 with every worker gone; Ray's
actors follow the same rules. Each job's worker (pid, job number) is read from the JSON report."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.builders import keras_cnn, keras_multi_io, keras_sequential, sklearn_model
from tests.conftest import needs, run_cli

pytestmark = pytest.mark.slow

FACTORIES = '''
import os
import sys
import time
from pathlib import Path

import torch


def small():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()


def other():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()).eval()


def hang():
    Path(os.environ["MARKERS"], f"started-{os.getpid()}").write_text("")
    time.sleep(600)


def crash():
    sys.stderr.write("native library: bad state\\n")
    sys.stderr.flush()
    os.abort()
'''


def _jobs(report: dict) -> dict[str, dict]:
    return {j["name"]: j for j in report["jobs"]}


def _graph_and_facts(path) -> tuple[bytes, dict]:
    """The file without what differs between two runs by design: its creation time and the batch step's digest
    (which names the output)."""
    import onnx

    model = onnx.load(str(path))
    facts = {p.key: p.value for p in model.metadata_props if p.key not in ("modelport.created",
                                                                            "modelport.batch_digest")}
    del model.metadata_props[:]
    return model.SerializeToString(), facts


@needs("tensorflow")
def test_a_job_writes_the_same_bytes_first_and_eleventh_in_its_worker(tmp_path):
    """Keras leaves process-wide counters behind (layer names, TensorFlow's function numbers, tf2onnx's names):
    the eleventh run of a job in one worker writes what the first did, and what a process of its own writes."""
    keras_sequential(tmp_path / "a.keras")
    keras_multi_io(tmp_path / "b.keras")
    keras_cnn(tmp_path / "c.keras")
    jobs = [{"source": "a.keras", "name": "first"}]
    jobs += [{"source": "b.keras" if i % 2 else "c.keras", "name": f"between{i}"} for i in range(9)]
    jobs += [{"source": "a.keras", "name": "eleventh"}]
    (tmp_path / "m.json").write_text(json.dumps({"defaults": {"samples": 4, "output": "out/"}, "jobs": jobs}))
    got = run_cli("batch", tmp_path / "m.json", "-j", "1", "-q", "--json", "-")
    assert got.returncode == 0, got.stderr
    report = _jobs(json.loads(got.stdout))
    first, eleventh = report["first"]["worker"], report["eleventh"]["worker"]
    assert first["pid"] == eleventh["pid"] and (first["job"], eleventh["job"]) == (1, 11)
    assert _graph_and_facts(tmp_path / "out" / "first.onnx") == _graph_and_facts(tmp_path / "out" / "eleventh.onnx")

    (tmp_path / "alone.json").write_text(json.dumps({"defaults": {"samples": 4, "output": "alone/"},
                                                     "jobs": [jobs[0]]}))
    alone = run_cli("batch", tmp_path / "alone.json", "--isolation", "job", "-q", "--json", "-")
    assert alone.returncode == 0 and "worker" not in json.loads(alone.stdout)["jobs"][0], alone.stderr
    assert _graph_and_facts(tmp_path / "alone" / "first.onnx") == _graph_and_facts(tmp_path / "out" / "first.onnx")


@needs("torch")
def test_a_timeout_or_a_crash_costs_its_job_and_a_fresh_worker_takes_the_next(tmp_path):
    (tmp_path / "f.py").write_text(FACTORIES)
    common = {"inputs": ["x:1,4"], "trust": True, "samples": 4}
    jobs = [{"source": f"f.py:{fn}", "name": name, **common}
            for name, fn in (("one", "small"), ("crash", "crash"), ("two", "other"), ("hang", "hang"),
                             ("three", "small"))]
    jobs[3]["timeout"] = 3
    (tmp_path / "m.json").write_text(json.dumps({"defaults": {"output": "out/"}, "jobs": jobs}))
    got = run_cli("batch", tmp_path / "m.json", "-j", "1", "-q", "--json", "-", env={"MARKERS": str(tmp_path)})
    assert got.returncode == 3, got.stderr
    report = _jobs(json.loads(got.stdout))
    assert {n: j["status"] for n, j in report.items()} == {"one": "ok", "crash": "failed", "two": "ok",
                                                           "hang": "failed", "three": "ok"}
    assert report["crash"]["message"] == "the job's process died (signal 6): native library: bad state"
    assert report["hang"]["message"].startswith("timed out after 3 s")
    pids = [report[n]["worker"]["pid"] for n in ("one", "two", "three")]
    assert len(set(pids)) == 3  # a fresh worker after the crash, another after the timeout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.onnx", "three.onnx", "two.onnx"]


@needs("sklearn")
def test_workers_are_replaced_at_their_job_count_and_memory_bound(tmp_path):
    for kind in ("forest_regressor", "voting_soft", "kmeans"):
        sklearn_model(tmp_path / f"{kind}.skops", kind)
    (tmp_path / "m.json").write_text(json.dumps({"defaults": {"samples": 4, "output": "out/"},
                                                 "jobs": [{"source": "*.skops"}]}))
    got = run_cli("batch", tmp_path / "m.json", "-j", "1", "--worker-jobs", "2", "-q", "--json", "-")
    assert got.returncode == 0, got.stderr
    workers = [(j["worker"]["pid"], j["worker"]["job"]) for j in json.loads(got.stdout)["jobs"]]
    assert [n for _, n in workers] == [1, 2, 1] and workers[0][0] == workers[1][0] != workers[2][0]

    got = run_cli("batch", tmp_path / "m.json", "-j", "1", "--worker-memory", "1MiB", "--force", "-q", "--json", "-")
    assert got.returncode == 0, got.stderr
    workers = [j["worker"] for j in json.loads(got.stdout)["jobs"]]
    assert len({w["pid"] for w in workers}) == 3 and all(w["rss_mib"] > 1 for w in workers)

    bad = run_cli("batch", tmp_path / "m.json", "--worker-memory", "lots")
    assert bad.returncode == 2 and "--worker-memory 'lots' is not a size" in bad.stderr


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@needs("torch", "sklearn")
def test_ctrl_c_exits_130_with_every_worker_gone(tmp_path):
    (tmp_path / "f.py").write_text(FACTORIES)
    sklearn_model(tmp_path / "tree.skops", "kmeans")
    jobs = [{"source": "f.py:hang", "name": f"hang{i}", "inputs": ["x:1,4"], "trust": True} for i in range(2)]
    (tmp_path / "m.json").write_text(json.dumps({"defaults": {"output": "out/"},
                                                 "jobs": [*jobs, {"source": "tree.skops"}]}))
    proc = subprocess.Popen([sys.executable, "-m", "modelport", "batch", str(tmp_path / "m.json"), "-j", "2", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, MARKERS=str(tmp_path)),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("started-*"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("started-*")]
        assert len(workers) == 2 and all(map(_alive, workers)), "the two hanging jobs did not start"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in proc.stderr.read()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers)), "a worker outlived the run"


@needs("torch")
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs ray (pip install 'modelport[ray]')")
def test_ray_actors_keep_the_pool_rules(tmp_path):
    (tmp_path / "f.py").write_text(FACTORIES)
    common = {"inputs": ["x:1,4"], "trust": True, "samples": 4}
    jobs = [{"source": f"f.py:{fn}", "name": name, **common}
            for name, fn in (("one", "small"), ("crash", "crash"), ("hang", "hang"), ("two", "other"))]
    jobs[2]["timeout"] = 3
    (tmp_path / "m.json").write_text(json.dumps({"defaults": {"output": "out/"}, "jobs": jobs}))
    got = run_cli("batch", tmp_path / "m.json", "--executor", "ray", "-j", "1", "-q", "--json", "-",
                  env={"MARKERS": str(tmp_path), "RAY_ADDRESS": ""})
    assert got.returncode == 3, got.stderr
    report = _jobs(json.loads(got.stdout))
    assert {n: j["status"] for n, j in report.items()} == {"one": "ok", "crash": "failed", "hang": "failed",
                                                           "two": "ok"}
    assert "signal 6" in report["crash"]["message"] and "timed out after 3 s" in report["hang"]["message"]
    assert report["one"]["worker"]["pid"] != report["two"]["worker"]["pid"]
