"""Where a fitted scikit-learn model's input features lie, read from the estimator itself.

The first step's statistics give each feature's distribution (a scaler's mean_/scale_ or data_min_/data_max_,
a tree ensemble's split thresholds, cluster centres, class means). Split thresholds of tree models (after any
leading affine scalers, mapped back to raw feature units) are also probed: generated rows are placed just
either side of them, where a moved threshold changes the output and where float32 and float64 code disagree.
"""

from __future__ import annotations

import numpy as np

from modelport.core.model import InputRule

TREE_ROWS = 512  # tree models are cheap to run: many rows cover many paths
ROWS = 256


def _steps(estimator) -> list:
    steps = getattr(estimator, "steps", None)
    return [s for _, s in steps if s not in (None, "passthrough")] if steps else [estimator]


def _affine(step, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(a, b) with step(x) = a * x + b for the per-feature scalers, else None."""
    name = type(step).__name__
    one, zero = np.ones(n), np.zeros(n)
    if name == "StandardScaler":
        scale = step.scale_ if step.scale_ is not None else one
        mean = step.mean_ if step.mean_ is not None else zero
        return 1 / scale, -mean / scale
    if name == "MinMaxScaler":
        return step.scale_, step.min_
    if name == "RobustScaler":
        scale = step.scale_ if step.scale_ is not None else one
        center = step.center_ if step.center_ is not None else zero
        return 1 / scale, -center / scale
    if name == "MaxAbsScaler":
        return 1 / step.scale_, zero
    return None


def _tree_splits(tree, features: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    t = tree.tree_
    split = t.feature >= 0
    return (t.feature[split] if features is None else np.asarray(features)[t.feature[split]]), t.threshold[split]


def _lightgbm_splits(dump: dict) -> tuple[np.ndarray, np.ndarray]:
    """(feature, threshold) of every numerical split in a LightGBM model's JSON dump."""
    feature, threshold = [], []
    stack = [tree["tree_structure"] for tree in dump.get("tree_info", [])]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            if node.get("decision_type", "<=") in ("<=", "<", ">", ">="):
                feature.append(int(node["split_feature"]))
                threshold.append(float(node["threshold"]))
            stack.extend(node[k] for k in ("left_child", "right_child") if k in node)
    return np.asarray(feature, np.int64), np.asarray(threshold, np.float64)


def thresholds(est, n: int) -> list[np.ndarray] | None:
    """Split thresholds per input feature of a tree model (forests, boosting, bagging, voting over trees),
    each feature's sorted and without repeats."""
    splits: list[tuple[np.ndarray, np.ndarray]] = []  # (feature index, threshold) arrays
    stack = [(est, None)]
    while stack:
        node, features = stack.pop()
        if hasattr(node, "tree_"):
            splits.append(_tree_splits(node, features))
        elif type(node).__module__.startswith("lightgbm") and hasattr(node, "booster_"):
            splits.append(_lightgbm_splits(node.booster_.dump_model()))
        elif hasattr(node, "_predictors"):  # HistGradientBoosting: its own tree nodes, thresholds in raw units
            for predictors in node._predictors:
                for predictor in predictors:
                    nodes = predictor.nodes[predictor.nodes["is_leaf"] == 0]
                    splits.append((nodes["feature_idx"], nodes["num_threshold"]))
        else:
            children = getattr(node, "estimators_", None)
            subsets = getattr(node, "estimators_features_", None)
            if children is None and hasattr(node, "named_estimators_"):
                children = list(node.named_estimators_.values())
            if children is None:
                continue
            flat = list(np.asarray(children, dtype=object).ravel())
            for i, child in enumerate(flat):
                sub = subsets[i] if subsets is not None and len(subsets) == len(flat) else None
                stack.append((child, sub if features is None or sub is None else features[sub]))
    if not splits:
        return None
    feature = np.concatenate([f for f, _ in splits]).astype(np.int64)
    threshold = np.concatenate([t for _, t in splits]).astype(np.float64)
    order = np.lexsort((threshold, feature))
    feature, threshold = feature[order], threshold[order]
    keep = np.ones(len(feature), bool)
    keep[1:] = (feature[1:] != feature[:-1]) | (threshold[1:] != threshold[:-1])
    feature, threshold = feature[keep], threshold[keep]
    bounds = np.searchsorted(feature, np.arange(n + 1))
    merged = [threshold[bounds[j]:bounds[j + 1]] for j in range(n)]
    return merged if len(threshold) else None


def _range_rule(lo: np.ndarray, hi: np.ndarray, source: str, points=None, rows: int = ROWS) -> InputRule:
    width = hi - lo
    pad = np.where(width > 0, 0.1 * width, np.maximum(np.abs(lo) * 0.5, 1.0))
    return InputRule(source, low=(lo - pad).tolist(), high=(hi + pad).tolist(), thresholds=points, rows=rows)


def _first_step_rule(first, n: int) -> InputRule | None:
    name = type(first).__name__
    for attr, what in (("_fit_X", "training rows"), ("X_fit_", "training rows"), ("X_train_", "training rows"),
                       ("support_vectors_", "support vectors")):
        if attr == "support_vectors_" and hasattr(first, "score_samples"):
            continue  # a one-class SVM's support vectors lie on its decision boundary: labels there are ties
        rows = getattr(first, attr, None)
        if isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.shape[1] == n and len(rows):
            return InputRule(f"{name} {what}: rows drawn from the {len(rows)} it keeps", examples=rows, rows=ROWS)
    categories = getattr(first, "categories_", None)
    if categories is not None and len(categories) == n and all(np.asarray(c).dtype.kind in "iuf" for c in categories):
        return InputRule(f"{name} categories: each feature drawn from its fitted categories",
                         choices=[np.asarray(c, dtype=np.float64) for c in categories], rows=ROWS)
    counts = getattr(first, "n_categories_", None)  # CategoricalNB
    if counts is not None and len(counts) == n:
        return InputRule(f"{name} categories: integers in [0, n_categories_) per feature",
                         choices=[np.arange(int(c), dtype=np.float64) for c in counts], rows=ROWS)
    if name == "StandardScaler" and first.mean_ is not None:
        std = first.scale_ if first.scale_ is not None else np.ones(n)
        return InputRule(f"{name} statistics: N(mean_, scale_) per feature", mean=first.mean_.tolist(),
                         std=std.tolist(), rows=ROWS)
    if name == "MinMaxScaler":
        return InputRule(f"{name} statistics: uniform [data_min_, data_max_] per feature",
                         low=first.data_min_.tolist(), high=first.data_max_.tolist(), rows=ROWS)
    if name == "RobustScaler" and first.center_ is not None:
        scale = first.scale_ if first.scale_ is not None else np.ones(n)
        return InputRule(f"{name} statistics: N(center_, scale_/1.35) per feature", mean=first.center_.tolist(),
                         std=(scale / 1.349).tolist(), rows=ROWS)
    if name == "MaxAbsScaler":
        return InputRule(f"{name} statistics: uniform [-max_abs_, max_abs_] per feature",
                         low=(-first.max_abs_).tolist(), high=first.max_abs_.tolist(), rows=ROWS)
    quantiles = getattr(first, "quantiles_", None)  # QuantileTransformer
    if isinstance(quantiles, np.ndarray) and quantiles.ndim == 2 and quantiles.shape[1] == n:
        # the quantiles are values of the training data: where a feature repeats one, the transform averages
        # two interpolations, and a float32 copy of the value lands on one side
        return InputRule(f"{name} quantiles: each feature drawn from its {len(quantiles)} quantile values",
                         choices=[np.unique(quantiles[:, j]) for j in range(n)], rows=ROWS)
    edges = getattr(first, "bin_edges_", None)  # KBinsDiscretizer
    if edges is not None and len(edges) == n:
        low, high = (np.asarray([e[k] for e in edges], np.float64) for k in (0, -1))
        return _range_rule(low, high, f"{name} bin edges: uniform over their range")
    counts = getattr(first, "feature_count_", None)  # multinomial / complement naive Bayes: counts per class
    totals = getattr(first, "class_count_", None)
    if isinstance(counts, np.ndarray) and counts.ndim == 2 and counts.shape[1] == n and totals is not None:
        high = 2 * (counts / np.maximum(np.asarray(totals, np.float64)[:, None], 1)).max(0)
        return InputRule(f"{name} feature counts: uniform [0, twice the largest class-mean count]",
                         low=[0.0] * n, high=np.maximum(high, 1e-3).tolist(), rows=ROWS)
    centers = getattr(first, "cluster_centers_", None)
    if centers is None:
        centers = getattr(first, "means_", None)  # discriminant analysis, mixtures: class / component means
    if centers is None:
        centers = getattr(first, "theta_", None)  # GaussianNB
    if centers is not None and np.ndim(centers) == 2 and np.shape(centers)[1] == n:
        c = np.asarray(centers, dtype=np.float64)
        return _range_rule(c.min(0) - c.std(0), c.max(0) + c.std(0), f"{name} centres/means: uniform around them")
    return None


# meta-estimators whose first fitted inner estimator sees the raw features: what it says about them holds
_WRAPPERS = {"TunedThresholdClassifierCV": "estimator_", "FixedThresholdClassifier": "estimator_",
             "GridSearchCV": "best_estimator_", "RandomizedSearchCV": "best_estimator_",
             "HalvingGridSearchCV": "best_estimator_", "HalvingRandomSearchCV": "best_estimator_",
             "MultiOutputClassifier": "estimators_", "MultiOutputRegressor": "estimators_",
             "OneVsRestClassifier": "estimators_", "OneVsOneClassifier": "estimators_",
             "ClassifierChain": "estimators_", "RegressorChain": "estimators_"}


def _inner(estimator):
    """The estimator a meta-estimator wraps (a tuned threshold, a search, one model per target or class)."""
    attr = _WRAPPERS.get(type(estimator).__name__)
    inner = getattr(estimator, attr, None) if attr else None
    if isinstance(inner, list):
        inner = inner[0] if inner else None
    return estimator if inner is None else _inner(inner)


def feature_rule(estimator, n: int) -> InputRule | None:
    """The rule for a 2-D (rows, n features) input, or None when the estimator says nothing useful."""
    steps = _steps(_inner(estimator))
    rule = _first_step_rule(steps[0], n)
    a, b = np.ones(n), np.zeros(n)
    points, source = None, None
    for step in steps:
        found = thresholds(step, n)
        if found is not None:  # in this step's input units: x_step = a * x_raw + b, so x_raw = (t - b) / a
            points = [np.sort((ts - b[j]) / a[j]) if a[j] else np.zeros(0) for j, ts in enumerate(found)]
            source = f"{type(step).__name__} split thresholds"
            break
        affine = _affine(step, n)
        if affine is None:
            break
        a, b = a * affine[0], b * affine[0] + affine[1]
    if points is None:
        return rule
    count = sum(len(p) for p in points)
    if rule is None:
        lo = np.asarray([p[0] if len(p) else -1.0 for p in points])
        hi = np.asarray([p[-1] if len(p) else 1.0 for p in points])
        return _range_rule(lo, hi, f"{source}: uniform over their range, + rows either side of {count} "
                                   "thresholds", [p.tolist() for p in points], TREE_ROWS)
    rule.thresholds = [p.tolist() for p in points]
    rule.source += f", + rows either side of {count} {source}"
    rule.rows = TREE_ROWS
    return rule
