"""Every scikit-learn estimator skl2onnx can convert, each fitted on a bundled data set suited to it, and an
independent check of a converted file (onnxruntime directly against the estimator's own methods).

Used by tests/steps/test_sklearn_sweep.py (CI) and benchmarks/sklearn_sweep.py (the report with counts).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Supported by skl2onnx but not a model over a numeric feature matrix: what each takes instead.
SKIPS = {
    "LabelEncoder": "encodes targets (a 1-D label array), not features: not a model modelport converts",
    "LabelBinarizer": "encodes targets (a 1-D label array), not features: not a model modelport converts",
    # raw text in: modelport's loader has no text input yet, and the graph skl2onnx writes (StringNormalizer)
    # does not load in ONNX Runtime here: it needs the en_US.UTF-8 locale, which this machine lacks
    "CountVectorizer": "raw text input (not loaded by modelport yet); ONNX Runtime needs the en_US.UTF-8 locale",
    "TfidfVectorizer": "raw text input (not loaded by modelport yet); ONNX Runtime needs the en_US.UTF-8 locale",
    "FeatureHasher": "takes raw tokens or dicts, not a feature matrix",
    "DictVectorizer": "takes a list of dicts, not a feature matrix",
    "_ConstantPredictor": "private helper of OneVsRestClassifier, not a user-facing estimator",
}


@dataclass
class Case:
    name: str
    make: Callable[[], object]
    data: str  # iris | wine | breast_cancer | digits | diabetes | diabetes2 (two targets) | iris2 (two labels)


def _data(name: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loader = {"digits_int": datasets.load_digits, "iris": datasets.load_iris, "wine": datasets.load_wine,
              "breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits,
              "diabetes": datasets.load_diabetes}[name.rstrip("2")]
    x, y = loader(return_X_y=True)
    if name.startswith("digits"):
        x, y = x[:500], y[:500]
    if name == "digits_int":  # integer categories (what skl2onnx's encoders take)
        return x.astype(np.int64), y
    if name == "diabetes2":
        y = np.stack([y, np.sqrt(np.abs(y))], 1)
    if name == "iris2":
        y = np.stack([y, (x[:, 0] > 5.8).astype(int)], 1)
    return x.astype(dtype), y


def supported() -> list[str]:
    """all_estimators() ∩ the estimator classes skl2onnx registers a converter for."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from sklearn.utils import all_estimators

    names = {c.__name__ for c in sklearn_operator_name_map if c.__module__.startswith("sklearn")}
    names |= MODELPORT_REGISTERS  # whether registered yet in this process or not
    return sorted(names & {n for n, _ in all_estimators()})


# estimators skl2onnx has no converter for until modelport registers one (routes/sklearn_threshold.py)
MODELPORT_REGISTERS = {"FixedThresholdClassifier"}


def catalogue() -> dict[str, Case]:
    """Every supported estimator not in SKIPS, with what it needs to be built and fitted."""
    from sklearn import (
        compose,
        decomposition,
        ensemble,
        feature_selection,
        linear_model,
        model_selection,
        multiclass,
        multioutput,
        neighbors,
        pipeline,
        preprocessing,
        svm,
        tree,
    )
    from sklearn.utils import all_estimators

    classes = dict(all_estimators())
    lr = lambda: linear_model.LogisticRegression(max_iter=2000)  # noqa: E731
    special = {
        "OneVsRestClassifier": (lambda: multiclass.OneVsRestClassifier(lr()), "iris"),
        "OneVsOneClassifier": (lambda: multiclass.OneVsOneClassifier(lr()), "iris"),
        "MultiOutputClassifier": (lambda: multioutput.MultiOutputClassifier(lr()), "iris2"),
        "MultiOutputRegressor": (lambda: multioutput.MultiOutputRegressor(linear_model.Ridge()), "diabetes2"),
        "RFE": (lambda: feature_selection.RFE(lr(), n_features_to_select=2), "iris"),
        "RFECV": (lambda: feature_selection.RFECV(lr()), "iris"),
        "SelectFromModel": (lambda: feature_selection.SelectFromModel(lr()), "iris"),
        "GridSearchCV": (lambda: model_selection.GridSearchCV(lr(), {"C": [0.1, 1.0]}), "iris"),
        "StackingClassifier": (lambda: ensemble.StackingClassifier(
            [("lr", lr()), ("tree", tree.DecisionTreeClassifier(max_depth=3, random_state=0))]), "iris"),
        "StackingRegressor": (lambda: ensemble.StackingRegressor(
            [("ridge", linear_model.Ridge()), ("tree", tree.DecisionTreeRegressor(max_depth=3, random_state=0))]),
            "diabetes"),
        "VotingClassifier": (lambda: ensemble.VotingClassifier(
            [("lr", lr()), ("tree", tree.DecisionTreeClassifier(max_depth=3, random_state=0))], voting="soft",
            weights=[2, 1]), "iris"),
        "VotingRegressor": (lambda: ensemble.VotingRegressor(
            [("ridge", linear_model.Ridge()), ("tree", tree.DecisionTreeRegressor(max_depth=3, random_state=0))]),
            "diabetes"),
        "TunedThresholdClassifierCV": (lambda: model_selection.TunedThresholdClassifierCV(lr()), "breast_cancer"),
        "FixedThresholdClassifier": (lambda: model_selection.FixedThresholdClassifier(lr(), threshold=0.7),
                                     "breast_cancer"),
        "Pipeline": (lambda: pipeline.make_pipeline(preprocessing.StandardScaler(), decomposition.PCA(3), lr()),
                     "iris"),
        "FeatureUnion": (lambda: pipeline.FeatureUnion(
            [("pca", decomposition.PCA(2)), ("scale", preprocessing.StandardScaler())]), "iris"),
        "ColumnTransformer": (lambda: compose.ColumnTransformer(
            [("a", preprocessing.StandardScaler(), [0, 1]), ("b", preprocessing.MinMaxScaler(), [2, 3])]), "iris"),
        "MultiTaskElasticNet": (linear_model.MultiTaskElasticNet, "diabetes2"),
        "MultiTaskElasticNetCV": (linear_model.MultiTaskElasticNetCV, "diabetes2"),
        "MultiTaskLasso": (linear_model.MultiTaskLasso, "diabetes2"),
        "MultiTaskLassoCV": (linear_model.MultiTaskLassoCV, "diabetes2"),
        "GenericUnivariateSelect": (lambda: feature_selection.GenericUnivariateSelect(mode="k_best", param=2), "iris"),
        "SelectKBest": (lambda: feature_selection.SelectKBest(k=2), "iris"),
        "MultinomialNB": (classes["MultinomialNB"], "digits"),
        "ComplementNB": (classes["ComplementNB"], "digits"),
        "CategoricalNB": (classes["CategoricalNB"], "digits"),
        "TfidfTransformer": (classes["TfidfTransformer"], "digits"),
        "KernelCenterer": (classes["KernelCenterer"], "iris"),
        "LinearSVC": (lambda: svm.LinearSVC(max_iter=20000), "iris"),
        "MLPClassifier": (lambda: classes["MLPClassifier"](max_iter=2000, random_state=0), "iris"),
        "MLPRegressor": (lambda: classes["MLPRegressor"](max_iter=2000, random_state=0), "diabetes"),
        "KBinsDiscretizer": (lambda: preprocessing.KBinsDiscretizer(encode="onehot"), "iris"),
        # skl2onnx's converter takes 26 s for the default 150 quantiles of iris (not modelport's time)
        "QuantileTransformer": (lambda: preprocessing.QuantileTransformer(n_quantiles=30), "iris"),
        # neighbours on wine: iris repeats rows, and which of two equidistant neighbours counts is arbitrary
        # (sklearn's argpartition and ONNX Runtime's TopK choose differently: exit 1 there is right)
        "KNeighborsClassifier": (classes["KNeighborsClassifier"], "wine"),
        "KNeighborsRegressor": (classes["KNeighborsRegressor"], "wine"),
        "KNeighborsTransformer": (classes["KNeighborsTransformer"], "wine"),
        "NearestNeighbors": (classes["NearestNeighbors"], "wine"),
        "LocalOutlierFactor": (lambda: neighbors.LocalOutlierFactor(novelty=True), "wine"),
        "KNNImputer": (classes["KNNImputer"], "wine"),
        "GaussianRandomProjection": (lambda: classes["GaussianRandomProjection"](n_components=3), "iris"),
        "GaussianProcessClassifier": (classes["GaussianProcessClassifier"], "breast_cancer"),  # binary only
        "TargetEncoder": (classes["TargetEncoder"], "breast_cancer"),  # binary or continuous targets only
        "OneHotEncoder": (lambda: preprocessing.OneHotEncoder(handle_unknown="ignore"), "digits_int"),
        "OrdinalEncoder": (preprocessing.OrdinalEncoder, "digits_int"),
    }
    out = {}
    for name in supported():
        if name in SKIPS:
            continue
        if name in special:
            make, data = special[name]
        else:
            cls = classes[name]
            make = cls
            data = _default_data(cls())
        out[name] = Case(name, _seeded(make), data)
    return out


def _seeded(make):
    def build():
        est = make()
        params = est.get_params()
        if "random_state" in params and params["random_state"] is None:
            est.set_params(random_state=0)
        return est

    return build


def _default_data(cls) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(cls):
        return "iris"
    if is_regressor(cls):
        return "diabetes"
    return "iris"


def fitted(case: Case, dtype=np.float64):
    """(estimator, X, y), fitted quietly on the case's data in `dtype`."""
    x, y = _data(case.data, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated estimators (PassiveAggressive*) still count
        est = case.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.name == "KernelCenterer":
            x = x @ x.T
            est.fit(x)
        elif _wants_y(est):
            est.fit(x, y)
        else:
            est.fit(x)
    return est, x, y


def convert_and_check(case: Case, dtype, folder):
    """Fit the case, save it with skops, convert it with modelport held to --rtol 1e-4, then check the file
    independently (`check`, 1e-5 on the float64 route). Returns (report, problems); problems is None when
    modelport's own verification failed. Raises what `modelport.convert` raises."""
    import skops.io as sio

    import modelport
    from modelport.pipeline import VerifyOptions

    est, x, _ = fitted(case, dtype)
    src, out = folder / f"{case.name}.skops", folder / f"{case.name}.onnx"
    sio.dump(est, str(src))
    report = modelport.convert(src, out, trust=True, check=VerifyOptions(rtol=1e-4))
    if not report.ok:
        return report, None
    return report, check(est, x, out, 1e-5 if report.route.endswith("float64") else 1e-4)


def _wants_y(est) -> bool:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(est) or is_regressor(est):
        return True
    return type(est).__name__ in {"RFE", "RFECV", "SelectFromModel", "GenericUnivariateSelect", "SelectKBest",
                                  "SelectFdr", "SelectFpr", "SelectFwe", "SelectPercentile",
                                  "NeighborhoodComponentsAnalysis", "LinearDiscriminantAnalysis", "TargetEncoder",
                                  "PLSRegression", "GridSearchCV", "KBinsDiscretizer"}


def reference(est, x: np.ndarray) -> dict[str, np.ndarray]:
    """What the estimator itself says on X: labels, and the numbers (probabilities, decision scores, values)."""
    from sklearn.base import is_classifier, is_regressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hasattr(est, "get_support") and hasattr(est, "transform"):  # feature selectors: what skl2onnx converts
            return {"numbers": np.asarray(est.transform(x))}
        if type(est).__name__ == "MultiOutputClassifier":  # probabilities: a list per target, not compared
            return {"label": np.asarray(est.predict(x))}
        if is_classifier(est):
            out = {"label": np.asarray(est.predict(x))}
            if hasattr(est, "predict_proba"):
                out["numbers"] = np.asarray(est.predict_proba(x))
            elif hasattr(est, "decision_function"):
                out["numbers"] = np.asarray(est.decision_function(x))
            return out
        if is_regressor(est):
            return {"numbers": np.asarray(est.predict(x))}
        if hasattr(est, "predict") and hasattr(est, "decision_function"):  # outlier detectors
            return {"label": np.asarray(est.predict(x)), "numbers": np.asarray(est.decision_function(x))}
        if hasattr(est, "predict") and hasattr(est, "predict_proba"):  # mixtures
            return {"label": np.asarray(est.predict(x)), "numbers": np.asarray(est.predict_proba(x))}
        if hasattr(est, "predict") and hasattr(est, "transform"):  # clusterers
            return {"label": np.asarray(est.predict(x)), "numbers": np.asarray(est.transform(x))}
        if not hasattr(est, "transform"):  # NearestNeighbors: the neighbours' indices, then their distances
            distance, index = est.kneighbors(x)
            return {"label": index, "numbers": distance}
        value = est.transform(x)
        return {"numbers": np.asarray(value.toarray() if hasattr(value, "toarray") else value)}


def check(est, x: np.ndarray, onnx_path, rtol: float = 1e-4) -> list[str]:
    """Problems of an ONNX file against the estimator on the whole data set (empty: faithful). Labels must agree
    on every row; numbers within `rtol` * (1 + |value|): 1e-4 absolute for probabilities, relative for large
    values (onnxruntime directly, fed the file's declared input dtype)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    feed_x = x.astype({"tensor(double)": np.float64, "tensor(int64)": np.int64}.get(inp.type, np.float32))
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp.name: feed_x})))
    ref = reference(est, x)
    problems = []
    values = list(outs.values())
    if "label" in ref:
        got = np.asarray(values[0]).reshape(ref["label"].shape)
        agree = float(np.mean(got == ref["label"]))
        if agree < 1.0:
            problems.append(f"labels agree on {agree:.2%} of rows")
    numbers = ref.get("numbers")
    if numbers is not None:
        got = np.asarray(values[-1] if len(values) > 1 or "label" not in ref else values[0], dtype=np.float64)
        want = numbers.astype(np.float64)
        if want.ndim == 1 and got.ndim == 2 and got.shape[1] == 2 and "label" in ref:
            got = got[:, 1]  # binary decision scores: skl2onnx writes [-s, s]
        if got.size != want.size:
            problems.append(f"numbers shape {list(got.shape)} vs {list(want.shape)}")
        else:
            got = got.reshape(want.shape)
            worst = float((np.abs(got - want) / (1 + np.abs(want))).max())
            if worst > rtol:
                problems.append(f"numbers off by {worst:.3g} of 1 + |value| (allowed {rtol:.3g})")
    return problems


def break_copy(src, out, factor: float = 1.05) -> str | None:
    """A copy of a converted scikit-learn graph with its largest float array (an initializer, or a node's float
    attribute: tree thresholds or leaf values, coefficients, scaler statistics) scaled by `factor`. Returns what
    was scaled, or None when the graph holds no float array."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    arrays = []  # (size, label, apply)
    for t in model.graph.initializer:
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE) and int(np.prod(t.dims)) > 1:
            def scale(t=t):
                a = numpy_helper.to_array(t)
                t.CopyFrom(numpy_helper.from_array((a * factor).astype(a.dtype), t.name))
            arrays.append((int(np.prod(t.dims)), f"initializer {t.name}", scale))
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.FLOATS and len(attr.floats) > 1 and "hitrates" not in attr.name:
                def scale(attr=attr):
                    values = [v * factor for v in attr.floats]
                    del attr.floats[:]
                    attr.floats.extend(values)
                arrays.append((len(attr.floats), f"{node.op_type}.{attr.name}", scale))
    if not arrays:
        return None
    size, label, apply = max(arrays, key=lambda a: a[0])
    apply()
    onnx.save(model, str(out))
    return label


def verdict_on_broken(case: Case, dtype, folder) -> str:
    """After a faithful conversion (convert_and_check in `folder`): break a copy (`break_copy`), measure with
    onnxruntime whether it is really wrong on the data set, and ask modelport to verify it. Returns "caught",
    "FALSE PASS", "not broken" (the change moves nothing on the data set) or "no float array"."""
    import modelport
    from modelport.pipeline import VerifyOptions

    est, x, _ = fitted(case, dtype)
    src, out, bad = folder / f"{case.name}.skops", folder / f"{case.name}.onnx", folder / f"{case.name}.bad.onnx"
    if break_copy(out, bad) is None:
        return "no float array"
    if not check(est, x, bad, 1e-4):
        return "not broken"
    report = modelport.verify(src, bad, trust=True, check=VerifyOptions(rtol=1e-4))
    return "FALSE PASS" if report.ok else "caught"
