"""The signature chain through the registry and the server: `register` logs a signed model's signature and
attestation beside it (checked with the upstream verifier on what MLflow hands back), `serve --require-signature`
serves it, refuses an unsigned version a followed alias moves to, and refuses the version once its file is changed
in the store. Expectations come from MLflow's client, model_signing and onnxruntime."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_signing import _fingerprint, flip, keys, upstream_verify  # noqa: F401  (keys: a fixture)
from tests.conftest import needs, run_cli
from tests.serving import Server, ask, free_port, tensor, wait_for

pytestmark = [pytest.mark.slow, needs("sklearn"),
              pytest.mark.skipif(any(importlib.util.find_spec(m) is None
                                     for m in ("mlflow", "model_signing", "kserve")),
                                 reason="needs modelport[mlflow,sign,serve]")]


def test_register_and_serve_keep_the_signature_chain(tmp_path, keys):  # noqa: F811
    import onnxruntime as ort
    from mlflow import MlflowClient

    from tests.builders import iris, iris_versions

    x = iris()[0]
    iris_versions(tmp_path)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    pub = keys["key_pub"]

    def cli(*args):
        return run_cli(*args, env=env)

    assert cli("convert", tmp_path / "v1.skops", "-o", tmp_path / "v1.onnx", "--sign-key", keys["key"]).returncode == 0
    assert cli("convert", tmp_path / "v2.skops", "-o", tmp_path / "v2.onnx").returncode == 0

    # an unsigned file is refused under --require-signature; nothing is registered
    done = cli("register", tmp_path / "v2.onnx", "--name", "iris", "--require-signature", pub, "--latency-runs", "0")
    assert done.returncode == 4 and "v2.onnx: no signature" in done.stderr, done.stderr
    # a signed file whose attestation changed after signing is refused even without --require-signature
    changed = tmp_path / "changed"
    changed.mkdir()
    for name in ("v1.onnx", "v1.onnx.sig", "v1.onnx.intoto.jsonl"):
        (changed / name).write_bytes((tmp_path / name).read_bytes())
    flip(changed / "v1.onnx.intoto.jsonl", 20)
    done = cli("register", changed / "v1.onnx", "--name", "iris", "--latency-runs", "0")
    assert done.returncode == 4 and "v1.onnx.intoto.jsonl does not match its signed digest" in done.stderr
    assert cli("register", "--list", "iris").returncode == 2  # no such model yet

    done = cli("register", tmp_path / "v1.onnx", "--name", "iris", "--alias", "production", "--require-signature",
               pub, "--latency-runs", "0", "--json", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["signature"] == {"status": "verified", "signed_by": _fingerprint(pub)}
    assert cli("register", tmp_path / "v2.onnx", "--name", "iris", "--latency-runs", "0").returncode == 0

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    v1, v2 = (client.get_model_version("iris", str(v)) for v in (1, 2))
    assert v1.tags["modelport.signed"] == "true" and v1.tags["modelport.signature"] == "verified"
    assert v1.tags["modelport.signed_by"] == _fingerprint(pub)
    assert "modelport.signed" not in v2.tags
    # what MLflow hands back verifies with the upstream verifier: the model and its attestation, nothing else
    folder = tmp_path / "download"
    got = __import__("mlflow").artifacts.download_artifacts(artifact_uri=v1.source, dst_path=str(folder),
                                              tracking_uri=env["MLFLOW_TRACKING_URI"])
    got = Path(got)
    sig = got / "v1.onnx.sig"
    assert (got / "v1.onnx").read_bytes() == (tmp_path / "v1.onnx").read_bytes()
    others = [p for p in got.iterdir() if p.name not in ("v1.onnx", "v1.onnx.intoto.jsonl")]
    assert sig in others and upstream_verify(got, sig, pub, others)

    rows = x[::15].astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "v1.onnx"), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {name: rows})))
    check = [{"do": "infer", "via": "http-binary", "model": "iris", "inputs": {name: tensor(rows, "FP32")}}]
    with Server("models:/iris@production", "--follow", "--poll", "0.3", "--require-signature", pub,
                env=env) as server:
        assert "iris v1 ready" in server.ready()[0]
        first = ask(server, check)[0]
        assert cli("register", "--name", "iris", "--alias", "production", "--version", "2").returncode == 0
        line = wait_for(server, "iris: v2 not served")
        assert "no signature" in line, line
        after = ask(server, check)[0]
        assert server.stop() == 0
    for answer in (first, after):
        assert answer["ok"] and answer["version"] == "1", answer
        for out, value in want.items():
            np.testing.assert_allclose(np.asarray(answer["outputs"][out]["data"], np.float64), value.reshape(-1),
                                       atol=1e-6)

    # the file changed in the store: the next server refuses the version, exit 4, naming the file
    stored = [p for p in (tmp_path / "mlruns").rglob("v1.onnx") if p.parent.name == "model"]
    assert len(stored) == 1
    flip(stored[0], 40)
    done = cli("serve", "models:/iris/1", "--require-signature", pub, "--http-port", free_port(), "--grpc-port",
               free_port())
    assert done.returncode == 4, done.stderr
    assert "v1.onnx does not match its signed digest" in done.stderr and "Traceback" not in done.stderr
