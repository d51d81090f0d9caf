"""TensorFlow, imported quietly, on the code paths that need it (Keras sources, the tf.lite fallback runtime)."""

from __future__ import annotations

import os
import sys

from modelport.core.errors import require
from modelport.core.logs import native_silenced


def tensorflow():
    """Import TensorFlow quietly (its C++ banner goes to fd 2) with the Keras TF backend."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if "keras" not in sys.modules:
            os.environ["KERAS_BACKEND"] = "tensorflow"
        with native_silenced():
            return require("tensorflow", "tensorflow", "read Keras and TensorFlow models")
    return sys.modules["tensorflow"]
