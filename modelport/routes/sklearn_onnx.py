"""scikit-learn -> ONNX through skl2onnx: float32 first, then float64 when float32 does not verify.

- Options from what each converter accepts (`get_allowed_options`): `zipmap=False` wherever a converter takes
  it (a plain probability array, outputs `label`, `probabilities`), nothing where it does not (LinearSVC, RFE).
- Known skl2onnx limits worked around on a copy (the user's object is never touched, nothing is copied when
  nothing needs it): soft VotingClassifier (flatten_transform=False, numpy weights), KBinsDiscretizer
  onehot -> onehot-dense, RandomTreesEmbedding sparse_output=False, NearestNeighbors radius unset (kneighbors
  does not use it). Outputs are the same numbers, dense.
- TunedThresholdClassifierCV / FixedThresholdClassifier: skl2onnx labels by argmax, ignoring the tuned
  threshold; the label output is rewritten to apply it (`sklearn_threshold.py`).
- Opset 18 (KNNImputer's converter needs it), ai.onnx.ml 3 (IsolationForest).
"""

from __future__ import annotations

import copy
from pathlib import Path

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format
from modelport.core.onnx_files import save_onnx
from modelport.core.registry import Step, StepOptions
from modelport.frameworks.sklearn.estimators import walk

DEFAULT_OPSET = 18


def _fix(node, apply: bool) -> bool:
    """Whether `node` needs a workaround; with `apply`, apply it (to a copy)."""
    import numpy as np

    name = type(node).__name__
    if name == "VotingClassifier" and node.voting == "soft":
        if apply:
            node.flatten_transform = False
            if node.weights is not None:
                node.weights = np.asarray(node.weights, dtype=np.float64)
        return True
    if name == "KBinsDiscretizer" and node.encode == "onehot":
        if apply:
            node.encode = "onehot-dense"
        return True
    if name == "RandomTreesEmbedding" and node.sparse_output:
        if apply:
            node.sparse_output = False
            node.one_hot_encoder_.sparse_output = False
        return True
    if name == "NearestNeighbors" and node.radius is not None:
        if apply:
            node.radius = None
        return True
    return False


def patched(estimator):
    """The estimator with the known skl2onnx workarounds applied to a deep copy; itself when none apply."""
    if not any(_fix(node, False) for node in walk(estimator)):
        return estimator
    est = copy.deepcopy(estimator)
    for node in walk(est):
        _fix(node, True)
    return est


def converter_options(est) -> dict:
    """`zipmap=False` for every estimator whose skl2onnx converter accepts the option."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    opts = {}
    for node in walk(est):
        alias = sklearn_operator_name_map.get(type(node))
        if alias is None or hasattr(node, "steps"):  # a pipeline passes its options on to its last step
            continue
        try:
            allowed = get_converter(alias).get_allowed_options() or {}
        except (ValueError, KeyError, AttributeError):
            continue
        if "zipmap" in allowed:
            opts[id(node)] = {"zipmap": False}
    return opts


def convert(source, out: Path, options: StepOptions, precision: str) -> dict:
    import skl2onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType
    from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator

    from modelport.core.logs import quiet
    from modelport.routes.sklearn_third_party import register
    from modelport.routes.sklearn_threshold import apply_threshold, register_fixed

    floats = DoubleTensorType if precision == "float64" else FloatTensorType
    types = {"float32": floats, "float64": floats, "int64": Int64TensorType, "str": StringTensorType}
    est = patched(source.estimator)
    initial = []
    for spec in source.inputs:
        dims = [d if isinstance(d, int) else None for d in spec.shape]
        initial.append((spec.name, types.get(spec.dtype, floats)(dims)))
    opset = {"": options.opset or DEFAULT_OPSET, "ai.onnx.ml": 3}
    register(est)
    register_fixed(est)
    try:
        with quiet("skl2onnx"):
            proto = convert_sklearn(est, initial_types=initial, options=converter_options(est) or None,
                                    target_opset=opset, name=type(est).__name__)  # not a random uuid: same bytes
    except (MissingConverter, MissingShapeCalculator) as exc:
        unknown = next((n for n in walk(est) if type(n).__name__ in str(exc)), est)
        kind = type(unknown)
        raise UnsupportedError(f"skl2onnx has no converter for {kind.__module__}.{kind.__name__}",
                               hint="see skl2onnx's 'register your own converter' guide") from exc
    facts = {"converter": f"skl2onnx {skl2onnx.__version__}", "precision": precision}
    note = apply_threshold(proto, est)
    if note:
        facts["fixed"] = note
    save_onnx(proto, out)
    return facts


class Skl2Onnx(Step, name="sklearn-skl2onnx", source=(Format.SKLEARN_SKOPS, Format.SKLEARN_PICKLE),
               target=Format.ONNX, extra="sklearn", requires=("sklearn", "skl2onnx"), order=10,
               description="skl2onnx.convert_sklearn, float32 inputs, no ZipMap"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        return convert(source, out, options, "float32")


class Skl2OnnxDouble(Step, name="sklearn-skl2onnx-float64", source=(Format.SKLEARN_SKOPS, Format.SKLEARN_PICKLE),
                     target=Format.ONNX, extra="sklearn", requires=("sklearn", "skl2onnx"), order=20,
                     description="skl2onnx with float64 inputs declared (double-precision graph), when float32 "
                                 "does not verify"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        return convert(source, out, options, "float64")
