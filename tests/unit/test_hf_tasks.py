"""Hugging Face folders before any framework loads: detection, task mapping, refusals (fast)."""

from __future__ import annotations

import json
import sys

import pytest

from modelport.core.formats import Format, detect
from modelport.frameworks.hf.tasks import TASKS, parts, refine_task, side_files, task_from_config


def folder_with(tmp_path, config: dict):
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


@pytest.mark.parametrize("arch, task", [
    ("BertForSequenceClassification", "text-classification"),
    ("RobertaForTokenClassification", "token-classification"),
    ("DistilBertForQuestionAnswering", "question-answering"),
    ("BertForMaskedLM", "fill-mask"),
    ("BertForMultipleChoice", "multiple-choice"),
    ("ViTForImageClassification", "image-classification"),
    ("DeiTForImageClassificationWithTeacher", "image-classification"),
    ("PerceiverForImageClassificationLearned", "image-classification"),
    ("DetrForObjectDetection", "object-detection"),
    ("WhisperForAudioClassification", "audio-classification"),
    ("Wav2Vec2ForCTC", "automatic-speech-recognition"),
    ("LlamaForCausalLM", "text-generation-with-past"),
    ("GPT2LMHeadModel", "text-generation-with-past"),
    ("T5ForConditionalGeneration", "text-generation-with-past"),  # is_encoder_decoder unset in this config
    ("BertModel", "feature-extraction"),
    ("EncoderDecoderModel", "text2text-generation"),
    ("VisionEncoderDecoderModel", "image-to-text"),
    ("SpeechEncoderDecoderModel", "automatic-speech-recognition"),
])
def test_task_comes_from_the_saved_architecture(arch, task):
    assert task_from_config({"architectures": [arch]}, "m") == task
    assert task in TASKS


def test_conditional_generation_is_text2text_only_for_encoder_decoders():
    arch = {"architectures": ["Gemma3ForConditionalGeneration"]}
    assert task_from_config(arch, "m") == "text-generation-with-past"
    assert task_from_config({**arch, "is_encoder_decoder": True}, "m") == "text2text-generation"


def test_speech_encoder_decoders_are_speech_recognition_in_three_files_and_ctc_in_one():
    whisper = {"architectures": ["WhisperForConditionalGeneration"], "is_encoder_decoder": True, "num_mel_bins": 80}
    assert task_from_config(whisper, "m") == "automatic-speech-recognition"
    assert sorted(parts("automatic-speech-recognition", whisper)) == [
        "decoder_model", "decoder_with_past_model", "encoder_model"]
    assert parts("automatic-speech-recognition", {"architectures": ["Wav2Vec2ForCTC"]}) == {}
    assert parts("image-to-text", {"is_encoder_decoder": True})["encoder_model"] == "encoder"


def test_rows_ending_with_one_eos_id():
    import numpy as np

    from modelport.core.model import InputRule
    from modelport.verify.synth import values

    rule = InputRule("ids", integers=(0, 5), ends_with=2)
    ids = values(np.random.default_rng(0), [64, 7], "int64", (0, 5), rule)
    assert (ids[:, -1] == 2).all() and ((ids == 2).sum(axis=1) == 1).all()
    assert ids.min() >= 0 and ids.max() < 5


def test_sequence_classifiers_of_audio_and_images_are_named_by_their_input():
    assert refine_task("text-classification", "input_values") == "audio-classification"
    assert refine_task("text-classification", "pixel_values") == "image-classification"
    assert refine_task("text-classification", "input_ids") == "text-classification"


def test_a_config_folder_is_a_transformers_source_and_side_files_skip_weights(tmp_path):
    folder = folder_with(tmp_path, {"architectures": ["BertModel"]})
    for name in ("model.safetensors", "model.safetensors.index.json", "vocab.txt", "tokenizer.json",
                 "generation_config.json", "modeling_custom.py"):
        (folder / name).write_text("x")
    assert detect(folder) is Format.TRANSFORMERS
    assert [p.name for p in side_files(folder)] == ["config.json", "generation_config.json", "tokenizer.json",
                                                    "vocab.txt"]


def test_remote_code_needs_trust_and_unknown_tasks_are_usage_errors(tmp_path, cli):
    folder = folder_with(tmp_path, {"architectures": ["X"], "auto_map": {"AutoModel": "modeling_x.XModel"}})
    code, _, err = cli("convert", folder, "-o", tmp_path / "x.onnx")
    assert code == 4 and "--trust" in err
    plain = tmp_path / "plain"
    plain.mkdir()
    folder_with(plain, {"architectures": ["BertModel"]})
    code, _, err = cli("convert", plain, "-o", tmp_path / "x.onnx", "--task", "summarise")
    assert code == 2 and "text-generation-with-past" in err
    code, _, err = cli("convert", folder_with(plain, {"architectures": ["Oddity"]}), "-o", tmp_path / "x.onnx")
    assert code == 2 and "--task" in err
    assert not (tmp_path / "x.onnx").exists()


def test_without_transformers_the_folder_exits_5_with_the_install_line(tmp_path, cli, monkeypatch):
    folder = folder_with(tmp_path, {"architectures": ["BertModel"]})
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now fails as if not installed
    code, _, err = cli("convert", folder, "-o", tmp_path / "x.onnx")
    assert code == 5 and "pip install 'modelport[transformers]'" in err


def test_image_size_comes_from_the_preprocessor_then_the_config(tmp_path):
    from types import SimpleNamespace

    from modelport.frameworks.hf.tasks import image_size, image_specs

    config = SimpleNamespace(image_size=32, num_channels=3)
    assert image_size(config, tmp_path) == (32, 32, "config.image_size")
    assert image_size(SimpleNamespace(), tmp_path)[:2] == (224, 224)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": {"shortest_edge": 40},
                                                                    "crop_size": {"height": 36, "width": 36}}))
    assert image_size(config, tmp_path) == (36, 36, "preprocessor_config.json crop_size")
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 48, "width": 48},
                                                                    "do_center_crop": False, "crop_size": 20}))
    assert image_size(config, tmp_path)[:2] == (48, 48)
    specs, rules = image_specs(config, tmp_path)
    assert specs[0].shape == ("batch", 3, "height", "width") and rules["pixel_values"].sizes == (48, 80)


@pytest.mark.parametrize("mode", ["cls", "mean", "max", "mean_sqrt_len_tokens", "lasttoken"])
def test_exported_pooling_matches_the_numpy_reference(mode):
    """sentence-transformers pooling: the PyTorch module that is exported and the NumPy reference agree on
    padded rows (each mode, normalised), and the two differ between modes."""
    import types

    import numpy as np

    torch = pytest.importorskip("torch")
    from modelport.frameworks.hf.sentence import module_class, numpy_embedding

    hidden = np.random.default_rng(0).standard_normal((3, 6, 4)).astype(np.float32)
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], np.int64)

    class States(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            return types.SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))

    pooled = module_class()(States(), ["input_ids", "attention_mask"], mode, True)
    got = pooled(torch.zeros(3, 6, dtype=torch.int64), torch.from_numpy(mask))[1].numpy()
    np.testing.assert_allclose(got, numpy_embedding(hidden, mask, mode, True), atol=1e-6)
    other = "cls" if mode != "cls" else "mean"
    assert not np.allclose(got, numpy_embedding(hidden, mask, other, True), atol=1e-3)


def test_sentence_folder_modules_are_read_or_refused_by_name(tmp_path):
    from modelport.core.errors import UnsupportedError
    from modelport.frameworks.hf.sentence import read_plan

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 8, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    modules = [{"path": "", "type": "sentence_transformers.models.Transformer"},
               {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert read_plan(tmp_path) == ("cls", False)
    (tmp_path / "modules.json").write_text(json.dumps(modules + [{"path": "2_Dense",
                                                                    "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(UnsupportedError, match="Dense"):
        read_plan(tmp_path)


def test_adaptive_pooling_to_a_grid_fixes_the_image_size():
    torch = pytest.importorskip("torch")
    from modelport.frameworks.hf.model import adaptive_pools

    pyramid = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(6))
    assert adaptive_pools(torch, pyramid) == "AdaptivePool 6"
    assert adaptive_pools(torch, torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d((1, 1)))) == ""


def test_main_input_of_a_model_listing_two_and_speech2text_feature_width():
    import types

    from modelport.frameworks.hf.tasks import audio_specs, main_input

    assert main_input(types.SimpleNamespace(main_input_name=["pixel_values", "task_inputs"])) == "pixel_values"
    assert main_input(types.SimpleNamespace()) == "input_ids"
    speech2text = types.SimpleNamespace(input_feat_per_channel=16, max_source_positions=200)
    layouts = audio_specs(speech2text, "input_features")
    assert layouts[0][0][0].shape == ("batch", 16, 400) and layouts[1][0][0].shape[-1] == 16


def test_a_cache_is_exported_only_when_its_layers_hold_just_keys_and_values():
    from types import SimpleNamespace

    from modelport.frameworks.hf.modules import unusable_cache

    class DynamicCache:
        def __init__(self, layers):
            self.layers = layers

    class MiniMaxCache(DynamicCache):  # keeps linear-attention state beside its layers
        pass

    plain = SimpleNamespace(keys=1, values=2)
    assert unusable_cache(DynamicCache([plain, plain])) is None
    assert unusable_cache(None) == "no cache"
    assert unusable_cache(MiniMaxCache([plain])) == "its own MiniMaxCache"
    assert "without per-layer keys" in unusable_cache(DynamicCache([plain, SimpleNamespace(conv_states={})]))
    hybrid = SimpleNamespace(keys=1, values=2, conv_states={})  # Falcon-H1: attention + Mamba in one layer
    assert "Mamba states" in unusable_cache(DynamicCache([hybrid]))


def test_a_multimodal_decoder_folder_says_its_file_is_the_text_decoder_only():
    from modelport.frameworks.hf.tasks import towers_left_out

    voxtral = {"architectures": ["VoxtralForConditionalGeneration"], "audio_config": {}, "text_config": {}}
    assert "audio tower" in towers_left_out(voxtral, "text-generation-with-past")[0]
    assert towers_left_out(voxtral, "feature-extraction") == []
    assert towers_left_out({"architectures": ["LlamaForCausalLM"]}, "text-generation-with-past") == []
