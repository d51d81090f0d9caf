"""Hugging Face folders to OpenVINO IR (a text encoder with a padded attention mask) and ExecuTorch (a vision model),
each file run directly (OpenVINO at f32, executorch.runtime) equals transformers; a program lowered from a copy of
the folder with one weight x1.01 fails `verify` against the original (exit 1)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from tests.builders import scale_ir_weight
from tests.conftest import needs
from tests.hf_zoo import ZOO, build

pytestmark = [pytest.mark.slow, needs("torch", "transformers")]


def _feed(name: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    if name == "vit":
        return {"pixel_values": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}
    mask = np.ones((2, 12), np.int64)
    mask[1, 8:] = 0
    return {"input_ids": rng.integers(0, 99, (2, 12)), "attention_mask": mask,
            "token_type_ids": rng.integers(0, 2, (2, 12))}


def _expected(folder, name: str, feed: dict) -> np.ndarray:
    import torch
    import transformers

    model = getattr(transformers, ZOO[name][1]).from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()


def _folder(tmp_path, name: str, scale: float = 1.0):
    import torch

    model = build(name)
    if scale != 1.0:
        weight = max((p for p in model.parameters()), key=lambda p: p.numel())
        with torch.no_grad():
            weight.mul_(scale)
    folder = tmp_path / f"{name}{'-bad' if scale != 1.0 else ''}"
    model.save_pretrained(str(folder))
    return folder


@pytest.mark.skipif(importlib.util.find_spec("executorch") is None, reason="needs modelport[executorch]")
@pytest.mark.parametrize("name", ["vit"])  # the text encoder (bert) passes too; one family member keeps CI short
def test_folder_to_executorch(tmp_path, cli, name):
    import torch
    from executorch.runtime import Runtime

    folder = _folder(tmp_path, name)
    out = tmp_path / f"{name}.pte"
    code, _, err = cli("convert", folder, "-o", out)
    assert code == 0, err
    program = Runtime.get().load_program(str(out))
    names = [s["name"] for s in json.loads(program.load_method("modelport_io").execute([])[0])["inputs"]]
    feed = _feed(name)
    got = program.load_method("forward").execute([torch.from_numpy(feed[n]) for n in names])
    np.testing.assert_allclose(got[0].numpy(), _expected(folder, name, feed), atol=1e-4, rtol=1e-3)
    bad = tmp_path / f"{name}-bad.pte"
    code, _, err = cli("convert", _folder(tmp_path, name, 1.01), "-o", bad, "--no-verify")
    assert code == 0, err
    code, _, err = cli("verify", folder, bad)
    assert code == 1, err


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs modelport[openvino]")
@pytest.mark.parametrize("name", ["bert"])  # vit passes too (and through the sweep)
def test_folder_to_openvino(tmp_path, cli, name):
    import sys

    sys.modules.setdefault("openvino_telemetry", None)
    import openvino as ov

    folder = _folder(tmp_path, name)
    out = tmp_path / f"{name}.xml"
    code, _, err = cli("convert", folder, "-o", out)
    assert code == 0, err
    compiled = ov.Core().compile_model(str(out), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    feed = _feed(name)
    got = compiled({p.get_any_name(): feed[p.get_any_name()] for p in compiled.inputs})
    logits = next(got[p] for p in compiled.outputs if "logits" in p.get_names())
    np.testing.assert_allclose(logits, _expected(folder, name, feed), atol=1e-4, rtol=1e-3)
    bad = tmp_path / f"{name}-bad.xml"
    scale_ir_weight(out, bad)
    code, _, err = cli("verify", folder, bad)
    assert code == 1, err
