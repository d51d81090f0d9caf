"""Third-party estimators with a scikit-learn API (LightGBM) converted through skl2onnx by registering
onnxmltools' converters for them, as skl2onnx documents. Registered once, only when such an estimator is in the
model; without onnxmltools the conversion exits 5 with the install line.
"""

from __future__ import annotations

from modelport.core.errors import MissingDependency

_done: set[str] = set()


def register(estimator) -> None:
    from modelport.frameworks.sklearn.estimators import walk

    packages = {type(node).__module__.split(".")[0] for node in walk(estimator)}
    if "lightgbm" in packages and "lightgbm" not in _done:
        _lightgbm()
        _done.add("lightgbm")


def _lightgbm() -> None:
    try:
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        raise MissingDependency("onnxmltools", "sklearn", "convert LightGBM models") from None
    from lightgbm import LGBMClassifier, LGBMRegressor
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                convert_lightgbm, options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
    update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
                                convert_lightgbm, options={"split": None})
