"""scikit-learn estimators from .skops files (safe loading) or pickles (--trust only)."""

from __future__ import annotations

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UnsafeError, UsageError, require
from modelport.core.formats import Format
from modelport.core.model import Model, cast_feed
from modelport.loaders.sklearn_taps import sklearn_tap_values, sklearn_taps

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
        raise UsageError(f"{path}: cannot read .skops file ({type(exc).__name__}: {exc})",
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
        raise UsageError(f"{path}: cannot load .skops file ({type(exc).__name__}: {exc})") from exc


def _load_pickle(path):
    import pickle

    try:
        import joblib
    except ImportError:
        joblib = None
    try:
        if joblib is not None:
            return joblib.load(str(path))
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception as exc:
        raise UsageError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from exc


def walk(estimator):
    """Every estimator nested in pipelines, column transformers and ensembles."""
    stack = [estimator]
    while stack:
        node = stack.pop()
        yield node
        for attr in ("steps", "transformers_", "estimators_", "named_estimators_"):
            children = getattr(node, attr, None)
            if isinstance(children, dict):
                stack.extend(children.values())
            elif isinstance(children, list):
                stack.extend(c[1] if isinstance(c, tuple) else c for c in children)
        if hasattr(node, "estimator_"):
            stack.append(node.estimator_)


def kind(estimator) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    if is_regressor(estimator):
        return "regressor"
    if hasattr(estimator, "predict") and hasattr(estimator, "score_samples"):
        return "outlier"
    if hasattr(estimator, "predict") and hasattr(estimator, "transform"):
        return "cluster"
    if hasattr(estimator, "transform"):
        return "transformer"
    return "unknown"


class SklearnModel(Model):
    def __init__(self, path, fmt: Format, estimator, input_specs: list[TensorSpec], version: str) -> None:
        self.path, self.format, self.estimator = path, fmt, estimator
        self.framework_version = f"scikit-learn {version}"
        n = getattr(estimator, "n_features_in_", None)
        if input_specs:
            self.inputs = list(input_specs)
        elif n is not None:
            self.inputs = [TensorSpec("X", ("batch", int(n)), "float32")]
        else:
            raise UsageError(f"{path}: the estimator does not record its feature count (not fitted?)",
                             hint="pass --input X:1,N")
        self.kind = kind(estimator)
        self.outputs = {
            "classifier": ["label", "probabilities"],
            "regressor": ["variable"],
            "outlier": ["label", "scores"],
            "cluster": ["label", "scores"],
            "transformer": ["variable"],
        }.get(self.kind, ["variable"])
        if self.kind == "classifier" and not hasattr(estimator, "predict_proba"):
            self.outputs = ["label", "probabilities"] if hasattr(estimator, "decision_function") else ["label"]

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
        from modelport.loaders.sklearn_rules import feature_rule

        spec = self.inputs[0]
        if len(self.inputs) != 1 or len(spec.shape) != 2 or not isinstance(spec.shape[1], int):
            return {}
        rule = feature_rule(self.estimator, spec.shape[1])
        return {spec.name: rule} if rule else {}

    def taps(self):
        return sklearn_taps(self)

    def tap_values(self, feed, keys):
        return sklearn_tap_values(self, feed, keys)

    def run(self, feed):
        import numpy as np

        (x,) = cast_feed(feed, self.inputs[:1])
        est = self.estimator
        if self.kind == "classifier":
            out = {"label": np.asarray(est.predict(x))}
            if "probabilities" in self.outputs:
                if hasattr(est, "predict_proba"):
                    out["probabilities"] = np.asarray(est.predict_proba(x))
                else:
                    scores = np.asarray(est.decision_function(x))
                    out["probabilities"] = np.stack([-scores, scores], 1) if scores.ndim == 1 else scores
            return out
        if self.kind == "regressor":
            return {"variable": np.asarray(est.predict(x))}
        if self.kind == "outlier":
            return {"label": np.asarray(est.predict(x)), "scores": np.asarray(est.decision_function(x))}
        if self.kind == "cluster":
            return {"label": np.asarray(est.predict(x)), "scores": np.asarray(est.transform(x))}
        return {"variable": np.asarray(est.transform(x))}
