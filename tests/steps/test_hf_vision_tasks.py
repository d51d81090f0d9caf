"""Detection, segmentation and depth folders: every output matches transformers in ONNX Runtime at an image size
modelport did not use (where the architecture allows another), and a copy with one weight x1.01 fails."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs
from tests.hf_zoo import ZOO, save
from tests.steps.roundtrip import onnx_io, ort_run, round_trip

pytestmark = [pytest.mark.slow, needs("torch", "transformers")]


@pytest.mark.parametrize("name, outputs, own", [
    ("detr", ["logits", "pred_boxes", "last_hidden_state", "encoder_last_hidden_state"], 224),  # no size: 224
    ("segformer", ["logits"], 32),
    ("glpn", ["predicted_depth"], 32),
])
def test_vision_task_matches_transformers_and_a_changed_weight_fails(tmp_path, cli, name, outputs, own):
    """`own`: the folder's image size, where verification draws its images (and so where the broken weight must
    show: a cross-attention weight x1.01 moves DETR's logits beyond the tolerance at 48x48, not at 224x224)."""
    import torch

    folder = tmp_path / name
    model = save(name, folder)
    out = tmp_path / f"{name}.onnx"
    report = round_trip(folder, out)
    assert report.source["task"] == ZOO[name][3]
    assert onnx_io(out) == (["pixel_values"], outputs)
    rng = np.random.default_rng(8)
    pixels = rng.standard_normal((3, 3, 48, 48)).astype(np.float32)  # a size verification did not use
    got = ort_run(out, {"pixel_values": pixels})
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(pixels))
    for key in outputs:
        scale = float(np.abs(expected[key].numpy()).max())
        np.testing.assert_allclose(got[key], expected[key].numpy(), atol=1e-5 * max(scale, 1e-3), rtol=1e-3,
                                   err_msg=key)
    pixels = rng.standard_normal((4, 3, own, own)).astype(np.float32)
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(pixels))
    weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() >= 2]
    for weight in weights[len(weights) // 2:]:  # from the middle on: the first whose x1.01 shows in transformers
        with torch.no_grad():
            weight.mul_(1.01)
            changed = model(pixel_values=torch.from_numpy(pixels))
        if any(not np.allclose(changed[k].numpy(), expected[k].numpy(), atol=1e-4, rtol=1e-3) for k in outputs):
            break  # beyond the default tolerance: a verifier must see it
        with torch.no_grad():
            weight.div_(1.01)
    else:
        raise AssertionError("no weight's x1.01 moves an output beyond the tolerance")
    model.save_pretrained(str(tmp_path / "broken"))
    code, _, err = cli("verify", tmp_path / "broken", out)  # the faithful file against the changed copy
    assert code == 1, err
