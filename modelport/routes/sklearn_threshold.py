"""Decision thresholds skl2onnx drops: TunedThresholdClassifierCV and FixedThresholdClassifier label by
`score >= threshold` (positive class) on `predict_proba`, but skl2onnx 1.20 converts TunedThresholdClassifierCV
as its inner classifier, labelling by argmax (0.5), and has no converter for FixedThresholdClassifier (it is
registered here with the same one: both hold the fitted inner classifier as `estimator_`). Measured: a
TunedThresholdClassifierCV on breast_cancer (threshold 0.82) got 4.9% of labels wrong. The graph's `label` is
recomputed from its own probabilities with the threshold.
"""

from __future__ import annotations

from modelport.core.errors import UnsupportedError

_THRESHOLDED = ("TunedThresholdClassifierCV", "FixedThresholdClassifier")


def _thresholded(est):
    if type(est).__name__ in _THRESHOLDED:
        return est
    steps = getattr(est, "steps", None)
    if steps and type(steps[-1][1]).__name__ in _THRESHOLDED:
        return steps[-1][1]
    return None


def register_fixed(est) -> None:
    """Let skl2onnx convert a FixedThresholdClassifier where `apply_threshold` will apply its threshold (the model,
    or a pipeline's last step) as it converts TunedThresholdClassifierCV. Anywhere else it stays unconverted
    (exit 3 naming it) rather than converted without its threshold."""
    node = _thresholded(est)
    if node is None or type(node).__name__ != "FixedThresholdClassifier":
        return
    fixed = type(node)
    from skl2onnx import update_registered_converter
    from skl2onnx.operator_converters.tuned_threshold_classifier import convert_sklearn_tuned_threshold_classifier
    from skl2onnx.shape_calculators.tuned_threshold_classifier import tuned_threshold_classifier_shape_calculator

    update_registered_converter(fixed, "SklearnFixedThresholdClassifier", tuned_threshold_classifier_shape_calculator,
                                convert_sklearn_tuned_threshold_classifier,
                                options={"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                                         "nocl": [True, False]})


def apply_threshold(proto, est) -> str | None:
    """Rewrite the `label` output of `proto` to apply the estimator's threshold; a note of what was done, or
    None when the estimator has none."""
    import numpy as np
    from onnx import helper, numpy_helper

    node = _thresholded(est)
    if node is None:
        return None
    threshold = getattr(node, "best_threshold_", None)
    if threshold is None:
        threshold = 0.5 if node.threshold == "auto" else node.threshold
    method = node.response_method
    if method not in ("auto", "predict_proba") or not hasattr(node.estimator_, "predict_proba"):
        raise UnsupportedError(f"{type(node).__name__}: a threshold on {method} scores cannot be expressed in the "
                              "ONNX graph skl2onnx writes (it outputs probabilities)",
                              hint="use response_method='predict_proba'")
    classes = node.classes_
    pos_label = getattr(node, "pos_label", None)
    pos_label = classes[-1] if pos_label is None else pos_label
    pos = int(np.flatnonzero(classes == pos_label)[0])
    graph = proto.graph
    producer = next(n for n in graph.node if "label" in n.output)
    producer.output[list(producer.output).index("label")] = "label_argmax"
    probs = next(o.name for o in graph.output if o.name != "label")
    values = np.asarray(classes)
    kind = values.dtype.kind
    values = values.astype(object if kind in "OUS" else np.int64)
    graph.initializer.extend([
        numpy_helper.from_array(np.asarray([pos], np.int64), "threshold_column"),
        numpy_helper.from_array(np.asarray([threshold], np.float64 if _double(graph, probs) else np.float32),
                                "threshold_value"),
        numpy_helper.from_array(np.asarray([values[pos]]), "threshold_positive"),
        numpy_helper.from_array(np.asarray([values[1 - pos]]), "threshold_negative"),
        numpy_helper.from_array(np.asarray([0], np.int64), "threshold_axis"),
    ])
    graph.node.extend([
        helper.make_node("Gather", [probs, "threshold_column"], ["threshold_score"], axis=1),
        helper.make_node("GreaterOrEqual", ["threshold_score", "threshold_value"], ["threshold_above"]),
        helper.make_node("Where", ["threshold_above", "threshold_positive", "threshold_negative"],
                         ["threshold_label"]),
        helper.make_node("Flatten", ["threshold_label"], ["threshold_flat"], axis=0),
        helper.make_node("Squeeze", ["threshold_flat", "threshold_axis"], ["label"]),
    ])
    return f"label recomputed with the decision threshold {threshold:.6g} skl2onnx drops"


def _double(graph, name: str) -> bool:
    from onnx import TensorProto

    out = next(o for o in graph.output if o.name == name)
    return out.type.tensor_type.elem_type == TensorProto.DOUBLE
