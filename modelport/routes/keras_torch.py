"""Keras 3 -> ONNX without TensorFlow: load the .keras file under Keras's torch backend (in a child
process, since the backend is fixed at import) and export with the dynamo exporter.

RECIPES: this converts ConvNeXt, which no tf2onnx route does, and Sequential LSTM/GRU models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelport.core.formats import Format
from modelport.core.registry import Step, StepOptions

CHILD = "modelport.routes.keras_torch_child"


class KerasTorchBackend(Step, name="keras-torch-dynamo", source=(Format.KERAS,), target=Format.ONNX, extra="torch",
                        requires=("torch", "onnxscript", "keras"), order=40,
                        description="Keras torch backend (child process) + torch.onnx dynamo exporter; no TensorFlow "
                                    "needed"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        job = {
            "model": str(source.path),
            "out": str(out),
            "inputs": [s.to_dict() for s in source.inputs],
            "outputs": list(source.outputs),
            "opset": options.opset,
            "imports": list(options.imports),
        }
        env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, "-m", CHILD], input=json.dumps(job), capture_output=True,
                              text=True, env=env, timeout=3600)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            reason = next((ln for ln in reversed(lines) if ln.startswith("MODELPORT_ERROR ")), None)
            raise RuntimeError(reason[len("MODELPORT_ERROR "):] if reason else (lines[-1] if lines else "failed"))
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
        return {"converter": f"torch {facts['torch']} (dynamo exporter) on keras {facts['keras']} torch backend"}
