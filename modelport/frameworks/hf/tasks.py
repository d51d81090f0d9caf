"""Hugging Face tasks: which transformers class a folder is loaded as, and the inputs each task takes.

Task names are Optimum's (`optimum-cli export onnx --task ...`), so scripts written for it carry over. Without
`--task`, the task comes from `config.architectures` (the class that saved the folder), by the suffix of its name
and the model's main input (a sequence classifier over `input_values` is an audio classifier).
"""

from __future__ import annotations

from typing import Any

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError
from modelport.core.model import InputRule

# task -> the transformers Auto class it loads
TASKS = {
    "feature-extraction": "AutoModel",
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "fill-mask": "AutoModelForMaskedLM",
    "multiple-choice": "AutoModelForMultipleChoice",
    "image-classification": "AutoModelForImageClassification",
    "object-detection": "AutoModelForObjectDetection",
    "semantic-segmentation": "AutoModelForSemanticSegmentation",
    "image-segmentation": "AutoModelForUniversalSegmentation",
    "depth-estimation": "AutoModelForDepthEstimation",
    "audio-classification": "AutoModelForAudioClassification",
    "automatic-speech-recognition": "AutoModelForCTC",
    "image-to-text": "AutoModelForImageTextToText",
    "zero-shot-image-classification": "AutoModelForZeroShotImageClassification",
    "text-generation": "AutoModelForCausalLM",
    "text-generation-with-past": "AutoModelForCausalLM",
    "text2text-generation": "AutoModelForSeq2SeqLM",
}

# the Auto class of a task's encoder-decoder form (Whisper-style speech recognition, not CTC)
SEQ2SEQ_CLASSES = {"automatic-speech-recognition": "AutoModelForSpeechSeq2Seq"}

# architecture name suffix -> task (first match wins: longer suffixes first)
SUFFIXES = (
    ("ForImageClassificationWithTeacher", "image-classification"),
    ("ForImageClassificationLearned", "image-classification"),  # Perceiver's three image preprocessors
    ("ForImageClassificationFourier", "image-classification"),
    ("ForImageClassificationConvProcessing", "image-classification"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("ForSemanticSegmentation", "semantic-segmentation"),
    ("ForUniversalSegmentation", "image-segmentation"),
    ("ForInstanceSegmentation", "image-segmentation"),
    ("ForSegmentation", "image-segmentation"),  # DetrForSegmentation: boxes and masks
    ("ForDepthEstimation", "depth-estimation"),
    ("ForAudioClassification", "audio-classification"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForCausalLM", "text-generation-with-past"),
    ("LMHeadModel", "text-generation-with-past"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("VisionEncoderDecoderModel", "image-to-text"),  # an image encoder joined to a text decoder (TrOCR, Donut)
    ("SpeechEncoderDecoderModel", "automatic-speech-recognition"),
    ("EncoderDecoderModel", "text2text-generation"),  # two saved models joined (bert2bert)
    ("Model", "feature-extraction"),
)

# a sequence classifier reads whatever its main input is
BY_MODALITY = {("text-classification", "input_values"): "audio-classification",
               ("text-classification", "input_features"): "audio-classification",
               ("text-classification", "pixel_values"): "image-classification"}

# tasks written as several files: file stem -> part (`--task TASK:PART` loads one part)
_SEQ2SEQ = {"encoder_model": "encoder", "decoder_model": "decoder", "decoder_with_past_model": "decoder-with-past"}
PARTS = {"text2text-generation": _SEQ2SEQ, "automatic-speech-recognition": _SEQ2SEQ, "image-to-text": _SEQ2SEQ}
# config.json keys only a speech encoder's config has (Whisper, Speech2Text, SeamlessM4T's speech side)
SPEECH_KEYS = ("num_mel_bins", "input_feat_per_channel")

TASK_HELP = ("Hugging Face task (default: from config.json's architectures): " + ", ".join(TASKS) +
             ". Encoder-decoders (text2text-generation, image-to-text, Whisper-style automatic-speech-recognition) "
             "write encoder_model.onnx, decoder_model.onnx and decoder_with_past_model.onnx into -o DIR/; "
             "TASK:encoder (:decoder, :decoder-with-past) names one of them. "
             "zero-shot-image-classification:text (:vision) exports one tower of a CLIP-style model.")


def parts(task: str, config: dict[str, Any]) -> dict[str, str]:
    """file stem -> part, for a task written as several files: an encoder-decoder's (speech recognition is one
    file for a CTC model, three for Whisper)."""
    if task == "automatic-speech-recognition" and not config.get("is_encoder_decoder"):
        return {}
    return PARTS.get(task, {})


# one part of a model that is otherwise written whole (a dual encoder's text or image tower)
TOWERS = {"zero-shot-image-classification": ("text", "vision")}


def check_task(task: str) -> str:
    base, _, part = task.partition(":")
    known = (*PARTS.get(base, {}).values(), *TOWERS.get(base, ()))
    if base not in TASKS or (part and part not in known):
        raise UsageError(f"unknown task '{task}'", hint=f"tasks: {', '.join(TASKS)}")
    return task


def task_from_config(config: dict[str, Any], path) -> str:
    """The task for a folder's saved class (`architectures[0]`); feature-extraction when it names none."""
    archs = config.get("architectures") or []
    if not archs:
        return "feature-extraction"
    for suffix, task in SUFFIXES:
        if archs[0].endswith(suffix):
            joined = suffix != "ForConditionalGeneration"  # EncoderDecoderModel: an encoder-decoder by construction
            if task == "text2text-generation" and not config.get("is_encoder_decoder", joined):
                return "text-generation-with-past"  # a decoder-only ...ForConditionalGeneration (Gemma 3, LLaVA)
            if task == "text2text-generation" and any(key in config for key in SPEECH_KEYS):
                return "automatic-speech-recognition"  # Whisper, Speech2Text: log-mel features into the encoder
            if task == "feature-extraction" and "text_config" in config and "vision_config" in config:
                return "zero-shot-image-classification"  # CLIPModel, SiglipModel: two towers scored together
            return task
    raise UsageError(f"{path}: cannot tell the task of a {archs[0]}", hint=f"pass --task, one of: {', '.join(TASKS)}")


def towers_left_out(config: dict[str, Any], task: str) -> list[str]:
    """What a decoder's file leaves out of a multimodal folder (Voxtral, Qwen2-Audio, LLaVA, Gemma 3): the file is
    its text decoder, and the audio or image tower that feeds it in transformers is not in it."""
    towers = [key.removesuffix("_config") for key in ("audio_config", "vision_config") if key in config]
    if not task.startswith("text-generation") or not towers:
        return []
    return [f"the file is the text decoder only: the {' and '.join(towers)} tower(s) in the folder are not in it "
            "(it takes token ids; the tower's embeddings are not an input)"]


def main_input(model) -> str:
    """The model's main input name (OneFormer lists two: pixel_values, task_inputs). Perceiver's is a generic
    `inputs`; its image classifiers also take them as `pixel_values`, which says what they are."""
    import inspect

    name = getattr(model, "main_input_name", "input_ids")
    name = name[0] if isinstance(name, (list, tuple)) and name else name
    if name == "inputs" and "pixel_values" in inspect.signature(model.forward).parameters:
        return "pixel_values"
    return name


def refine_task(task: str, main_input: str) -> str:
    return BY_MODALITY.get((task, main_input), task)


def config_value(config, *names, default=None):
    """The first of `names` the config sets, looking into its vision / audio sub-config too (CLIP-style), and an
    encoder-decoder's two halves (VisionEncoderDecoder: the encoder's image size, the decoder's vocabulary;
    Parakeet and Canary keep their mel bins in `encoder_config`)."""
    holders = (config, getattr(config, "vision_config", None), getattr(config, "audio_config", None),
               getattr(config, "text_config", None), getattr(config, "encoder", None),
               getattr(config, "decoder", None), getattr(config, "encoder_config", None))
    for holder in holders:
        for name in names:
            value = getattr(holder, name, None) if holder is not None else None
            if value is not None:
                return value
    return default


def text_specs(config, params: set[str], task: str) -> tuple[list[TensorSpec], dict[str, InputRule]]:
    """input_ids (+ attention_mask, token_type_ids when the model takes them) with HF names and dynamic axes."""
    axes = ("batch", "num_choices", "sequence_length") if task == "multiple-choice" else ("batch", "sequence_length")
    vocab = int(config_value(config, "vocab_size", default=2))
    specs = [TensorSpec("input_ids", axes, "int64")]
    rules = {"input_ids": InputRule(f"token ids in [0, {vocab}) (config.vocab_size)", integers=(0, vocab))}
    if "attention_mask" in params:
        specs.append(TensorSpec("attention_mask", axes, "int64"))
        rules["attention_mask"] = InputRule("attention mask: ones, then padding zeros", mask=True)
    types = int(config_value(config, "type_vocab_size", default=0) or 0)
    if "token_type_ids" in params and types > 1:
        specs.append(TensorSpec("token_type_ids", axes, "int64"))
        rules["token_type_ids"] = InputRule(f"token types in [0, {types}) (config.type_vocab_size)",
                                            integers=(0, types))
    return specs, rules


PIXELS = "normalised pixels (an image processor's output): N(0, 1)"


def image_size(config, folder) -> tuple[int, int, str]:
    """(height, width, where they came from): the folder's preprocessor_config.json (what its image processor
    makes), else config.image_size, else 224."""
    import json
    from pathlib import Path

    try:
        pre = json.loads((Path(folder) / "preprocessor_config.json").read_text())
    except (OSError, ValueError):
        pre = {}
    for key in ("crop_size", "size"):
        value = pre.get(key) if pre.get("do_center_crop", True) or key == "size" else None
        if isinstance(value, int):
            return value, value, f"preprocessor_config.json {key}"
        if isinstance(value, dict) and "height" in value and "width" in value:
            return int(value["height"]), int(value["width"]), f"preprocessor_config.json {key}"
        if isinstance(value, dict) and "shortest_edge" in value:
            edge = int(value["shortest_edge"])
            return edge, edge, f"preprocessor_config.json {key}"
    size = config_value(config, "image_size")
    if size is None:
        return 224, 224, "the usual 224 (neither config.json nor a preprocessor config gives a size)"
    height, width = (size, size) if isinstance(size, int) else tuple(size)[:2]
    return int(height), int(width), "config.image_size"


def image_specs(config, folder=None, dynamic: bool = True) -> tuple[list[TensorSpec], dict[str, InputRule]]:
    """pixel_values [batch, channels, height, width], height and width dynamic (generated at the folder's own size
    and 32 more: convolution stacks downsample by 32 at most; HFModel fixes them when the model refuses the second)
    unless `dynamic` is False or the image is not square (both dims share one rule's sizes)."""
    height, width, _ = image_size(config, folder)
    channels = int(config_value(config, "num_channels", default=3))
    if dynamic and height == width:
        rule = InputRule(PIXELS, mean=0.0, std=1.0, sizes=(height, height + 32))
        return [TensorSpec("pixel_values", ("batch", channels, "height", "width"), "float32")], {"pixel_values": rule}
    rule = InputRule(PIXELS, mean=0.0, std=1.0)
    return [TensorSpec("pixel_values", ("batch", channels, height, width), "float32")], {"pixel_values": rule}


def audio_specs(config, main_input: str) -> list[tuple[list[TensorSpec], dict[str, InputRule]]]:
    """The layouts an audio input may have, most likely first (the model's forward pass decides)."""
    mels = int(config_value(config, "num_mel_bins", "feature_size", "input_feat_per_channel", default=80))
    features = "log-mel features (a feature extractor's output): N(0, 1)"
    if main_input == "input_features":  # log-mel frames: Whisper-style encoders take a fixed number of them
        rule = InputRule(features, mean=0.0, std=1.0)
        frames = config_value(config, "max_source_positions")
        first = [TensorSpec(main_input, ("batch", mels, 2 * int(frames)), "float32")] if frames else \
            [TensorSpec(main_input, ("batch", mels, "sequence_length"), "float32")]
        later = [TensorSpec(main_input, ("batch", "sequence_length", mels), "float32")]  # frames first
        sized = InputRule(features, mean=0.0, std=1.0, sizes=(64, 40))
        layouts = [(first, {main_input: rule if frames else sized}), (later, {main_input: sized})]
        stacked = config_value(config, "feature_projection_input_dim")  # w2v-BERT, SeamlessM4T: 2 frames stacked
        if isinstance(stacked, int) and stacked != mels:
            layouts.append(([TensorSpec(main_input, ("batch", "sequence_length", stacked), "float32")],
                            {main_input: sized}))
        return layouts
    strides = config_value(config, "conv_stride", default=[5, 2, 2, 2, 2, 2, 2])
    kernels = config_value(config, "conv_kernel", default=[10, 3, 3, 3, 3, 2, 2])
    hop = 1
    for s in strides:
        hop *= int(s)
    shortest = sum(int(k) for k in kernels) * hop  # comfortably above the conv stack's receptive field
    rule = InputRule("normalised audio samples (a feature extractor's output): N(0, 1)", mean=0.0, std=1.0,
                     sizes=(shortest + 8 * hop, shortest + 3 * hop))
    raw = ([TensorSpec("input_values", ("batch", "sequence_length"), "float32")], {"input_values": rule})
    mono = ([TensorSpec("input_values", ("batch", 1, "sequence_length"), "float32")], {"input_values": rule})
    length = config_value(config, "max_length")  # spectrogram transformers name their frames input_values
    if not isinstance(length, int):
        return [raw, mono]  # OmniASR: one channel of samples
    frames = ([TensorSpec("input_values", ("batch", length, mels), "float32")],
              {"input_values": InputRule(features, mean=0.0, std=1.0)})
    return [raw, frames, mono]


def past_specs(layers: list[tuple[tuple[int, int], tuple[int, int]]], dtype: str = "float32") -> list[TensorSpec]:
    """past_key_values.{i}.key / .value inputs, [batch, kv_heads, past_sequence_length, head_dim] each; a layer
    gives (heads, width) of its keys and of its values (MLA: keys 192 wide, values 128)."""
    return [TensorSpec(f"past_key_values.{i}.{kind}", ("batch", heads, "past_sequence_length", dim), dtype)
            for i, pair in enumerate(layers) for kind, (heads, dim) in zip(("key", "value"), pair)]


def present_names(count: int) -> list[str]:
    return [f"present.{i}.{kind}" for i in range(count) for kind in ("key", "value")]


def seq2seq_past_specs(layers: list[tuple[int, int]]) -> list[TensorSpec]:
    """past_key_values.{i}.decoder.key/value (the decoder's own past) and .encoder.key/value (cross-attention,
    as long as the encoder's sequence), four per layer."""
    specs = []
    for i, (heads, dim) in enumerate(layers):
        for side, length in (("decoder", "past_decoder_sequence_length"), ("encoder", "encoder_sequence_length")):
            specs += [TensorSpec(f"past_key_values.{i}.{side}.{kind}", ("batch", heads, length, dim), "float32")
                      for kind in ("key", "value")]
    return specs


# what serving needs beside the model: configs, tokenizer and processor files (not weights, not code)
SIDE_SUFFIXES = (".json", ".txt", ".model", ".jinja", ".tiktoken")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def side_files(folder) -> list:
    """Files of a save_pretrained folder a serving directory needs: config.json, generation_config.json,
    tokenizer and preprocessor files."""
    from pathlib import Path

    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix in SIDE_SUFFIXES and p.name not in WEIGHT_INDEXES
                  and not p.name.startswith("."))


def with_sizes(specs: list[TensorSpec], given) -> list[TensorSpec]:
    """--input NAME:D1,D2: those sizes instead of the dynamic axes (a symbolic batch stays symbolic)."""
    given = {s.name: s for s in given}
    unknown = sorted(set(given) - {s.name for s in specs})
    if unknown:
        raise UsageError(f"--input {unknown[0]}: the model has no such input",
                         hint=f"inputs: {', '.join(s.name for s in specs)}")
    fixed = []
    for spec in specs:
        new = given.get(spec.name)
        if new is not None and len(new.shape) != len(spec.shape):
            raise UsageError(f"--input {spec.name}: {len(new.shape)} dims given, the input has {len(spec.shape)}")
        fixed.append(spec if new is None else TensorSpec(spec.name, new.shape, spec.dtype))
    return fixed
