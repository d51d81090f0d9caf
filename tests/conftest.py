"""Shared fixtures: tiny real models built once per session, and CLI helpers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import builders
from tests.browser import browser  # noqa: F401  (a fixture: Chromium for the report page tests)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HAS = {name: importlib.util.find_spec(name) is not None
       for name in ("torch", "tensorflow", "sklearn", "tf2onnx", "transformers", "onnxruntime_genai")}


def needs(*frameworks: str):
    missing = [f for f in frameworks if not HAS.get(f)]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (pip install 'modelport[all]')")


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Build each tiny model on first use and cache its path for the session."""
    root = tmp_path_factory.mktemp("models")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            builder, filename = BUILD[name]
            cache[name] = builder(root / filename)
        return cache[name]

    return get


BUILD = {
    "cnn_pt2": (builders.torch_cnn_pt2, "cnn.pt2"),
    "transformer_pt2": (builders.transformer_pt2, "encoder.pt2"),
    "mlp_ts": (builders.torchscript_mlp, "mlp.ts"),
    "factory": (builders.torch_factory_file, "factories.py"),
    "torch_pickle": (builders.torch_pickle, "linear.pt"),
    "keras_seq": (builders.keras_sequential, "seq.keras"),
    "keras_seq_h5": (builders.keras_sequential, "seq.h5"),
    "keras_mimo": (builders.keras_multi_io, "mimo.keras"),
    "keras_lstm": (builders.keras_lstm, "lstm.keras"),
    "keras_subclassed": (builders.keras_subclassed, "two_layer.keras"),
    "keras_cnn": (builders.keras_cnn, "cnn.keras"),
    "keras_lstm_unrolled": (builders.keras_lstm_unrolled, "lstm_unrolled.keras"),
    "keras_lstm_float": (builders.keras_lstm_float, "lstm_float.keras"),
    "savedmodel": (builders.savedmodel_dict, "scorer_savedmodel"),
    "sk_pipeline": (builders.sklearn_pipeline, "pipeline.skops"),
    "sk_forest_regressor": (lambda p: builders.sklearn_model(p, "forest_regressor"), "forest_regressor.skops"),
    "sk_voting_soft": (lambda p: builders.sklearn_model(p, "voting_soft"), "voting_soft.skops"),
    "sk_isolation_forest": (lambda p: builders.sklearn_model(p, "isolation_forest"), "isolation_forest.skops"),
    "sk_kmeans": (lambda p: builders.sklearn_model(p, "kmeans"), "kmeans.skops"),
    "sk_pickle": (builders.sklearn_pickle, "lr.pkl"),
    "torch_iris": (builders.torch_iris_mlp, "iris_mlp.pt2"),
    "torch_iris_logits_untrained": (lambda p: builders.torch_iris_mlp(p, softmax=False, train=False),
                                    "iris_logits.pt2"),
    "keras_iris": (builders.keras_iris_mlp, "iris_mlp.keras"),
    "sk_scaler": (builders.sklearn_scaler, "scaler.skops"),
    "sk_binary": (builders.sklearn_binary, "binary.skops"),
    "sk_five": (builders.sklearn_five_features, "five.skops"),
    "digits_cnn": (builders.digits_cnn_onnx, "digits_cnn.onnx"),
    "digits_mlp": (builders.digits_mlp_onnx, "digits_mlp.onnx"),
    "digits_cnn_logits": (lambda p: builders.digits_cnn_onnx(p, logit_scale=10.0), "digits_cnn_logits.onnx"),
    "keras_digits": (builders.keras_digits_mlp, "digits_mlp.keras"),
}


@pytest.fixture(scope="session")
def served_files(models, tmp_path_factory):
    """Four verified files every serving engine is tested on (tests/served_models.py), built once."""
    from tests.served_models import build_files

    return build_files(models, tmp_path_factory.mktemp("served"))


def run_cli(*args: str, check_json: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run modelport as a user does: a new process, real exit code, separate stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "modelport", *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=600)


@pytest.fixture
def cli():
    """In-process CLI (fast: frameworks stay imported). Returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from modelport.cli.app import app

    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return invoke
