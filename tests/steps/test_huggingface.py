"""Hugging Face folders (save_pretrained) and .pt2 files returning ModelOutputs, on tiny models built from configs.

Every expected number comes from transformers itself (the folder loaded with from_pretrained) or from a greedy
loop run directly in ONNX Runtime, on inputs these tests draw themselves (other sizes than modelport's).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import needs, run_cli
from tests.hf_zoo import ZOO, save
from tests.steps.roundtrip import onnx_io, ort_run, round_trip

pytestmark = [pytest.mark.slow, needs("torch", "transformers")]

ENCODERS = ["bert", "bert-base", "roberta", "distilbert", "bert-mlm", "bert-choice", "vit", "swin", "convnext",
            "whisper-encoder", "wav2vec2", "w2v-bert", "bert-lm"]
DECODERS = ["gpt2", "llama", "qwen2", "mixtral", "deepseek-v3"]


@pytest.fixture(scope="session")
def hf(tmp_path_factory):
    """The save_pretrained folder of a zoo model, written once per session."""
    root = tmp_path_factory.mktemp("hf")
    made = {}

    def get(name: str):
        if name not in made:
            made[name] = root / name
            save(name, made[name])
        return made[name]

    return get


def reference_model(name: str, folder):
    import transformers

    return getattr(transformers, ZOO[name][1]).from_pretrained(str(folder)).eval()


def feed_for(path, rng, batch: int, length: int) -> dict[str, np.ndarray]:
    """Inputs drawn from the ONNX file's own declared shapes: token ids below 99, padded masks, N(0, 1) floats."""
    import onnxruntime as ort

    feed = {}
    for i in ort.InferenceSession(str(path)).get_inputs():
        sizes = {"batch": batch, "num_choices": 3, "height": 48, "width": 48}  # an image size modelport did not use
        shape = [d if isinstance(d, int) else sizes.get(d, length) for d in i.shape]
        if i.name == "input_values":
            shape[-1] = 40 * length
        if i.name == "attention_mask":
            value = np.ones(shape, np.int64)
            value[..., 0, length // 2:] = 0 if len(shape) == 3 else value[..., 0, length // 2:]
            if len(shape) == 2:
                value[0, length // 2:] = 0
        elif i.type == "tensor(int64)":
            value = rng.integers(0, 2 if i.name == "token_type_ids" else 99, shape).astype(np.int64)
        else:
            value = rng.standard_normal(shape).astype(np.float32)
        feed[i.name] = value
    return feed


@pytest.mark.parametrize("name", ENCODERS)
def test_encoder_folder_converts_with_hf_names_and_dynamic_axes(hf, tmp_path, name):
    import torch

    folder = hf(name)
    out = tmp_path / f"{name}.onnx"
    report = round_trip(folder, out)
    assert report.source["task"] == ZOO[name][3]
    assert report.source["architecture"] == ZOO[name][1]
    assert any("no KV cache" in w for w in report.warnings) == (name == "bert-lm")
    ins, outs = onnx_io(out)
    model = reference_model(name, folder)
    rng = np.random.default_rng(7)
    for batch, length in ((3, 11), (1, 6)):  # two sizes of every dynamic axis, neither of them modelport's
        feed = feed_for(out, rng, batch, length)
        got = ort_run(out, feed)
        with torch.no_grad():
            expected = model(**{k: torch.from_numpy(v) for k, v in feed.items()})
        assert set(outs) <= set(expected.keys())
        for key in outs:
            np.testing.assert_allclose(got[key], expected[key].numpy(), atol=2e-4, rtol=1e-3, err_msg=key)


def test_folder_output_is_self_contained_and_inspect_names_the_task(hf, tmp_path, cli):
    folder = hf("bert")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 64}')
    code, stdout, _ = cli("convert", folder, "-o", f"{tmp_path / 'serve'}/", "-q")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "serve").iterdir()) == [
        "config.json", "model.onnx", "tokenizer_config.json", "vocab.txt"]
    assert onnx_io(tmp_path / "serve" / "model.onnx")[0] == ["input_ids", "attention_mask", "token_type_ids"]
    code, stdout, _ = cli("inspect", folder, "--json", "-")
    assert code == 0 and '"task": "text-classification"' in stdout
    from modelport.core.provenance import read_onnx

    facts = read_onnx(tmp_path / "serve" / "model.onnx")
    assert (facts["task"], facts["architecture"]) == ("text-classification", "BertForSequenceClassification")
    assert facts["transformers"] and facts["source_format"] == "transformers"
    code, _, err = cli("convert", folder, "-o", tmp_path / "x.onnx", "--task", "feature-extraction", "-q")
    assert code == 0
    assert onnx_io(tmp_path / "x.onnx")[1] == ["last_hidden_state", "pooler_output"]


@pytest.mark.parametrize("name", ["bert", "vit", "llama", "deepseek-v3"])
def test_a_changed_weight_fails_verification(hf, tmp_path, cli, name):
    """The faithful file passes against the folder; a copy with one weight in the middle of the network x1.05
    fails."""
    import torch

    folder = hf(name)
    good = tmp_path / "good.onnx"
    round_trip(folder, good)
    broken_dir = tmp_path / "broken"
    model = reference_model(name, folder)
    with torch.no_grad():
        # not MLA's low-rank down-projections (q_a_proj, kv_a_proj_with_mqa): an RMSNorm follows each, which
        # undoes a scaled weight exactly
        weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 2
                   and "_a_proj" not in n]
        weights[len(weights) // 2].mul_(1.05)
    model.save_pretrained(str(broken_dir))
    broken = tmp_path / "broken.onnx"
    code, _, _ = cli("convert", broken_dir, "-o", broken, "-q")
    assert code == 0
    assert cli("verify", folder, good, "-q")[0] == 0
    code, _, err = cli("verify", folder, broken)
    assert code == 1, err


def greedy_onnx(path, prompt: np.ndarray, steps: int) -> list[int]:
    """Greedy decoding in ONNX Runtime with the KV cache: prefill with an empty past, then one token a step."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path))
    past = {i.name: np.zeros([1, i.shape[1], 0, i.shape[3]], np.float32)
            for i in sess.get_inputs() if i.name.startswith("past_key_values.")}
    names = [o.name for o in sess.get_outputs()]
    ids, seen, tokens = prompt, 0, []
    for _ in range(steps):
        n = ids.shape[1]
        feed = {"input_ids": ids, "attention_mask": np.ones((1, seen + n), np.int64), **past}
        if "position_ids" in {i.name for i in sess.get_inputs()}:
            feed["position_ids"] = np.arange(seen, seen + n, dtype=np.int64)[None]
        out = dict(zip(names, sess.run(None, feed)))
        token = int(out["logits"][0, -1].argmax())
        tokens.append(token)
        past = {k.replace("present.", "past_key_values."): v for k, v in out.items() if k.startswith("present.")}
        seen, ids = seen + n, np.array([[token]], np.int64)
    return tokens


@pytest.mark.parametrize("name", DECODERS)
def test_decoder_with_cache_matches_generate_token_for_token(hf, tmp_path, cli, name):
    import torch

    folder = hf(name)
    code, stdout, err = cli("convert", folder, "-o", f"{tmp_path}/", "--json", "-")
    assert code == 0, err
    route = json.loads(stdout)["route"]
    assert route == ("hf-dynamo-patched" if name == "mixtral" else "torch-dynamo")
    out = tmp_path / "model.onnx"
    ins, outs = onnx_io(out)
    layers = 2
    assert ins[:2] == ["input_ids", "attention_mask"]
    assert ins[-2 * layers:] == [f"past_key_values.{i}.{k}" for i in range(layers) for k in ("key", "value")]
    assert outs == ["logits"] + [f"present.{i}.{k}" for i in range(layers) for k in ("key", "value")]
    if name == "deepseek-v3":  # MLA: the cached "keys" and "values" differ in width
        import onnx

        dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim]
                for i in onnx.load(str(out), load_external_data=False).graph.input}
        assert (dims["past_key_values.0.key"][3], dims["past_key_values.0.value"][3]) == (24, 8)
    assert (tmp_path / "generation_config.json").exists()
    model = reference_model(name, folder)
    prompt = np.random.default_rng(3).integers(0, 99, (1, 6)).astype(np.int64)
    with torch.no_grad():
        expected = model.generate(torch.from_numpy(prompt), attention_mask=torch.ones(1, 6, dtype=torch.long),
                                  do_sample=False, max_new_tokens=20, min_new_tokens=20, pad_token_id=0)
    expected = expected[0, 6:].tolist()
    assert len(set(expected)) > 3  # a model that repeats one token would prove little
    assert greedy_onnx(out, prompt, 20) == expected


def test_pt2_returning_a_model_output_loads_in_a_fresh_process(hf, tmp_path):
    """return_dict=True programs name transformers classes: modelport imports their module, quietly."""
    import torch

    model = reference_model("bert", hf("bert"))
    ids = torch.randint(0, 99, (2, 8))
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=64)
    axes = {0: batch, 1: seq}
    program = torch.export.export(model, (), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                                  dynamic_shapes={"input_ids": axes, "attention_mask": axes})
    torch.export.save(program, str(tmp_path / "bert.pt2"))
    result = run_cli("convert", tmp_path / "bert.pt2", "-o", tmp_path / "bert.onnx", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no torch deserialisation traceback, no torchao load failures
    assert onnx_io(tmp_path / "bert.onnx")[1] == ["logits"]


CUSTOM_OUTPUT = '''
import dataclasses
import torch
import torch.utils._pytree as pytree

@dataclasses.dataclass
class Scores:
    value: torch.Tensor

pytree.register_dataclass(Scores, serialized_type_name="mp_custom_out.Scores")

class Net(torch.nn.Module):
    def forward(self, x):
        return Scores(x * 2)
'''


def test_pt2_naming_a_class_outside_the_allow_list_needs_trust(tmp_path):
    import importlib
    import sys

    import torch

    (tmp_path / "mp_custom_out.py").write_text(CUSTOM_OUTPUT)
    sys.path.insert(0, str(tmp_path))
    try:
        net = importlib.import_module("mp_custom_out").Net()
        program = torch.export.export(net, (torch.randn(2, 3),), dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(program, str(tmp_path / "net.pt2"))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mp_custom_out", None)
    env = {"PYTHONPATH": str(tmp_path)}
    refused = run_cli("convert", tmp_path / "net.pt2", "-o", tmp_path / "net.onnx", env=env)
    assert refused.returncode == 4
    assert "mp_custom_out" in refused.stderr and "--trust" in refused.stderr
    assert not (tmp_path / "net.onnx").exists()
    trusted = run_cli("convert", tmp_path / "net.pt2", "-o", tmp_path / "net.onnx", "--trust", "-q", env=env)
    assert trusted.returncode == 0, trusted.stderr


# what each encoder-decoder's encoder reads: token ids (and a mask the decoder reads too), log-mel frames, pixels
SEQ2SEQ_INPUTS = {"t5": ("input_ids", (1, 7)), "switch": ("input_ids", (1, 7)),
                  "whisper": ("input_features", (1, 16, 60)), "vit-gpt2": ("pixel_values", (1, 3, 32, 32))}


@pytest.mark.parametrize("name", ["t5", "switch", "whisper", "vit-gpt2"])
def test_encoder_decoder_files_generate_like_transformers_with_and_without_cache(hf, tmp_path, cli, name):
    """text2text-generation, Whisper-style automatic-speech-recognition and image-to-text: encoder_model.onnx once,
    then either decoder_model.onnx over the growing prefix, or decoder_model.onnx for the first token and
    decoder_with_past_model.onnx with the cache after it: both greedy loops match generate() for 20 tokens."""
    import onnxruntime as ort
    import torch

    folder = hf(name)
    code, _, err = cli("convert", folder, "-o", tmp_path / "flat.onnx")
    assert code == 2 and "folder" in err  # three files need -o DIR/
    code, _, err = cli("convert", folder, "-o", f"{tmp_path / 'out'}/", "-q")
    assert code == 0, err
    out = tmp_path / "out"
    main, shape = SEQ2SEQ_INPUTS[name]
    text = main == "input_ids"
    own = ["input_ids", "attention_mask"] if text else [main]
    assert onnx_io(out / "encoder_model.onnx") == (own, ["last_hidden_state"])
    presents = [f"present.{i}.{side}.{kind}" for i in range(2) for side in ("decoder", "encoder")
                for kind in ("key", "value")]
    mask_input = ["encoder_attention_mask"] if text else []
    assert onnx_io(out / "decoder_model.onnx") == (
        ["input_ids", *mask_input, "encoder_hidden_states"], ["logits", *presents])
    assert onnx_io(out / "decoder_with_past_model.onnx") == (
        ["input_ids", *mask_input, *(p.replace("present.", "past_key_values.") for p in presents)],
        ["logits", *(p for p in presents if ".decoder." in p)])
    model = reference_model(name, folder)
    rng = np.random.default_rng(5)
    source = rng.integers(3, 99, shape).astype(np.int64) if text else rng.standard_normal(shape).astype(np.float32)
    mask = {"encoder_attention_mask": np.ones_like(source)} if text else {}
    with torch.no_grad():
        extra = {"attention_mask": torch.from_numpy(mask["encoder_attention_mask"])} if text else {}
        expected = model.generate(torch.from_numpy(source), **extra, do_sample=False, max_new_tokens=20,
                                  min_new_tokens=20, num_beams=1, forced_bos_token_id=None,
                                  forced_eos_token_id=None)[0].tolist()
    start = model.generation_config.decoder_start_token_id
    expected = expected if expected[0] == start else [start, *expected]  # Whisper leaves out its start token
    encoder = ort.InferenceSession(str(out / "encoder_model.onnx"))
    decoder = ort.InferenceSession(str(out / "decoder_model.onnx"))
    with_past = ort.InferenceSession(str(out / "decoder_with_past_model.onnx"))
    names = [o.name for o in decoder.get_outputs()]
    encoder_feed = {main: source, **({"attention_mask": mask["encoder_attention_mask"]} if text else {})}
    states = encoder.run(None, encoder_feed)[0]
    tokens = [start]
    while len(tokens) < len(expected):
        logits = decoder.run(None, {"input_ids": np.array([tokens], np.int64), **mask,
                                    "encoder_hidden_states": states})[0]
        tokens.append(int(logits[0, -1].argmax()))
    assert len(set(expected)) > 2  # a model that repeats one token would prove little
    assert tokens == expected
    first = dict(zip(names, decoder.run(None, {"input_ids": np.array([[start]], np.int64), **mask,
                                               "encoder_hidden_states": states})))
    cached = [start, int(first["logits"][0, -1].argmax())]
    past = {k.replace("present.", "past_key_values."): v for k, v in first.items() if k.startswith("present.")}
    step_names = [o.name for o in with_past.get_outputs()]
    while len(cached) < len(expected):
        step = dict(zip(step_names, with_past.run(None, {"input_ids": np.array([cached[-1:]], np.int64),
                                                         **mask, **past})))
        cached.append(int(step["logits"][0, -1].argmax()))
        past.update({k.replace("present.", "past_key_values."): v for k, v in step.items() if k != "logits"})
    assert cached == expected
    if text:
        return
    # both ways: the faithful part passes against the folder, and fails against a copy of the folder with one
    # decoder weight x1.01; `verify` reads which part a file is from the file itself
    with torch.no_grad():
        weights = [p for n, p in model.named_parameters() if "decoder" in n and n.endswith("weight") and p.dim() == 2]
        weights[len(weights) // 2].mul_(1.01)
    model.save_pretrained(str(tmp_path / "broken"))
    assert cli("verify", folder, out / "decoder_model.onnx", "-q")[0] == 0
    code, _, err = cli("verify", tmp_path / "broken", out / "decoder_model.onnx")  # the copy against the file
    assert code == 1, err


def test_encoder_decoder_classifier_reads_rows_ending_with_one_eos(hf, tmp_path, cli):
    """BART-style sequence classifiers read each row at its end-of-sequence token: generated rows end with exactly
    one, so the folder verifies (it exited 3 before); the file matches transformers on rows this test draws; a
    copy with one weight x1.01 fails."""
    import torch

    folder = hf("bart-cls")
    out = tmp_path / "cls.onnx"
    report = round_trip(folder, out)
    assert "end-of-sequence id 2" in report.verification.inputs_from["input_ids"]
    model = reference_model("bart-cls", folder)
    rng = np.random.default_rng(11)
    ids = rng.integers(3, 99, (4, 9)).astype(np.int64)
    ids[:, -1] = model.config.eos_token_id
    mask = np.ones_like(ids)
    with torch.no_grad():
        expected = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    got = ort_run(out, {"input_ids": ids, "attention_mask": mask})["logits"]
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)
    with torch.no_grad():
        # not MLA's low-rank down-projections (q_a_proj, kv_a_proj_with_mqa): an RMSNorm follows each, which
        # undoes a scaled weight exactly
        weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 2
                   and "_a_proj" not in n]
        weights[len(weights) // 2].mul_(1.01)
    model.save_pretrained(str(tmp_path / "broken"))
    code, _, err = cli("verify", tmp_path / "broken", out)  # the faithful file against the changed copy
    assert code == 1, err


@pytest.mark.parametrize("name", ["bert", "vit"])
def test_encoder_to_tflite_through_litert_torch(hf, tmp_path, name):
    """litert-torch keeps no dynamic axis on these: the file takes batch 1 at the traced (or --input) sizes, said
    in a warning; the LiteRT interpreter's outputs match transformers."""
    pytest.importorskip("litert_torch")
    import torch

    from tests.steps.roundtrip_tflite import tflite_run, tflite_signature

    folder = hf(name)
    out = tmp_path / f"{name}.tflite"
    inputs = ["input_ids:1,16", "attention_mask:1,16", "token_type_ids:1,16"] if name == "bert" else []
    report = round_trip(folder, out, inputs=inputs)
    assert report.route == "torch-litert"
    assert any("dynamic axis" in w for w in report.warnings)
    signature = next(iter(tflite_signature(out).values()))
    rng = np.random.default_rng(11)
    if name == "bert":
        mask = np.ones((1, 16), np.int64)
        mask[0, 12:] = 0
        feed = {"input_ids": rng.integers(0, 99, (1, 16)), "attention_mask": mask,
                "token_type_ids": rng.integers(0, 2, (1, 16))}
    else:
        feed = {"pixel_values": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)}
    with torch.no_grad():
        expected = reference_model(name, folder)(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()
    tf_feed = {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in feed.items()}
    assert sorted(signature["inputs"]) == sorted(feed)
    got = next(iter(tflite_run(out, tf_feed).values()))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", ["swin", "convnext"])
def test_pt2_of_models_that_need_return_dict_converts(hf, tmp_path, name):
    """Swin and ConvNeXt break with return_dict=False, so their programs return ModelOutputs: they convert, and
    the file's outputs are the ModelOutput's fields."""
    import torch

    model = reference_model(name, hf(name))
    pixels = torch.randn(2, 3, 32, 32)
    program = torch.export.export(model, (pixels,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(tmp_path / f"{name}.pt2"))
    out = tmp_path / f"{name}.onnx"
    round_trip(tmp_path / f"{name}.pt2", out)
    assert onnx_io(out)[1] == ["logits"]
    x = np.random.default_rng(4).standard_normal((3, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(x)).logits.numpy()
    np.testing.assert_allclose(ort_run(out, {onnx_io(out)[0][0]: x})["logits"], expected, atol=1e-4, rtol=1e-3)


def test_folder_with_pytorch_model_bin_converts(tmp_path):
    """Older folders hold pytorch_model.bin (a pickle, read by transformers with weights_only=True): no --trust."""
    import torch

    from tests.hf_zoo import build

    model = build("distilbert")
    folder = tmp_path / "bin"
    model.config.architectures = [type(model).__name__]  # what save_pretrained records
    model.config.save_pretrained(str(folder))
    torch.save(model.state_dict(), str(folder / "pytorch_model.bin"))
    out = tmp_path / "qa.onnx"
    round_trip(folder, out)
    ids = np.random.default_rng(9).integers(0, 99, (2, 10)).astype(np.int64)
    got = ort_run(out, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    with torch.no_grad():
        expected = model(input_ids=torch.from_numpy(ids), attention_mask=torch.ones(2, 10, dtype=torch.long))
    np.testing.assert_allclose(got["start_logits"], expected.start_logits.numpy(), atol=1e-4, rtol=1e-3)


def test_a_part_that_fails_leaves_no_part_behind(hf, tmp_path, monkeypatch):
    """text2text-generation writes a set of files: when the decoder cannot be made, the encoder already written
    is removed too (exit 3, an empty folder), rather than left as a set that cannot generate."""
    import modelport.frameworks.hf.modules as modules
    from modelport.commands.convert import convert
    from modelport.core.errors import ModelportError

    decoder = modules.classes()["decoder"]

    class Broken(decoder):
        def forward(self, *tensors):
            raise RuntimeError("no decoder")

    monkeypatch.setitem(modules.classes(), "decoder", Broken)
    with pytest.raises(ModelportError) as failed:
        convert(hf("t5"), f"{tmp_path / 'out'}/")
    assert failed.value.exit_code == 3 and "no decoder" in str(failed.value)
    assert list((tmp_path / "out").iterdir()) == []
