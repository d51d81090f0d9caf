"""The four served models the serving tests share (a two-input PyTorch encoder, a scikit-learn DataFrame pipeline
with string columns, a Keras model as TFLite, a fused ensemble), their inputs, the same inputs run directly by
onnxruntime or the LiteRT interpreter, and the suite of calls every engine must answer alike."""

from __future__ import annotations

import numpy as np

from tests.serving import tensor

VIAS = ("http-json", "http-binary", "grpc", "plain-json")


def cli_ok(*args):
    from typer.testing import CliRunner

    from modelport.cli.app import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.stdout, result.stderr)


def frame():
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"age": rng.uniform(1, 80, n), "fare": rng.lognormal(3, 1, n),
                       "sex": rng.choice(["male", "female"], n), "port": rng.choice(["S", "C", "Q"], n)})
    y = ((df.age < 30) ^ (df.sex == "female") | (df.port == "C")).astype(int)
    return df, y


def build_files(models, root):
    """Four verified files: a two-input PyTorch encoder, a scikit-learn DataFrame pipeline (strings and floats), a
    Keras model as TFLite, and a fused scikit-learn + PyTorch ensemble."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    files = {name: root / f"{name}.{ext}" for name, ext in
             (("encoder", "onnx"), ("frame", "onnx"), ("seq", "tflite"), ("fused", "onnx"))}
    cli_ok("convert", models("transformer_pt2"), "-o", files["encoder"])
    df, y = frame()
    pipe = make_pipeline(ColumnTransformer([("num", StandardScaler(), ["age", "fare"]),
                                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "port"])]),
                         LogisticRegression()).fit(df, y)
    sio.dump(pipe, str(root / "frame.skops"))
    cli_ok("convert", root / "frame.skops", "-o", files["frame"])
    cli_ok("convert", models("keras_seq"), "-o", files["seq"])
    cli_ok("fuse", models("sk_pipeline"), models("torch_iris"), "-o", files["fused"], "--strategy", "mean")
    return files


def inputs(name, rows=3):
    rng = np.random.default_rng(1)
    if name == "encoder":
        ids = rng.integers(0, 50, (2, 12)).astype(np.int64)  # exported at a fixed size
        mask = np.ones((2, 12), np.int64)
        mask[0, 9:] = 0
        return {"input_ids": (ids, "INT64"), "attention_mask": (mask, "INT64")}
    if name == "frame":
        df, _ = frame()
        return {"age": (df.age.to_numpy()[:rows, None].astype(np.float32), "FP32"),
                "fare": (df.fare.to_numpy()[:rows, None].astype(np.float32), "FP32"),
                "sex": (df.sex.to_numpy()[:rows, None], "BYTES"), "port": (df.port.to_numpy()[:rows, None], "BYTES")}
    if name == "seq":
        return {"_": (rng.normal(size=(rows, 6)).astype(np.float32), "FP32")}
    from tests.builders import iris

    return {"_": (iris()[0][:rows].astype(np.float32), "FP32")}


def direct(path, feed):
    """The file run here: onnxruntime, or the LiteRT interpreter's signature runner."""
    if str(path).endswith(".tflite"):
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path))
        runner = interp.get_signature_runner()
        return {k: np.asarray(v) for k, v in runner(**feed).items()}
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))


def names(path):
    """Input names of the file as the server declares them."""
    if str(path).endswith(".tflite"):
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner()
        return list(runner.get_input_details())
    import onnxruntime as ort

    return [i.name for i in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()]


def job_inputs(name, path):
    raw = inputs(name)
    if "_" in raw:
        raw = {names(path)[0]: raw["_"]}
    return raw


def suite(files) -> tuple[list[dict], list]:
    """Calls (health, metadata both ways, infer by every client) and what each infer must equal."""
    calls = [{"do": "health", "via": "http"}, {"do": "health", "via": "grpc"}]
    expected = []
    for name, path in files.items():
        raw = job_inputs(name, path)
        job = {k: tensor(v, dt) for k, (v, dt) in raw.items()}
        feed = {k: (v.astype(object) if dt == "BYTES" else v) for k, (v, dt) in raw.items()}
        want = direct(path, feed)
        calls += [{"do": "metadata", "via": via, "model": name} for via in ("http", "grpc")]
        for via in VIAS:
            calls.append({"do": "infer", "via": via, "model": name, "inputs": job})
            expected.append((name, via, want))
    return calls, expected


def check_suite(answers, expected) -> tuple[dict, dict]:
    """Every infer answer equals the file run directly (labels exactly, numbers to 1e-6); returns the metadata
    seen over REST and gRPC, by model."""
    assert answers[0] == {"ok": True, "live": True, "ready": True} and answers[1] == answers[0]
    metas = [a for a in answers if "metadata" in a]
    http_meta = {m["metadata"]["name"]: m["metadata"] for m in metas[0::2]}
    grpc_meta = {m["metadata"]["name"]: m["metadata"] for m in metas[1::2]}
    results = [a for a in answers if "outputs" in a or a.get("ok") is False and "status" in a]
    assert len(results) == len(expected)
    for (name, via, want), got in zip(expected, results):
        assert got["ok"], (name, via, got)
        assert got["version"] == "1"
        assert set(got["outputs"]) == set(want), (name, via)
        for out, value in want.items():
            data = got["outputs"][out]["data"]
            assert got["outputs"][out]["shape"] == list(value.shape), (name, via, out)
            if value.dtype.kind in "iuOUSb":
                assert [str(v) for v in data] == [str(v) for v in value.reshape(-1).tolist()], (name, via, out)
            else:
                np.testing.assert_allclose(np.asarray(data, np.float64), value.reshape(-1), atol=1e-6, rtol=0,
                                           err_msg=f"{name} {via} {out}")
    return http_meta, grpc_meta


def check_metadata(http_meta, grpc_meta) -> None:
    enc = http_meta["encoder"]
    assert [i["name"] for i in enc["inputs"]] == ["input_ids", "attention_mask"]
    assert enc["inputs"][0]["datatype"] == "INT64" and enc["inputs"][0]["shape"] == [2, 12]
    assert enc["versions"] == ["1"] and enc["parameters"]["modelport.verification"] == "passed"
    assert enc["parameters"]["modelport.source_format"] == "torch.export"
    assert grpc_meta["encoder"]["versions"] == ["1"]
    assert [i["datatype"] for i in http_meta["frame"]["inputs"]] == ["FP32", "FP32", "BYTES", "BYTES"]
    assert http_meta["seq"]["platform"] == "tflite"
