"""scikit-learn estimators from .skops files (safe loading) or pickles (--trust only)."""

from __future__ import annotations

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UnsafeError, UnsupportedError, UsageError, one_line, require
from modelport.core.formats import Format
from modelport.core.model import Model, cast_feed
from modelport.frameworks.sklearn.estimators import walk
from modelport.frameworks.sklearn.taps import sklearn_tap_values, sklearn_taps

SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.")  # anything else (builtins functions included) needs --trust


def load(path, fmt: Format, *, trust: bool, input_specs: list[TensorSpec], purpose: str = "run") -> SklearnModel:
    sklearn = require("sklearn", "sklearn", "read scikit-learn models")
    if fmt is Format.SKLEARN_SKOPS:
        estimator = _load_skops(path, trust)
    else:
        estimator = _load_pickle(path)
    return SklearnModel(path, fmt, estimator, input_specs, sklearn.__version__)


def _load_skops(path, trust: bool):
    sio = require("skops.io", "sklearn", "read .skops files")
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise UsageError(f"{path}: cannot read .skops file ({one_line(exc)})",
                         hint="is the file complete?") from exc
    foreign = [t for t in untrusted if not t.startswith(SAFE_PREFIXES)]
    if foreign and not trust:
        raise UnsafeError(
            f"{path}: holds types outside scikit-learn/numpy/scipy: {', '.join(foreign[:5])}",
            hint="pass --trust if you trust this file",
        )
    try:
        return sio.load(str(path), trusted=untrusted)
    except Exception as exc:
        raise UsageError(f"{path}: cannot load .skops file ({one_line(exc)})",
                         hint="is the file complete? re-save the model") from exc


def _load_pickle(path):
    from modelport.core import pickles
    from modelport.core.errors import UnsafeError

    try:
        import joblib  # noqa: F401
    except ImportError:
        joblib = None
    try:
        if joblib is not None:
            return pickles.joblib_load(path)
        with open(path, "rb") as fh:
            return pickles.guarded_module().load(fh)
    except UnsafeError:
        raise
    except Exception as exc:
        raise UsageError(f"{path}: cannot unpickle ({one_line(exc)})", hint="is the file complete?") from exc


def kind(estimator) -> str:
    from sklearn.base import is_classifier, is_regressor

    if hasattr(estimator, "get_support") and hasattr(estimator, "transform"):
        return "transformer"  # feature selectors (RFE, RFECV delegate predict, but skl2onnx converts transform)
    if is_classifier(estimator):
        return "classifier"
    if is_regressor(estimator):
        return "regressor"
    if hasattr(estimator, "predict") and hasattr(estimator, "predict_proba"):
        return "mixture"
    if hasattr(estimator, "predict") and hasattr(estimator, "decision_function"):
        return "outlier"
    if hasattr(estimator, "predict") and hasattr(estimator, "transform"):
        return "cluster"
    if hasattr(estimator, "transform"):
        return "transformer"
    if hasattr(estimator, "kneighbors"):
        return "neighbors"
    return "unknown"


OUTPUTS = {
    "classifier": ["label", "probabilities"],
    "regressor": ["variable"],
    "mixture": ["label", "probabilities"],
    "outlier": ["label", "scores"],
    "cluster": ["label", "scores"],
    "transformer": ["variable"],
    "neighbors": ["index", "distance"],
}

_SEQUENCE_PROBABILITIES = ("MultiOutputClassifier", "ClassifierChain")

# How skl2onnx 1.20 writes a binary classifier's decision scores s (no predict_proba): one column, [s, -s], or
# (the default) [-s, s]. The reference is laid out the same way.
_BINARY_SCORES = {"LinearSVC": "s", "RidgeClassifier": "s", "RidgeClassifierCV": "s", "SVC": "s,-s",
                  "NuSVC": "s,-s"}


def fitted_dtype(estimator):
    """The float dtype the estimator was fitted in (of its first fitted float array), float64 if none says."""
    import numpy as np

    for node in walk(estimator):
        for attr in ("cluster_centers_", "coef_", "means_", "_fit_X", "X_fit_", "support_vectors_", "components_",
                     "mean_", "scale_"):
            value = getattr(node, attr, None)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                return value.dtype
    return np.dtype(np.float64)


def _input_dtype(estimator, floats: str) -> str:
    """int64 for an encoder (first step) fitted on integer categories (skl2onnx takes int64 or string ones);
    else `floats`, the float dtype it was fitted in. Generated rows are then float64 for a float64 model: the
    reference sees them whole, as real rows, and a float32 candidate sees them rounded (where float32 routes
    lose ties between neighbours or rows at a threshold)."""
    import numpy as np

    steps = getattr(estimator, "steps", None)
    first = steps[0][1] if steps else estimator
    categories = getattr(first, "categories_", None)
    if categories is not None and len(categories) and all(np.asarray(c).dtype.kind in "iu" for c in categories):
        return "int64"
    return floats


def _dense(value):
    import numpy as np

    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


class SklearnModel(Model):
    def __init__(self, path, fmt: Format, estimator, input_specs: list[TensorSpec], version: str) -> None:
        self.path, self.format, self.estimator = path, fmt, estimator
        self.framework_version = f"scikit-learn {version}"
        self.dtype = fitted_dtype(estimator)
        floats = "float64" if self.dtype.name == "float64" else "float32"
        n = getattr(estimator, "n_features_in_", None)
        self.columns = False  # one input per DataFrame column (see sklearn_columns)
        specs = None
        if not input_specs and getattr(estimator, "feature_names_in_", None) is not None:
            from modelport.frameworks.sklearn.columns import column_specs

            specs = column_specs(estimator, floats)
        if input_specs:
            self.inputs = list(input_specs)
        elif specs is not None:
            self.inputs, self.columns = specs, True
        elif n is not None:
            self.inputs = [TensorSpec("X", ("batch", int(n)), _input_dtype(estimator, floats))]
        else:
            raise UsageError(f"{path}: the estimator does not record its feature count (not fitted?)",
                             hint="pass --input X:1,N")
        self.kind = kind(estimator)
        if self.kind == "unknown":
            raise UnsupportedError(f"{path}: {type(estimator).__name__} has no predict, transform or kneighbors: "
                                   "modelport cannot tell what to compare")
        self.outputs = list(OUTPUTS[self.kind])
        if self.kind == "classifier" and not hasattr(estimator, "predict_proba"):
            self.outputs = ["label", "probabilities"] if hasattr(estimator, "decision_function") else ["label"]
        if self.kind == "classifier" and type(estimator).__name__ in _SEQUENCE_PROBABILITIES:
            self.outputs = ["label"]  # probabilities come as a sequence of tensors, one per target: not compared

    @property
    def title(self) -> str:
        return type(self.estimator).__name__

    def inspect(self):
        from collections import Counter

        import numpy as np

        nodes = list(walk(self.estimator))
        params = 0
        for node in nodes:
            for attr, value in vars(node).items():
                if attr.endswith("_") and not attr.startswith("_") and isinstance(value, np.ndarray) \
                        and value.dtype.kind == "f":
                    params += value.size
        classes = getattr(self.estimator, "classes_", None)
        return {
            "estimator": type(self.estimator).__name__, "kind": self.kind,
            "operators": dict(Counter(type(n).__name__ for n in nodes).most_common()), "nodes": len(nodes),
            "parameters": int(params), "classes": None if classes is None else [c.item() if hasattr(c, "item")
                                                                                   else c for c in classes],
        }

    def input_rules(self):
        from modelport.frameworks.sklearn.rules import feature_rule

        if self.columns:
            from modelport.frameworks.sklearn.columns import column_rules

            return column_rules(self.estimator)
        spec = self.inputs[0]
        if len(self.inputs) != 1 or len(spec.shape) != 2 or not isinstance(spec.shape[1], int):
            return {}
        rule = feature_rule(self.estimator, spec.shape[1])
        return {spec.name: rule} if rule else {}

    def tie_rows(self, feed):
        from modelport.frameworks.sklearn.ties import neighbour_ties

        return neighbour_ties(self.estimator, self.features(feed))

    def taps(self):
        return sklearn_taps(self)

    def tap_values(self, feed, keys):
        return sklearn_tap_values(self, feed, keys)

    def features(self, feed):
        """What the estimator takes: the DataFrame it was fitted on, or the matrix in its fitted float dtype."""
        if self.columns:
            from modelport.frameworks.sklearn.columns import frame

            return frame(cast_feed(feed, self.inputs), self.inputs)
        (x,) = cast_feed(feed, self.inputs[:1])
        return x.astype(self.dtype, copy=False) if x.dtype.kind == "f" else x

    def run(self, feed):
        """The estimator on the rows as fitted: float inputs in the dtype of its fitted arrays (KMeans fitted on
        float64 refuses float32), sparse outputs densified, outputs laid out as skl2onnx writes them."""
        import numpy as np

        x = self.features(feed)
        est, kind_ = self.estimator, self.kind
        if kind_ == "classifier":
            out = {"label": np.asarray(est.predict(x))}
            if "probabilities" in self.outputs:
                if hasattr(est, "predict_proba"):
                    out["probabilities"] = np.asarray(est.predict_proba(x))
                else:
                    out["probabilities"] = _scores(est, np.asarray(est.decision_function(x)))
            return out
        if kind_ == "regressor":
            return {"variable": np.asarray(est.predict(x))}
        if kind_ == "mixture":
            return {"label": np.asarray(est.predict(x)), "probabilities": np.asarray(est.predict_proba(x))}
        if kind_ == "outlier":
            return {"label": np.asarray(est.predict(x)), "scores": np.asarray(est.decision_function(x))}
        if kind_ == "cluster":
            return {"label": np.asarray(est.predict(x)), "scores": _dense(est.transform(x))}
        if kind_ == "neighbors":
            distance, index = est.kneighbors(x)
            return {"index": np.asarray(index), "distance": np.asarray(distance)}
        return {"variable": _dense(est.transform(x))}


def _scores(est, scores):
    import numpy as np

    if scores.ndim != 1:
        return scores
    layout = _BINARY_SCORES.get(type(est).__name__, "-s,s")
    if layout == "s":
        return scores[:, None]
    return np.stack([scores, -scores] if layout == "s,-s" else [-scores, scores], 1)
