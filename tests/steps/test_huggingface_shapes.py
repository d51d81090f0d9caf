"""Hugging Face folders and .pt2 programs issue 24 found refused or mis-shaped: the class a folder was saved
from, image sizes, an attention mask mistaken for positions, transformers' own operators, None outputs.

Every expected number comes from transformers or torch directly, on inputs drawn here at sizes modelport did
not use; broken copies are made here with onnx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.builders import scale_weight
from tests.conftest import needs, run_cli
from tests.steps.roundtrip import onnx_io, ort_run, round_trip

pytestmark = [pytest.mark.slow, needs("torch", "transformers")]

IMAGE = dict(num_channels=3)
CONV = {  # configs without image_size: models built and used at 64x64
    "resnet": ("ResNetConfig", "ResNetForImageClassification",
               dict(IMAGE, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3)),
    "regnet": ("RegNetConfig", "RegNetModel", dict(IMAGE, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                   groups_width=8)),
    "poolformer": ("PoolFormerConfig", "PoolFormerModel",
                   dict(IMAGE, hidden_sizes=[16, 32], depths=[1, 1], num_encoder_blocks=2, patch_sizes=[7, 3],
                        strides=[4, 2], padding=[2, 1], pool_size=3)),
    "segformer": ("SegformerConfig", "SegformerModel",
                  dict(IMAGE, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                       patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2])),
}


def _build(config_name: str, model_name: str, overrides: dict, seed: int = 0):
    import torch
    import transformers

    torch.manual_seed(seed)
    return getattr(transformers, model_name)(getattr(transformers, config_name)(**overrides)).eval()


def _first(output):
    return (output[0] if isinstance(output, tuple) else next(iter(output.values()))).numpy()


@pytest.mark.parametrize("name", ["resnet", "segformer"])  # all four: benchmarks/hf_shapes.py
def test_convolutional_folders_take_any_image_size(tmp_path, name):
    import torch

    model = _build(*CONV[name])
    model.save_pretrained(str(tmp_path / name))
    out = tmp_path / f"{name}.onnx"
    report = round_trip(tmp_path / name, out)
    assert not any("fixed" in w for w in report.warnings)
    pixels = next(i for i in __import__("onnx").load(str(out)).graph.input if i.name == "pixel_values")
    assert [d.dim_param for d in pixels.type.tensor_type.shape.dim[2:]] == ["height", "width"]
    rng = np.random.default_rng(3)
    for batch, size in ((1, 64), (2, 64), (3, 48)):  # the size it was used at, and one modelport did not try
        x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            expected = _first(model(pixel_values=torch.from_numpy(x), return_dict=False))
        np.testing.assert_allclose(next(iter(ort_run(out, {"pixel_values": x}).values())), expected,
                                   atol=1e-4, rtol=1e-3)


def test_a_changed_weight_of_a_dynamic_size_folder_fails(tmp_path, cli):
    model = _build(*CONV["resnet"])
    model.save_pretrained(str(tmp_path / "resnet"))
    out, bad = tmp_path / "resnet.onnx", tmp_path / "bad.onnx"
    round_trip(tmp_path / "resnet", out)
    scale_weight(out, bad)
    code, _, err = cli("verify", tmp_path / "resnet", bad)
    assert code == 1, err


def test_a_vit_keeps_its_fixed_size_and_says_why(tmp_path):
    model = _build("ViTConfig", "ViTForImageClassification",
                   dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=37, num_labels=3))
    model.save_pretrained(str(tmp_path / "vit"))
    report = round_trip(tmp_path / "vit", tmp_path / "vit.onnx")
    note = next(w for w in report.warnings if "pixel_values is fixed" in w)
    assert "32x32 (config.image_size)" in note and "64x64" in note
    assert onnx_io(tmp_path / "vit.onnx")[0] == ["pixel_values"]


def test_a_folder_saved_from_t5_encoder_model_loads_that_class(tmp_path):
    import torch

    model = _build("T5Config", "T5EncoderModel", dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                                      num_heads=4, relative_attention_num_buckets=8))
    model.save_pretrained(str(tmp_path / "t5enc"))
    out = tmp_path / "t5enc.onnx"
    report = round_trip(tmp_path / "t5enc", out)
    assert report.source["architecture"] == "T5EncoderModel"
    assert onnx_io(out) == (["input_ids", "attention_mask"], ["last_hidden_state"])
    rng = np.random.default_rng(5)
    for batch, length in ((1, 8), (2, 8), (3, 13)):
        ids = rng.integers(0, 99, (batch, length))
        mask = np.ones((batch, length), np.int64)
        mask[0, length // 2:] = 0
        with torch.no_grad():
            expected = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        got = ort_run(out, {"input_ids": ids, "attention_mask": mask})["last_hidden_state"]
        np.testing.assert_allclose(got, expected.last_hidden_state.numpy(), atol=1e-4, rtol=1e-3)


def _export(model, kwargs, path):
    import torch

    with torch.no_grad():
        torch.export.save(torch.export.export(model, (), kwargs), str(path))


def _text_inputs():
    import torch

    ids = torch.randint(0, 99, (2, 16), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 10:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def test_opt_program_gets_a_mask_not_positions(tmp_path, cli):
    """OPT's learned positions are cumsum(attention_mask) + 2: the mask reaches that embedding through
    arithmetic, and must not be generated as indices into it (values up to 65 overran it)."""
    import torch

    from modelport.core.formats import Format
    from modelport.loaders import open_model

    model = _build("OPTConfig", "OPTModel", dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, ffn_dim=37,
                                                 num_attention_heads=4, max_position_embeddings=64,
                                                 word_embed_proj_dim=32, use_cache=False))
    inputs = _text_inputs()
    _export(model, inputs, tmp_path / "opt.pt2")
    rules = open_model(tmp_path / "opt.pt2", Format.TORCH_EXPORT).input_rules()
    assert rules["attention_mask"].mask and rules["input_ids"].integers == (0, 99)
    out = tmp_path / "opt.onnx"
    round_trip(tmp_path / "opt.pt2", out)
    with torch.no_grad():
        expected = model(**inputs).last_hidden_state.numpy()
    got = ort_run(out, {k: v.numpy() for k, v in inputs.items()})
    np.testing.assert_allclose(next(iter(got.values())), expected, atol=1e-4, rtol=1e-3)
    scale_weight(out, tmp_path / "bad.onnx")
    code, _, err = cli("verify", tmp_path / "opt.pt2", tmp_path / "bad.onnx")
    assert code == 1, err


MIXTRAL = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=64, num_local_experts=4, num_experts_per_tok=2,
               use_cache=False)


def test_a_program_calling_transformers_operators_loads_and_converts(tmp_path):
    """Mixtral's experts call torch.ops.transformers.grouped_mm_fallback: transformers registers it on import,
    and its own ONNX translation lowers it."""
    import torch

    model = _build("MixtralConfig", "MixtralModel", MIXTRAL)
    model.config.return_dict = False
    inputs = _text_inputs()
    _export(model, inputs, tmp_path / "mixtral.pt2")
    out = tmp_path / "mixtral.onnx"
    result = run_cli("convert", tmp_path / "mixtral.pt2", "-o", out, "-q", "--json", tmp_path / "report.json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""  # no torchao load failures, pytree deprecations, graph dumps
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["route"] == "hf-dynamo-patched"
    with torch.no_grad():
        expected = model(**inputs)[0].numpy()
    got = ort_run(out, {k: v.numpy() for k, v in inputs.items()})
    np.testing.assert_allclose(next(iter(got.values())), expected, atol=1e-4, rtol=1e-3)


BLOCK_TRANSFORMERS = '''
import importlib, importlib.util, sys
real_find, real_import = importlib.util.find_spec, importlib.import_module
def find_spec(name, *args):
    return None if name.split(".")[0] == "transformers" else real_find(name, *args)
def import_module(name, *args):
    if name.split(".")[0] == "transformers":
        raise ModuleNotFoundError(f"No module named {name!r}")
    return real_import(name, *args)
importlib.util.find_spec, importlib.import_module = find_spec, import_module
from modelport.cli.app import main
sys.argv = ["modelport", *sys.argv[1:]]
main()
'''


def test_without_transformers_such_a_program_is_exit_5_naming_the_extra(tmp_path):
    model = _build("MixtralConfig", "MixtralModel", MIXTRAL)
    model.config.return_dict = False
    _export(model, _text_inputs(), tmp_path / "mixtral.pt2")
    result = subprocess.run([sys.executable, "-c", BLOCK_TRANSFORMERS, "inspect", str(tmp_path / "mixtral.pt2")],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 5, result.stderr
    assert "modelport[transformers]" in result.stderr and "operators" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_a_poolformer_program_returning_none_converts(tmp_path):
    """return_dict=False gives (last_hidden_state, None): the None is not an output on either side."""
    import torch

    model = _build(*CONV["poolformer"])
    model.config.return_dict = False
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.export.save(torch.export.export(model, (x,)), str(tmp_path / "pool.pt2"))
        assert model(x)[1] is None
    out = tmp_path / "pool.onnx"
    report = round_trip(tmp_path / "pool.pt2", out)
    assert [o.name for o in report.verification.outputs] == ["output_0"]
    assert any("output_1 (NoneType)" in w for w in report.warnings)
    with torch.no_grad():
        expected = model(x)[0].numpy()
    np.testing.assert_allclose(ort_run(out, {onnx_io(out)[0][0]: x.numpy()})["output_0"], expected, atol=1e-5)
