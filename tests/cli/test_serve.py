"""`modelport serve` on the KServe engine, called as users call it: tritonclient (http JSON and binary, grpc) and a
plain JSON POST from a separate client process. Every answer is compared with ONNX Runtime or the LiteRT
interpreter run here, directly, on the same file and inputs."""

from __future__ import annotations

import importlib.util
import json
import signal

import numpy as np
import pytest

from tests.conftest import needs, run_cli
from tests.served_models import check_metadata, check_suite, suite
from tests.served_models import inputs as model_inputs
from tests.serving import Server, ask, free_port, tensor

# kserve and tritonclient.grpc cannot share a process (both define inference.*): look for them, import neither
pytestmark = [pytest.mark.slow, needs("torch", "sklearn", "tensorflow"),
              pytest.mark.skipif(not (importlib.util.find_spec("kserve") and importlib.util.find_spec("tritonclient")),
                                 reason="needs modelport[serve]")]


def test_four_models_answer_like_their_runtimes(served_files):
    with Server(*served_files.values()) as server:
        lines = server.ready(4)
        assert any(ln.startswith(f"encoder v1 ready: http://127.0.0.1:{server.http}/v2/models/encoder, grpc "
                                 f"127.0.0.1:{server.grpc}") for ln in lines), lines
        calls, expected = suite(served_files)
        answers = ask(server, calls)
        assert server.stop() == 0
    check_metadata(*check_suite(answers, expected))


def test_bad_requests_get_400_and_the_next_request_is_answered(served_files):
    path = served_files["encoder"]
    good = {k: tensor(v, dt) for k, (v, dt) in model_inputs("encoder").items()}
    ids, mask = good["input_ids"], good["attention_mask"]
    frame = {k: tensor(v, dt) for k, (v, dt) in model_inputs("frame").items()}
    url = "/v2/models/encoder/infer"

    def body(inputs):
        return json.dumps({"inputs": [{"name": n, **s} for n, s in inputs.items()]})

    bad_rest = [
        ("/v2/models/nope/infer", body(good), 404, "nope"),
        (url, body({"input_ids": ids}), 400, "missing input 'attention_mask'"),
        (url, body({**good, "extra": ids}), 400, "unknown input 'extra'"),
        (url, body({"input_ids": {**ids, "datatype": "FP32"}, "attention_mask": mask}), 400, "INT64"),
        (url, body({"input_ids": {**ids, "shape": [24]}, "attention_mask": mask}), 400, "has shape [24]"),
        (url, body({"input_ids": {**ids, "shape": [2, 13]}, "attention_mask": mask}), 400, "expects input_ids"),
        (url, body({"input_ids": {**ids, "data": ids["data"][:-1]}, "attention_mask": mask}), 400, "23 values"),
        ("/v2/models/frame/infer", body({**frame, "fare": tensor(np.ones((2, 1), np.float32), "FP32")}), 400,
         "disagree"),
        (url, '{"inputs": [{"name": "input_ids"', 400, "malformed"),
        (url, '{"inputs": "x"}', 400, "malformed"),
        (url, "[]", 400, "malformed"),
        (url, body({"input_ids": {**ids, "data": ["a"] * 24}, "attention_mask": mask}), 400, "not INT64"),
        (url, "x" * (2 * 1024 * 1024), 413, "--max-request-mb"),
    ]
    calls = []
    for path_, text, _, _ in bad_rest:
        calls += [{"do": "raw", "method": "POST", "path": path_, "body": text},
                  {"do": "infer", "via": "plain-json", "model": "encoder", "inputs": good}]
    bad_grpc = [({"input_ids": ids}, "missing input 'attention_mask'"),
                ({"input_ids": {**ids, "datatype": "INT32", "data": list(range(24))}, "attention_mask": mask}, "INT64"),
                ({"input_ids": {**ids, "shape": [2, 11]}, "attention_mask": mask}, "expects input_ids")]
    for inputs, _ in bad_grpc:
        calls += [{"do": "grpc-raw", "model": "encoder", "inputs": inputs},
                  {"do": "infer", "via": "grpc", "model": "encoder", "inputs": good}]
    calls.append({"do": "grpc-raw", "model": "nope", "inputs": good})
    calls.append({"do": "grpc-raw", "model": "encoder",  # 2.4 MB: over --max-request-mb 1
                  "inputs": {"input_ids": {**ids, "shape": [2, 150000], "data": [0] * 300000}, "attention_mask": mask}})
    calls.append({"do": "infer", "via": "grpc", "model": "encoder", "inputs": good})
    calls.append({"do": "raw", "method": "GET", "path": "/v2/models/nope"})
    with Server(path, served_files["frame"], "--max-request-mb", "1") as server:
        server.ready(2)
        answers = ask(server, calls)
        assert server.proc.poll() is None  # still serving
        assert server.stop() == 0
    rest_answers, rest = answers[:2 * len(bad_rest)], answers[2 * len(bad_rest):]
    for (_, _, status, words), bad, after in zip(bad_rest, rest_answers[0::2], rest_answers[1::2]):
        assert bad["status"] == status, (words, bad)
        assert words in json.loads(bad["body"])["error"], (words, bad)
        assert after["ok"], after
    grpc_answers = rest[:2 * len(bad_grpc)]
    for (_, words), bad, after in zip(bad_grpc, grpc_answers[0::2], grpc_answers[1::2]):
        assert bad["status"] == "INVALID_ARGUMENT" and words in bad["error"], (words, bad)
        assert after["ok"], after
    assert rest[-4]["status"] == "NOT_FOUND"
    assert rest[-3]["status"] == "RESOURCE_EXHAUSTED", rest[-3]  # gRPC's own size limit, set from the flag
    assert rest[-2]["ok"]
    assert rest[-1]["status"] == 404


def test_refusals_and_exit_codes(served_files, models, tmp_path):
    from modelport.core import provenance

    failed = tmp_path / "failed.onnx"
    failed.write_bytes(served_files["encoder"].read_bytes())
    provenance.write_onnx(failed, {**provenance.read_onnx(failed), "verification": "failed"})
    done = run_cli("serve", failed, "--http-port", free_port(), "--grpc-port", free_port())
    assert done.returncode == 1 and "recorded verification failed" in done.stderr, done.stderr
    assert "--allow-unverified" in done.stderr

    done = run_cli("serve", models("sk_pipeline"), "--http-port", free_port())
    assert done.returncode == 2 and "modelport convert" in done.stderr, done.stderr

    with Server(served_files["encoder"]) as busy:
        busy.ready()
        # the port check comes before any model loads: a missing model is not even looked at
        done = run_cli("serve", tmp_path / "missing.onnx", "--http-port", busy.http, "--grpc-port", free_port())
        assert done.returncode == 2 and f"HTTP port {busy.http}" in done.stderr and "in use" in done.stderr
        done = run_cli("serve", tmp_path / "missing.onnx", "--http-port", free_port(), "--grpc-port", busy.grpc)
        assert done.returncode == 2 and f"GRPC port {busy.grpc}" in done.stderr, done.stderr

    with Server(failed, "--allow-unverified") as server:
        server.ready()
        assert any("warning" in ln and "verification failed" in ln for ln in server.lines)
        assert server.stop(signal.SIGINT) == 130
    assert not any("Traceback" in ln or "INFO" in ln for ln in server.lines), server.lines


def test_write_triton_repository(served_files, tmp_path, cli):
    """A dynamic batch axis becomes Triton's implicit batch (max_batch_size > 0, dims without it); the encoder,
    exported at a fixed [2, 12], gets max_batch_size 0 and full dims. Names and dims come from the graph."""
    import onnxruntime as ort
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    def parsed(name):
        return text_format.Parse((repo / name / "config.pbtxt").read_text(), mc.ModelConfig())

    def graph(name):
        sess = ort.InferenceSession(str(served_files[name]), providers=["CPUExecutionProvider"])
        return sess.get_inputs(), sess.get_outputs()

    repo = tmp_path / "repo"
    code, out, err = cli("serve", served_files["fused"], served_files["encoder"], served_files["frame"],
                         "--write-triton", repo, "--dynamic-batching", "--max-batch", "16")
    assert code == 0, err
    fused = parsed("fused")
    inputs, outputs = graph("fused")
    assert fused.platform == "onnxruntime_onnx" and fused.max_batch_size == 16 and fused.HasField("dynamic_batching")
    assert [(i.name, list(i.dims)) for i in fused.input] == [(i.name, list(i.shape[1:])) for i in inputs]
    assert [o.name for o in fused.output] == [o.name for o in outputs]
    assert fused.input[0].data_type == mc.TYPE_FP32 and fused.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert (repo / "fused" / "1" / "model.onnx").read_bytes() == served_files["fused"].read_bytes()

    encoder = parsed("encoder")
    assert encoder.max_batch_size == 0 and [list(i.dims) for i in encoder.input] == [[2, 12], [2, 12]]
    assert encoder.input[0].data_type == mc.TYPE_INT64
    frame = parsed("frame")
    assert [i.data_type for i in frame.input] == [mc.TYPE_FP32, mc.TYPE_FP32, mc.TYPE_STRING, mc.TYPE_STRING]

    code, _, err = cli("serve", served_files["seq"], "--write-triton", repo)
    assert code == 3 and "TFLite" in err
    code, _, err = cli("serve", served_files["fused"], "--write-triton", repo)
    assert code == 2 and "already exists" in err


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="needs modelport[mlflow]")
def test_follow_swaps_versions_as_the_alias_moves_and_no_request_fails(tmp_path):
    """v1 and v2 of an iris pipeline in the embedded SQLite registry; the server follows @production while a client
    sends requests without pause; the alias moves v1 -> v2 -> v1. The client sees no failure and the versions
    answering in that order, each answer equal to its own file run by onnxruntime."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import modelport
    from tests.builders import iris
    from tests.serving import answers, start_client, wait_for

    x, y = iris()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    sio.dump(model, str(tmp_path / "v1.skops"))
    model[0].mean_[2] += 1.5  # a retrain that changed the model
    sio.dump(model, str(tmp_path / "v2.skops"))
    for v in ("v1", "v2"):
        assert modelport.convert(tmp_path / f"{v}.skops", tmp_path / f"{v}.onnx").ok
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}

    def register(*args):
        done = run_cli("register", *args, "--latency-runs", "0", env=env)
        assert done.returncode == 0, done.stderr

    register(tmp_path / "v1.onnx", "--name", "iris", "--alias", "production")
    register(tmp_path / "v2.onnx", "--name", "iris")
    rows = x[::15].astype(np.float32)
    import onnxruntime as ort

    sess = {v: ort.InferenceSession(str(tmp_path / f"v{v}.onnx"), providers=["CPUExecutionProvider"])
            for v in ("1", "2")}
    name = sess["1"].get_inputs()[0].name
    inputs = {name: tensor(rows, "FP32")}
    want = {v: dict(zip([o.name for o in s.get_outputs()], s.run(None, {name: rows}))) for v, s in sess.items()}
    stop = tmp_path / "stop"
    with Server("models:/iris@production", "--follow", "--poll", "0.3", env=env) as server:
        assert "iris v1 ready" in server.ready()[0]
        checks = [{"do": "infer", "via": via, "model": "iris", "inputs": inputs} for via in ("grpc", "http-binary")]
        client = start_client(server, [{"do": "loop", "via": "http-binary", "model": "iris", "inputs": inputs,
                                        "count": 100000, "seconds": 240, "until": str(stop)}])
        first = ask(server, checks)
        register("--name", "iris", "--alias", "production", "--version", "2")
        wait_for(server, "iris v2 ready (alias moved from v1)")
        second = ask(server, checks + [{"do": "metadata", "via": "http", "model": "iris"}])
        register("--name", "iris", "--alias", "production", "--version", "1")
        wait_for(server, "iris v1 ready (alias moved from v2)")
        third = ask(server, checks)
        stop.touch()
        looped = answers(client)[0]
        assert server.stop() == 0
    assert looped["ok"], looped["failures"]
    assert looped["versions"] == ["1", "2", "1"], looped
    assert second[-1]["metadata"]["versions"] == ["2"]
    assert second[-1]["metadata"]["parameters"]["modelport.registry_version"] == "models:/iris/2"
    for version, got in (("1", first), ("2", second[:2]), ("1", third)):
        for answer in got:
            assert answer["ok"] and answer["version"] == version, answer
            for out, value in want[version].items():
                np.testing.assert_allclose(np.asarray(answer["outputs"][out]["data"], np.float64),
                                           value.reshape(-1), atol=1e-6)
    assert not np.allclose(want["1"]["probabilities"], want["2"]["probabilities"])  # the swap is visible


def test_fp16_int32_and_bool_tensors_travel_both_ways(tmp_path):
    """A graph taking FP16, INT32 and BOOL inputs and giving them back changed: binary REST and gRPC answers equal
    onnxruntime's (the datatypes the converted models above do not use)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["h", "h"], ["h2"]), helper.make_node("Add", ["i", "i"], ["i2"]),
         helper.make_node("Not", ["b"], ["nb"])], "g",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT16, ["n", 3]),
         helper.make_tensor_value_info("i", TensorProto.INT32, ["n", 2]),
         helper.make_tensor_value_info("b", TensorProto.BOOL, ["n"])],
        [helper.make_tensor_value_info("h2", TensorProto.FLOAT16, ["n", 3]),
         helper.make_tensor_value_info("i2", TensorProto.INT32, ["n", 2]),
         helper.make_tensor_value_info("nb", TensorProto.BOOL, ["n"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "types.onnx"
    onnx.save(model, str(path))
    feed = {"h": np.array([[0.5, -1.25, 3.0], [2.0, 0.1, -0.3]], np.float16),
            "i": np.array([[1, -7], [2**20, 3]], np.int32), "b": np.array([True, False])}
    want = dict(zip(["h2", "i2", "nb"], ort.InferenceSession(str(path)).run(None, feed)))
    job = {"h": tensor(feed["h"], "FP16"), "i": tensor(feed["i"], "INT32"), "b": tensor(feed["b"], "BOOL")}
    with Server(path) as server:
        server.ready()
        got = ask(server, [{"do": "infer", "via": via, "model": "types", "inputs": job}
                           for via in ("http-binary", "grpc")] +
                  [{"do": "metadata", "via": "http", "model": "types"}])
        assert server.stop() == 0
    assert [t["datatype"] for t in got[-1]["metadata"]["inputs"]] == ["FP16", "INT32", "BOOL"]
    for answer in got[:2]:
        assert answer["ok"], answer
        for name, value in want.items():
            assert answer["outputs"][name]["data"] == value.reshape(-1).tolist(), (name, answer)
