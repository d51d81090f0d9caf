"""CLIP-style dual encoders and sentence-transformers folders: embeddings with Hugging Face's names.

Expected numbers come from transformers, sentence_transformers or NumPy on inputs these tests draw, run in ONNX
Runtime directly; each faithful export passes and a copy with one weight x1.01 fails."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs
from tests.hf_zoo import save, save_sentence_transformer
from tests.steps.roundtrip import onnx_io, ort_run, round_trip

pytestmark = [pytest.mark.slow, needs("torch", "transformers")]


def scaled_copy(model, folder, part: str) -> None:
    """save_pretrained of `model` with one 2-D weight of `part` (in the middle of the network) x1.01."""
    import torch

    with torch.no_grad():
        weights = [p for n, p in model.named_parameters() if part in n and n.endswith("weight") and p.dim() == 2]
        weights[len(weights) // 2].mul_(1.01)
    model.save_pretrained(str(folder))


def test_clip_scores_one_image_against_several_texts_and_exports_a_tower(tmp_path, cli):
    import torch

    folder = tmp_path / "clip"
    model = save("clip", folder)
    out = tmp_path / "clip.onnx"
    report = round_trip(folder, out)
    assert report.source["task"] == "zero-shot-image-classification"
    assert "end-of-sequence id 3" in report.verification.inputs_from["input_ids"]
    assert onnx_io(out) == (["input_ids", "attention_mask", "pixel_values"],
                            ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"])
    rng = np.random.default_rng(3)
    ids = rng.integers(4, 99, (5, 9)).astype(np.int64)
    ids[:, -1] = 3
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
            "pixel_values": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)}  # one image, five labels
    got = ort_run(out, feed)
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in feed.items()})
    assert got["logits_per_image"].shape == (1, 5)
    for key in got:
        np.testing.assert_allclose(got[key], expected[key].numpy(), atol=1e-4, rtol=1e-3, err_msg=key)
    assert len(set(got["logits_per_image"][0].round(3))) == 5  # the labels score apart
    tower = tmp_path / "vision.onnx"
    code, _, err = cli("convert", folder, "--task", "zero-shot-image-classification:vision", "-o", tower, "-q")
    assert code == 0, err
    assert onnx_io(tower) == (["pixel_values"], ["image_embeds"])
    with torch.no_grad():  # the tower's projection, not normalised (as CLIPVisionModelWithProjection returns it)
        features = model.get_image_features(pixel_values=torch.from_numpy(feed["pixel_values"]))
    np.testing.assert_allclose(ort_run(tower, {"pixel_values": feed["pixel_values"]})["image_embeds"],
                               getattr(features, "pooler_output", features).numpy(), atol=1e-4, rtol=1e-3)
    scaled_copy(model, tmp_path / "broken", "text_model")
    code, _, err = cli("verify", tmp_path / "broken", out)  # the faithful file against the changed copy
    assert code == 1, err


@pytest.mark.parametrize("library", [True, False], ids=["sentence_transformers", "numpy"])
def test_sentence_transformers_folder_exports_its_pooling(tmp_path, cli, monkeypatch, library):
    """The graph pools and normalises (sentence_embedding); the source run is sentence_transformers itself, or
    (library not installed) the transformer's states pooled in NumPy. A copy pooling by CLS fails against it."""
    import modelport
    from modelport.frameworks.hf import sentence

    if library:
        pytest.importorskip("sentence_transformers")
    else:
        monkeypatch.setattr(sentence, "library_reference", lambda folder: None)
    folder = tmp_path / "st"
    save_sentence_transformer(folder)
    out = tmp_path / "st.onnx"
    report = round_trip(folder, out)
    assert report.source["sentence_transformers"]["source_run"] == (
        "sentence_transformers" if library else "numpy pooling")
    assert onnx_io(out)[1] == ["token_embeddings", "sentence_embedding"]
    rng = np.random.default_rng(4)
    ids = rng.integers(5, 99, (3, 10)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    got = ort_run(out, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    if library:
        import torch
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(folder), device="cpu")
        with torch.no_grad():
            expected = st({"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                           "token_type_ids": torch.zeros_like(torch.from_numpy(ids))})["sentence_embedding"].numpy()
    else:
        import torch
        import transformers

        bert = transformers.BertModel.from_pretrained(str(folder)).eval()
        with torch.no_grad():
            hidden = bert(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
        weights = mask[..., None].astype(np.float64)
        mean = (hidden.numpy() * weights).sum(1) / weights.sum(1)
        expected = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    np.testing.assert_allclose(got["sentence_embedding"], expected, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got["sentence_embedding"], axis=1), 1.0, atol=1e-5)
    other = tmp_path / "cls"
    save_sentence_transformer(other, pooling="cls")
    wrong = tmp_path / "cls.onnx"
    assert modelport.convert(other, wrong).ok
    assert not modelport.verify(folder, wrong).ok
