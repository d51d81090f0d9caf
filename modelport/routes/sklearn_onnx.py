"""scikit-learn -> ONNX through skl2onnx, with the RECIPES workarounds applied to a copy.

- No ZipMap: classifiers give a plain probability array (`label`, `probabilities`).
- float32 inputs (float64 fails in ORT for several tree models).
- VotingClassifier(soft) needs flatten_transform=False and numpy weights; IsolationForest ai.onnx.ml 3.
"""

from __future__ import annotations

import copy
from pathlib import Path

from modelport.core.formats import Format
from modelport.core.registry import Step, StepOptions
from modelport.loaders.sklearn import walk

DEFAULT_OPSET = 17


def _needs_patch(node) -> bool:
    from sklearn.ensemble import VotingClassifier

    return isinstance(node, VotingClassifier) and node.voting == "soft"


def _patched(estimator):
    """The estimator with the known skl2onnx workarounds applied to a deep copy (the user's object is never
    touched); the estimator itself when nothing needs patching, so large forests are not copied."""
    import numpy as np

    if not any(_needs_patch(node) for node in walk(estimator)):
        return estimator
    est = copy.deepcopy(estimator)
    for node in walk(est):
        if _needs_patch(node):
            node.flatten_transform = False
            if node.weights is not None:
                node.weights = np.asarray(node.weights, dtype=np.float64)
    return est


def _classifiers(est) -> list:
    """Every classifier in the tree whose zipmap option must be switched off."""
    from sklearn.base import is_classifier

    found, stack = [], [est]
    while stack:
        node = stack.pop()
        if is_classifier(node):
            found.append(node)
        for attr in ("steps",):
            for _, child in getattr(node, attr, None) or []:
                stack.append(child)
    return found


class Skl2Onnx(Step, name="sklearn-skl2onnx", source=(Format.SKLEARN_SKOPS, Format.SKLEARN_PICKLE),
               target=Format.ONNX, extra="sklearn", requires=("sklearn", "skl2onnx"), order=10,
               description="skl2onnx.convert_sklearn, float32 inputs, no ZipMap"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import skl2onnx
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import (
            DoubleTensorType,
            FloatTensorType,
            Int64TensorType,
        )

        from modelport.core.logs import quiet

        types = {"float32": FloatTensorType, "float64": DoubleTensorType, "int64": Int64TensorType}
        est = _patched(source.estimator)
        initial = []
        for spec in source.inputs:
            dims = [d if isinstance(d, int) else None for d in spec.shape]
            initial.append((spec.name, types.get(spec.dtype, FloatTensorType)(dims)))
        opts = {id(c): {"zipmap": False} for c in _classifiers(est)}
        opset = {"": options.opset or DEFAULT_OPSET, "ai.onnx.ml": 3}
        with quiet("skl2onnx"):
            proto = convert_sklearn(est, initial_types=initial, options=opts or None, target_opset=opset)
        import onnx

        onnx.save(proto, str(out))
        return {"converter": f"skl2onnx {skl2onnx.__version__}"}
