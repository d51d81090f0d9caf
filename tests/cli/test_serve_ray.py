"""`modelport serve --engine ray`: the same suite as the KServe engine (tritonclient over http and grpc, a plain
JSON POST, from separate client processes) on a local Ray with two replicas per model and dynamic batching on;
concurrent clients with different rows each get their own rows back; `--write-config` writes a config Ray Serve's
own schema accepts, and `serve run` on it answers the suite too."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import yaml

from tests.conftest import needs
from tests.served_models import check_metadata, check_suite, suite
from tests.serving import Server, answers, ask, free_port, start_client, tensor

pytestmark = [pytest.mark.slow, needs("torch", "sklearn", "tensorflow"),
              pytest.mark.skipif(not (importlib.util.find_spec("ray") and importlib.util.find_spec("tritonclient")),
                                 reason="needs modelport[ray,serve]")]

# 4 models x 2 replicas x 0.25 CPU: all of them fit on this machine's 2 cores
RAY = ("--engine", "ray", "--replicas", "2", "--replica-cpus", "0.25", "--max-batch", "8", "--batch-wait-ms", "20")


def test_ray_engine_answers_like_the_runtimes_with_replicas_and_batching(served_files):
    files = served_files
    fused = files["fused"]
    import onnxruntime as ort

    sess = ort.InferenceSession(str(fused), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    with Server(*files.values(), *RAY) as server:
        server.ready(4, timeout=300)
        assert any("gRPC proxy listens on every interface" in ln for ln in server.lines)
        calls, expected = suite(files)
        got = ask(server, calls + [{"do": "raw", "method": "POST", "path": "/v2/models/fused/infer",
                                    "body": '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], '
                                            '"data": [1]}]}'},
                                   {"do": "grpc-raw", "model": "fused",
                                    "inputs": {name: tensor(np.zeros((2, 3), np.float32), "FP32")}},
                                   {"do": "raw", "method": "GET", "path": "/v2/models/nope"}])
        clients = []
        rng = np.random.default_rng(7)
        for via in ("http-binary", "grpc", "http-json"):
            rows = rng.uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], (int(rng.integers(1, 4)), 4)).astype(np.float32)
            want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {name: rows})))
            clients.append(start_client(server, [{
                "do": "loop", "via": via, "model": "fused", "inputs": {name: tensor(rows, "FP32")}, "count": 40,
                "seconds": 120, "expect": {k: v.reshape(-1).tolist() for k, v in want.items()}}]))
        looped = [answers(c)[0] for c in clients]
        metas = ask(server, [{"do": "metadata", "via": "http", "model": "fused"}] * 12)  # replicas answer in turn
        assert server.stop() == 0
    joined = max(int(m["metadata"]["parameters"]["modelport.replica_joined_runs"]) for m in metas)
    assert joined > 0  # requests of different clients did share runs, and each still got its own rows
    bad_rest, bad_grpc, unknown = got[-3:]
    http_meta, grpc_meta = check_suite(got[:-3], expected)
    check_metadata(http_meta, grpc_meta)
    assert http_meta["fused"]["parameters"]["modelport.batching"] == "true"
    assert http_meta["encoder"]["parameters"]["modelport.batching"] == "false"  # exported at a fixed batch
    assert bad_rest["status"] == 400 and "unknown input 'x'" in bad_rest["body"]
    assert bad_grpc["status"] == "INVALID_ARGUMENT" and "has shape [2, 3]" in bad_grpc["error"]
    assert unknown["status"] == 404
    for loop in looped:
        assert loop["ok"] and loop["sent"] == 40, loop


def test_write_config_is_a_ray_serve_config_that_serve_run_answers(served_files, tmp_path, cli):
    from ray.serve.schema import ServeDeploySchema

    http, grpc = free_port(), free_port()
    path = tmp_path / "serve.yaml"
    code, _, err = cli("serve", *served_files.values(), *RAY, "--write-config", path, "--http-port", http,
                       "--grpc-port", grpc)
    assert code == 0, err
    data = yaml.safe_load(path.read_text())
    ServeDeploySchema.model_validate(data)  # Ray Serve's own schema
    app = data["applications"][0]
    assert app["import_path"] == "modelport.serve.ray_app:build"
    assert [m["name"] for m in app["args"]["models"]] == list(served_files)
    assert all(os.path.isabs(m["source"]) for m in app["args"]["models"])
    assert app["args"]["allow_unverified"] is False  # each replica checks the recorded verdict again at load

    serve_cli = os.path.join(os.path.dirname(sys.executable), "serve")
    proc = subprocess.Popen([serve_cli, "run", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/models/fused", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("serve run did not answer in 300 s")

        class Address:  # what ask() needs of a server
            address = {"http": f"127.0.0.1:{http}", "grpc": f"127.0.0.1:{grpc}"}

        calls, expected = suite(served_files)
        got = ask(Address, calls)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in its terminal
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    check_metadata(*check_suite(got, expected))
