"""`modelport compress`: sizes, errors and the auto choice on trained models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import needs

pytestmark = [pytest.mark.slow, needs("torch", "sklearn")]


def _npz(path, split, labels=True):
    from tests.builders import digits

    x, y = digits(split)
    arrays = {"x": x.reshape(-1, 1, 8, 8) if "cnn" in path.name else x}
    if labels:
        arrays["labels"] = y
    np.savez(path, **arrays)
    return path


def _run(cli, *args):
    code, stdout, err = cli("compress", *map(str, args), "--runs", "10", "--json", "-")
    return code, (json.loads(stdout) if stdout.strip().startswith("{") else None), err


def test_auto_picks_static_int8_on_a_conv_net(models, tmp_path, cli):
    src = models("digits_cnn")
    calib = _npz(tmp_path / "cnn_calib.npz", "train", labels=False)
    holdout = _npz(tmp_path / "cnn_test.npz", "test")
    out = tmp_path / "cnn.int8.onnx"
    code, data, err = _run(cli, src, "-o", out, "--calibration", calib, "--data", holdout)
    assert code == 0, err
    assert data["method"] == "static-int8" and "convolution-heavy" in data["auto_reason"]
    assert [a["route"] for a in data["attempts"]] == ["static-int8", "dynamic-int8"]  # every candidate listed
    assert data["size_ratio"] <= 0.40
    assert data["before"]["accuracy"] > 0.9
    assert data["accuracy_delta_pt"] >= -2.0
    assert out.exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name or "compress" in p.name]


def test_auto_picks_dynamic_int8_on_a_matmul_net(models, tmp_path, cli):
    src = models("digits_mlp")
    holdout = _npz(tmp_path / "mlp_test.npz", "test")
    out = tmp_path / "mlp.int8.onnx"
    code, data, err = _run(cli, src, "-o", out, "--data", holdout)
    assert code == 0, err
    assert data["attempts"][0]["route"] == "dynamic-int8" and "MatMul-heavy" in data["auto_reason"]
    assert data["size_ratio"] <= 0.30
    assert abs(data["accuracy_delta_pt"]) <= 1.0
    labels = next(o for o in data["verification"]["outputs"])
    assert labels["label_agreement"] >= 0.98
    assert any("generated inputs" in w for w in data["warnings"])  # static candidate had no calibration


def test_fp16_halves_the_size(models, tmp_path, cli):
    code, data, err = _run(cli, models("digits_mlp"), "-o", tmp_path / "m.fp16.onnx", "--method", "fp16")
    assert code == 0, err
    assert 0.45 <= data["size_ratio"] <= 0.6
    assert data["verification"]["outputs"][0]["max_abs_error"] < 1e-2


def test_errors(models, tmp_path, cli):
    src = models("digits_mlp")
    code, _, err = cli("compress", src, "-o", tmp_path / "a.onnx", "--method", "int4")
    assert code == 3 and "dynamic-int8" in err
    code, _, err = cli("compress", src, "-o", tmp_path / "a.onnx", "--calibration", tmp_path / "none.npz")
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.npz"
    np.savez(bad, pixels=np.zeros((4, 64), np.float32), other=np.zeros((4, 3), np.float32))
    code, _, err = cli("compress", src, "-o", tmp_path / "a.onnx", "--method", "static-int8", "--calibration", bad)
    assert code == 2 and "no array named 'input'" in err
    code, _, err = cli("compress", models("sk_pipeline"), "-o", tmp_path / "a.onnx")
    assert code == 3 and "convert first" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz"]  # no candidate or temp folder left


@needs("tensorflow")
@pytest.mark.parametrize("method,max_ratio", [("dynamic-range", 0.35), ("fp16", 0.6), ("int8", 0.35)])
def test_keras_to_compressed_tflite(models, tmp_path, cli, method, max_ratio):
    from tests.builders import digits

    x, _ = digits("train")
    xt, yt = digits("test")
    calib, data = tmp_path / "calib.npz", tmp_path / "test.npz"
    np.savez(calib, x=x[:200])
    np.savez(data, x=xt, labels=yt)
    out = tmp_path / f"m.{method}.tflite"
    args = ["--calibration", calib] if method == "int8" else []
    code, report, err = _run(cli, models("keras_digits"), "-o", out, "--method", method, "--data", data, *args)
    assert code == 0, err
    assert report["method"] == method and report["baseline"] == "fp32 TFLite"
    assert report["size_ratio"] <= max_ratio
    assert report["before"]["accuracy"] > 0.85 and report["accuracy_delta_pt"] >= -2.0
    from modelport.core.provenance import read_tflite

    assert read_tflite(out)["compressed"] == method


@needs("tensorflow")
def test_tflite_int8_needs_calibration_and_methods_are_checked(models, tmp_path, cli):
    src = models("keras_digits")
    code, _, err = cli("compress", src, "-o", tmp_path / "m.tflite", "--method", "int8")
    assert code == 2 and "--calibration" in err
    code, _, err = cli("compress", src, "-o", tmp_path / "m.tflite", "--method", "static-int8")
    assert code == 3 and "dynamic-range" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("litert_torch") is None,
                    reason="PyTorch -> TFLite needs pip install 'modelport[litert]' (CI installs it)")
@pytest.mark.parametrize("method", ["int8"])
def test_pytorch_to_int8_tflite_through_pt2e(models, tmp_path, cli, method):
    from tests.builders import digits

    src = models("digits_cnn").with_suffix(".pt2")  # the trained conv net, as torch.export saved it
    x, _ = digits("train")
    xt, yt = digits("test")
    calib, data = tmp_path / "calib.npz", tmp_path / "test.npz"
    np.savez(calib, input=x[:256].reshape(-1, 1, 8, 8))
    np.savez(data, input=xt.reshape(-1, 1, 8, 8), labels=yt)
    out = tmp_path / "cnn.tflite"
    code, report, err = _run(cli, src, "-o", out, "--method", method, "--calibration", calib, "--data", data)
    assert code == 0, err
    assert report["size_ratio"] <= 0.45
    assert report["accuracy_delta_pt"] >= -2.0


def test_locate_names_the_most_damaged_layer_and_keep_float_buys_it_back(models, tmp_path, cli):
    import onnx
    import onnxruntime as ort

    src = models("digits_cnn")
    calib = _npz(tmp_path / "cnn_calib.npz", "train", labels=False)
    holdout = _npz(tmp_path / "cnn_test.npz", "test")
    out = tmp_path / "cnn.int8.onnx"
    code, data, err = _run(cli, src, "-o", out, "--method", "static-int8", "--calibration", calib, "--data", holdout,
                           "--locate")
    assert code == 0, err
    # independently: every Relu/Gemm value of the float graph against the value the int8 graph passes on
    x = np.load(holdout)["x"][:64]
    fp32, int8 = onnx.load(str(src)), onnx.load(str(out))
    names = [n.output[0] for n in fp32.graph.node if n.op_type in ("Relu", "Gemm")]
    q_names = {o for n in int8.graph.node for o in n.output}
    pick = [f"{n}_DequantizeLinear_Output" if f"{n}_DequantizeLinear_Output" in q_names else n for n in names]

    def values(model, outs):
        for o in outs:
            model.graph.output.append(onnx.ValueInfoProto(name=o))
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(outs, {sess.get_inputs()[0].name: x})

    errors = [np.linalg.norm(a - b) / np.linalg.norm(a) for a, b in zip(values(fp32, names), values(int8, pick))]
    added = np.diff([0.0] + errors)  # the float graph is a chain: each value's error over the one before
    assert data["damage"][0]["value"] == names[int(np.argmax(added))]
    assert data["damage"][0]["added"] == pytest.approx(float(added.max()), rel=0.05)
    code, kept, err = _run(cli, src, "-o", tmp_path / "kept.onnx", "--method", "static-int8", "--calibration", calib,
                           "--data", holdout, "--keep-float", "1")
    assert code == 0, err
    info = kept["keep_float"]
    assert info["kept"] == [data["damage"][0]["node"]]
    assert info["tried"][0]["max_abs_error"] < info["first"]["max_abs_error"]
    code, _, err = cli("compress", src, "-o", tmp_path / "x.onnx", "--max-accuracy-drop", "1")
    assert code == 2 and "--data" in err


def test_a_graph_with_nothing_for_int8_is_refused_or_given_fp16(models, tmp_path, cli):
    """A scikit-learn graph (Scaler + LinearClassifier in ai.onnx.ml): int8 has nothing to quantize. Asked for, it
    is exit 3 with the fp16 hint before any work; `auto` takes fp16, whose file computes what the original does."""
    import onnxruntime as ort

    import modelport
    from tests.builders import iris

    src = tmp_path / "clf.onnx"
    assert modelport.convert(models("sk_pipeline"), src).ok
    code, _, err = _run(cli, src, "-o", tmp_path / "int8.onnx", "--method", "dynamic-int8")
    assert code == 3 and "nothing to quantize" in err and "--method fp16" in err, err
    assert not (tmp_path / "int8.onnx").exists()
    out = tmp_path / "auto.onnx"
    code, data, err = _run(cli, src, "-o", out)
    assert code == 0, err
    assert data["method"] == "fp16" and "fp16" in data["auto_reason"]
    x = iris()[0][:20].astype(np.float32)
    want = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    assert np.array_equal(got[0], want[0]) and np.allclose(got[1], want[1], atol=1e-2)
