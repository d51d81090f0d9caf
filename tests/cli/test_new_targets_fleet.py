"""OpenVINO IR and ExecuTorch in a fleet: a batch manifest with both targets (and an ov-fp16 compression) writes
verified files, `--register` stores `.xml` + `.bin` and `.pte` as artifacts with their provenance tags, and a
registered version runs as the written file does (checked with OpenVINO and executorch.runtime directly)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs, run_cli

pytestmark = [pytest.mark.slow, needs("torch"),
              pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("mlflow", "openvino", "executorch")),
                                 reason="needs modelport[mlflow,openvino,executorch]")]


def test_batch_writes_and_registers_openvino_and_executorch(tmp_path, models, monkeypatch):
    import shutil
    import sys

    import mlflow
    import torch
    from executorch.runtime import Runtime
    from mlflow import MlflowClient

    sys.modules.setdefault("openvino_telemetry", None)
    import openvino as ov

    from tests.builders import iris

    monkeypatch.chdir(tmp_path)
    shutil.copyfile(models("torch_iris"), tmp_path / "iris.pt2")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "m.yaml").write_text("jobs:\n  - {source: iris.pt2, to: [openvino, executorch], output: out/,\n"
                                     "     compress: {openvino: ov-fp16}, tags: {team: edge}}\n")
    done = run_cli("batch", tmp_path / "m.yaml", "--register", "--json", "-", "-q", env={"MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 0, done.stderr
    jobs = {j["target"]: j for j in json.loads(done.stdout)["jobs"]}
    assert set(jobs) == {"openvino", "executorch"}
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"iris.xml", "iris.bin", "iris.pte", "iris.ov-fp16.xml",
                                               "iris.ov-fp16.bin"}
    assert jobs["openvino"]["registered"]["uri"] == "models:/iris-openvino/1"
    assert jobs["executorch"]["registered"]["uri"] == "models:/iris-executorch/1"

    client = MlflowClient(uri, uri)
    x = iris()[0][:5].astype(np.float32)
    want = torch.export.load(str(tmp_path / "iris.pt2")).module()(torch.from_numpy(x)).detach().numpy()
    for name, files in (("iris-openvino", ["iris.bin", "iris.xml"]), ("iris-executorch", ["iris.pte"])):
        version = client.get_model_version(name, "1")
        assert version.tags["modelport.verification"] == "passed" and version.tags["team"] == "edge"
        assert version.tags["modelport.route"] in ("torch-openvino", "torch-executorch")
        folder = Path(mlflow.artifacts.download_artifacts(version.source, dst_path=str(tmp_path / name)))
        assert sorted(p.name for p in folder.iterdir()) == files
        if name == "iris-openvino":
            compiled = ov.Core().compile_model(str(folder / "iris.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            got = compiled(x)[compiled.outputs[0]]
        else:
            method = Runtime.get().load_program(str(folder / "iris.pte")).load_method("forward")
            got = method.execute([torch.from_numpy(x)])[0].numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    verified = run_cli("verify", tmp_path / "iris.pt2", "models:/iris-executorch/1", env={"MLFLOW_TRACKING_URI": uri})
    assert verified.returncode == 0, verified.stderr
