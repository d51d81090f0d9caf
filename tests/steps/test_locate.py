"""`--locate` names the layer that was deliberately broken in the candidate, in the source's terms."""

from __future__ import annotations

import json

import pytest

from tests.builders import scale_weight
from tests.conftest import needs

pytestmark = pytest.mark.slow


def _broken(src, tmp_path, weight: str, factor: float = 1.05):
    """Convert `src` (the file must verify), then break one weight of a copy; returns (faithful, broken).
    `weight`: the start of the weight's name, or a pattern its name matches when written `re:PATTERN`."""
    import re

    import onnx

    import modelport

    out, bad = tmp_path / "m.onnx", tmp_path / "bad.onnx"
    assert modelport.convert(src, out).ok
    if weight.startswith("re:"):
        weight = next(t.name for t in onnx.load(str(out)).graph.initializer if re.search(weight[3:], t.name))
    scale_weight(out, bad, factor, weight)
    return out, bad


def _locate(cli, src, cand):
    code, stdout, err = cli("verify", src, cand, "--locate", "--json", "-")
    assert code == 1, err
    return json.loads(stdout)["locate"]


@needs("torch")
@pytest.mark.parametrize("name,weight,layer", [
    ("cnn_pt2", "0.weight", "0 (Conv2d)"),           # the first layer of a conv net
    ("transformer_pt2", "ff.0.bias", "ff.0 (Linear)"),  # the feed-forward block after attention
    ("transformer_pt2", "attn.out_proj.weight", "attn (MultiheadAttention)"),
])
def test_pytorch_layer_is_named_by_module_path(models, tmp_path, cli, name, weight, layer):
    src = models(name)
    _, bad = _broken(src, tmp_path, weight)
    found = _locate(cli, src, bad)
    assert found["found"] and found["first"]["layer"] == layer, found
    assert found["runs"] <= 4 and found["compared"] <= found["pairs"]


@needs("tensorflow")
def test_keras_layer_is_named(models, tmp_path, cli):
    src = models("keras_cnn")
    _, bad = _broken(src, tmp_path, r"re:^cnn(_\d+)?/conv(_\d+)?/")  # Keras numbers names per process
    found = _locate(cli, src, bad)
    assert found["found"] and found["first"]["layer"] == "conv (Conv2D)", found


@needs("tensorflow")
def test_keras_layer_is_named_in_a_tflite_candidate(models, tmp_path, cli):
    """TFLite tensors carry the TensorFlow scopes of what they compute: the conv of a copy of the model with its
    kernel scaled by 1.05 is the first layer to differ (the output layer pairs with the signature output)."""
    import keras

    import modelport

    src = models("keras_cnn")
    model = keras.saving.load_model(str(src))
    conv = model.get_layer("conv")
    conv.set_weights([conv.get_weights()[0] * 1.05, conv.get_weights()[1]])
    model.save(str(tmp_path / "bad.keras"))
    assert modelport.convert(tmp_path / "bad.keras", tmp_path / "bad.tflite").ok
    found = _locate(cli, src, tmp_path / "bad.tflite")
    assert found["found"] and found["first"]["layer"] == "conv (Conv2D)", found
    assert "tflite" in found["mapped_by"] and found["compared"] == found["pairs"] == 4, found


@needs("torch")
def test_onnx_against_onnx_and_convert_locate(models, tmp_path, cli):
    src = models("transformer_pt2")
    out, bad = _broken(src, tmp_path, "ff.0.bias", 1.5)
    found = _locate(cli, out, bad)
    assert found["found"] and found["first"]["layer"] == "ff.0", found  # the exporter's scope, as ONNX records it
    code, stdout, err = cli("verify", out, out, "--locate", "--json", "-")
    assert code == 0 and "nothing to locate" in json.loads(stdout)["locate"]["note"]
    # convert --locate: every route mismatches (zero tolerance, no floor); the kept file is located
    code, stdout, _ = cli("convert", src, "-o", tmp_path / "strict.onnx", "--atol", "0", "--rtol", "0",
                          "--no-noise-floor", "--locate", "--json", "-")
    assert code == 1 and "locate" in json.loads(stdout)


@needs("sklearn")
def test_sklearn_pipeline_step_is_named(tmp_path, cli):
    import skops.io as sio
    from sklearn.datasets import load_iris
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    src = tmp_path / "pipe.skops"
    sio.dump(make_pipeline(StandardScaler(), PCA(3), LogisticRegression(max_iter=500)).fit(x, y), str(src))
    _, bad = _broken(src, tmp_path, "transform_matrix")  # PCA's projection, as skl2onnx stores it
    found = _locate(cli, src, bad)
    assert found["found"] and found["first"]["layer"] == "pca (PCA)", found


@needs("sklearn")
@pytest.mark.parametrize("broken,layer", [
    ("transform_matrix", "prep/pca (PCA)"),  # a step of a pipeline inside the pipeline
    ("Ad_Addcst", "cols/b (MinMaxScaler)"),  # a ColumnTransformer's transformer (its offset, as skl2onnx stores it)
])
def test_sklearn_nested_steps_are_named(tmp_path, cli, broken, layer):
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_iris
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    x, y = load_iris(return_X_y=True)
    if broken == "transform_matrix":
        model = Pipeline([("prep", Pipeline([("scale", StandardScaler()), ("pca", PCA(3))])),
                          ("clf", LogisticRegression(max_iter=500))])
    else:
        model = Pipeline([("cols", ColumnTransformer([("a", StandardScaler(), [0, 1]), ("b", MinMaxScaler(), [2, 3])])),
                          ("pca", PCA(3)), ("clf", LogisticRegression(max_iter=500))])
    src = tmp_path / "pipe.skops"
    sio.dump(model.fit(x, y), str(src))
    _, bad = _broken(src, tmp_path, broken, 1.5)
    found = _locate(cli, src, bad)
    assert found["found"] and found["first"]["layer"] == layer, found
