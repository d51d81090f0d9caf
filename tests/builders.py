"""Tiny real models for tests, built on the fly (nothing is downloaded). Frameworks import lazily."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# ---------------------------------------------------------------- PyTorch
def torch_cnn_pt2(path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(4, 5),
    ).eval()
    program = torch.export.export(model, (torch.randn(2, 3, 16, 16),))
    torch.export.save(program, str(path))
    return path


TRANSFORMER_SRC = '''
import torch


class TinyEncoder(torch.nn.Module):
    """A transformers-style encoder: keyword inputs, dict output."""

    def __init__(self, vocab=50, dim=16, heads=2, classes=3):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.pos = torch.nn.Parameter(torch.randn(1, 32, dim) * 0.02)
        self.attn = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = torch.nn.LayerNorm(dim)
        self.ff = torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.GELU(), torch.nn.Linear(32, dim))
        self.head = torch.nn.Linear(dim, classes)

    def forward(self, input_ids, attention_mask=None):
        h = self.embed(input_ids) + self.pos[:, : input_ids.shape[1]]
        pad = None if attention_mask is None else attention_mask == 0
        a, _ = self.attn(h, h, h, key_padding_mask=pad, need_weights=False)
        h = self.norm(h + a)
        h = self.norm(h + self.ff(h))
        return {"last_hidden_state": h, "logits": self.head(h[:, 0])}
'''


def transformer_pt2(path: Path) -> Path:
    import torch

    ns: dict = {}
    exec(compile(TRANSFORMER_SRC, "tiny_encoder", "exec"), ns)
    torch.manual_seed(0)
    model = ns["TinyEncoder"]().eval()
    ids = torch.randint(0, 50, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.int64)
    program = torch.export.export(model, (), {"input_ids": ids, "attention_mask": mask})
    torch.export.save(program, str(path))
    return path


def torchscript_mlp(path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).eval()
    torch.jit.save(torch.jit.trace(model, torch.randn(3, 6)), str(path))
    return path


FACTORY_SRC = '''
import torch


class LSTMTagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 8, batch_first=True)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.out(y[:, -1])


class DataDependent(torch.nn.Module):
    """torch.export cannot trace a Python branch on a tensor value; the TorchScript tracer can."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(5, 2)

    def forward(self, x):
        if bool((x.abs().sum() >= 0).item()):  # always true, but data-dependent for torch.export
            return self.fc(x)
        return -self.fc(x)


def lstm():
    torch.manual_seed(0)
    return LSTMTagger().eval()


def data_dependent():
    torch.manual_seed(0)
    return DataDependent().eval()


def not_a_module():
    return 42
'''


def torch_factory_file(path: Path) -> Path:
    path.write_text(FACTORY_SRC)
    return path


def torch_pickle(path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    torch.save(torch.nn.Linear(3, 2).eval(), str(path))
    return path


# ---------------------------------------------------------------- Keras / TensorFlow
def keras_sequential(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax"),
    ])
    model.save(str(path))
    return path


def keras_multi_io(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 2), name="image")
    meta = keras.Input((3,), name="meta")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Concatenate()([x, meta])
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(x)
    reg = keras.layers.Dense(1, name="reg")(x)
    keras.Model([image, meta], [cls, reg]).save(str(path))
    return path


def keras_lstm(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"), keras.layers.Embedding(20, 8), keras.layers.LSTM(6),
        keras.layers.Dense(2),
    ])
    model.save(str(path))
    return path


def savedmodel_dict(path: Path) -> Path:
    import tensorflow as tf

    class Scorer(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((4, 3), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def serve(self, features):
            logits = tf.matmul(features, self.w)
            return {"probabilities": tf.nn.softmax(logits), "score": tf.reduce_max(logits, axis=1)}

    module = Scorer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


# ---------------------------------------------------------------- scikit-learn
def iris():
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def iris_versions(folder: Path) -> tuple[Path, Path]:
    """v1.skops: a scaler + logistic regression on iris; v2.skops: the same with one scaler mean moved by 1.5 (a
    retrain that changed the model: its labels differ from v1's on some rows)."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = iris()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    sio.dump(model, str(folder / "v1.skops"))
    model[0].mean_[2] += 1.5
    sio.dump(model, str(folder / "v2.skops"))
    return folder / "v1.skops", folder / "v2.skops"


def sklearn_pipeline(path: Path) -> Path:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = iris()
    sio.dump(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y), str(path))
    return path


def sklearn_model(path: Path, kind: str) -> Path:
    import skops.io as sio
    from sklearn.cluster import KMeans
    from sklearn.ensemble import IsolationForest, RandomForestRegressor, VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    x, y = iris()
    est = {
        "forest_regressor": lambda: RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(x, x[:, 0]),
        "voting_soft": lambda: VotingClassifier(
            [("lr", LogisticRegression(max_iter=500)), ("dt", DecisionTreeClassifier(max_depth=3, random_state=0))],
            voting="soft", weights=[0.7, 0.3]).fit(x, y),
        "isolation_forest": lambda: IsolationForest(n_estimators=10, random_state=0).fit(x),
        "kmeans": lambda: KMeans(3, n_init=2, random_state=0).fit(x),
    }[kind]()
    sio.dump(est, str(path))
    return path


def sklearn_pickle(path: Path) -> Path:
    import pickle

    from sklearn.linear_model import LogisticRegression

    x, y = iris()
    with open(path, "wb") as fh:
        pickle.dump(LogisticRegression(max_iter=500).fit(x, y), fh)
    return path


SUBCLASSED_SRC = '''
import keras


@keras.saving.register_keras_serializable(package="modelport_tests")
class TwoLayer(keras.Model):
    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.head = keras.layers.Dense(2)

    def call(self, x):
        return self.head(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}
'''


def keras_subclassed(path: Path) -> tuple[Path, Path]:
    """A subclassed Keras model and the .py file that defines (and registers) its class."""
    import keras

    from modelport.loaders import import_user_code

    code = path.with_name("two_layer.py")
    code.write_text(SUBCLASSED_SRC)
    import_user_code([str(code)], trust=True)
    cls = keras.saving.get_registered_object("modelport_tests>TwoLayer")
    keras.utils.set_random_seed(0)
    model = cls()
    model(np.zeros((1, 5), np.float32))
    model.save(str(path))
    return path, code


def keras_lstm_unrolled(path: Path) -> Path:
    """LSTM built with unroll=True and a fixed sequence length: lowers to TFLite builtins."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((7, 3)), keras.layers.LSTM(5, unroll=True), keras.layers.Dense(2)])
    model.save(str(path))
    return path


def keras_cnn(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax"),
    ], name="cnn")  # fixed names: tf2onnx names the weights after them, whatever else the process built
    model.save(str(path))
    return path


def keras_lstm_float(path: Path) -> Path:
    """A plain (not unrolled) LSTM on float sequences: TFLite builtins cannot express it."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    model.save(str(path))
    return path


# ---------------------------------------------------------------- ensembles (fuse)
def torch_iris_mlp(path: Path, *, softmax: bool = True, train: bool = True) -> Path:
    """A PyTorch classifier on iris, exported with a dynamic batch (softmax head, or raw logits)."""
    import torch

    x, y = iris()
    torch.manual_seed(0)
    layers = [torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)]
    model = torch.nn.Sequential(*layers, *([torch.nn.Softmax(dim=1)] if softmax else []))
    if train:
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        xt, yt = torch.from_numpy((x - x.mean(0)) / x.std(0)), torch.from_numpy(y)
        for _ in range(150):
            opt.zero_grad()
            logits = model[:3](xt)
            torch.nn.functional.cross_entropy(logits, yt).backward()
            opt.step()
    model.eval()
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.from_numpy(x[:4]),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return path


def keras_iris_mlp(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.save(str(path))
    return path


def sklearn_scaler(path: Path) -> Path:
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    x, _ = iris()
    sio.dump(StandardScaler().fit(x), str(path))
    return path


def sklearn_binary(path: Path) -> Path:
    """A 2-class classifier on the same 4 features (class-count mismatch with iris models)."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x, y = iris()
    sio.dump(LogisticRegression(max_iter=500).fit(x, (y > 0).astype(int)), str(path))
    return path


def sklearn_five_features(path: Path) -> Path:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x, y = iris()
    sio.dump(LogisticRegression(max_iter=500).fit(np.hstack([x, x[:, :1]]), y), str(path))
    return path


def digits(split: str):
    """scikit-learn's digits (ships with the package): 8x8 images, 10 classes; first 1400 rows train."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return (x[:1400], y[:1400]) if split == "train" else (x[1400:], y[1400:])


def _train(model, x, y, epochs: int, reshape=None):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x if reshape is None else x.reshape(reshape)), torch.from_numpy(y)
    for _ in range(epochs):
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[i:i + 64]), yt[i:i + 64]).backward()
            opt.step()
    return model.eval()


def digits_cnn_onnx(path: Path, logit_scale: float | None = None) -> Path:
    """A trained conv net on digits (1x8x8 inputs) with a softmax head, converted to ONNX.

    Trained 20 epochs (95.5% test accuracy here) and served with probabilities, as classifiers usually are:
    per-tensor static int8 then stays within the int8 tolerance on real inputs with a wide margin (0.2% of
    elements off against 2% allowed). Raw logits of an 8-epoch model (90%) put 7.4% off a fixed 0.1 on this CPU,
    so whether static int8 "verified" depended on the machine the model was trained on.

    `logit_scale`: serve raw logits instead, the last layer scaled by it (x10: logits spanning ~440, where int8's
    error is judged against each output's range)."""
    import torch

    import modelport

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x, y = digits("train")
    _train(model, x, y, epochs=20, reshape=(-1, 1, 8, 8))
    if logit_scale is None:
        model = torch.nn.Sequential(model, torch.nn.Softmax(1)).eval()
    else:
        with torch.no_grad():
            model[-1].weight *= logit_scale
            model[-1].bias *= logit_scale
    pt2 = path.with_suffix(".pt2")
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(model, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},)), str(pt2))
    modelport.convert(pt2, path)
    return path


def digits_mlp_onnx(path: Path) -> Path:
    """A trained MatMul-heavy MLP on digits (64 features), converted to ONNX."""
    import torch

    import modelport

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    x, y = digits("train")
    _train(model, x, y, epochs=10)
    pt2 = path.with_suffix(".pt2")
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(model, (torch.zeros(2, 64),), dynamic_shapes=({0: batch},)), str(pt2))
    modelport.convert(pt2, path)
    return path


def keras_digits_mlp(path: Path) -> Path:
    """A trained Keras MLP on digits (64 features, ~85k weights): big enough for size ratios to mean something."""
    import keras

    keras.utils.set_random_seed(0)
    x, y = digits("train")
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    model.save(str(path))
    return path


def keras_application(path: Path, name: str) -> Path:
    """keras.applications `name` (weights=None, 10 classes, 96x96) whose BatchNorm statistics come from one
    training-mode pass over [0, 1) images, as a net trained on such data has them (issue 12's false alarms)."""
    import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, classes=10, input_shape=(96, 96, 3))
    x = np.random.default_rng(0).random((8, 96, 96, 3)).astype("float32")
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    for layer in bns:
        layer.momentum = 0.0
    model(x, training=True)
    for layer in bns:
        layer.momentum = 0.99
    model.save(str(path))
    return path


def breast_cancer_model(path: Path, kind: str) -> Path:
    """A classifier fitted on the raw breast-cancer features (scales up to ~4,000), saved with skops."""
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    model = {"hgb": HistGradientBoostingClassifier(max_iter=50, random_state=0),
             "forest": RandomForestClassifier(n_estimators=50, random_state=0),
             "gbm": GradientBoostingClassifier(n_estimators=50, random_state=0),
             "scaled_lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))}[kind].fit(x, y)
    sio.dump(model, str(path))
    return path


def scale_weight(src: Path, out: Path, factor: float = 1.01, name: str | None = None) -> str:
    """A copy of an ONNX file with one weight tensor scaled: the first whose name starts with `name`, else the
    largest float one. Returns the tensor's name. How tests and benchmarks break a converted model."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    if name is None:
        floats = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
        target = max(floats, key=lambda t: int(np.prod(t.dims)))
    else:
        target = next(t for t in model.graph.initializer if t.name.startswith(name))
    array = numpy_helper.to_array(target)
    target.CopyFrom(numpy_helper.from_array((array * factor).astype(array.dtype), target.name))
    onnx.save(model, str(out))
    return target.name


def scale_ir_weight(src: Path, out: Path, factor: float = 1.01) -> str:
    """A copy of an OpenVINO IR (`.xml` + `.bin`) with its largest f32 or f16 constant scaled in the `.bin`. Returns the
    constant's name. How tests break an OpenVINO model without OpenVINO's help."""
    import shutil
    import xml.etree.ElementTree as ET

    root = ET.parse(str(src)).getroot()
    types = {"f32": np.float32, "f16": np.float16}
    consts = [(layer, data) for layer in root.iter("layer") if layer.get("type") == "Const"
              for data in [layer.find("data")] if data is not None and data.get("element_type") in types]
    layer, data = max(consts, key=lambda c: int(c[1].get("size")))
    offset, size, kind = int(data.get("offset")), int(data.get("size")), types[data.get("element_type")]
    blob = bytearray(Path(src).with_suffix(".bin").read_bytes())
    values = np.frombuffer(bytes(blob[offset:offset + size]), kind).astype(np.float32) * np.float32(factor)
    blob[offset:offset + size] = values.astype(kind).tobytes()
    shutil.copyfile(src, out)
    Path(out).with_suffix(".bin").write_bytes(bytes(blob))
    return layer.get("name")


def scale_pt2_weight(src: Path, out: Path, factor: float = 1.01) -> str:
    """A copy of a torch.export program with its largest parameter scaled (how tests break a PyTorch source
    before it is lowered to a target whose file they cannot edit, such as an ExecuTorch program)."""
    import torch

    program = torch.export.load(str(src))
    name = max(program.state_dict, key=lambda k: program.state_dict[k].numel())
    with torch.no_grad():
        program.state_dict[name].mul_(factor)
    torch.export.save(program, str(out))
    return name
