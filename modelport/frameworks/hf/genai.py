"""`--layout genai`: a decoder's folder as ONNX Runtime GenAI loads it (`onnxruntime_genai.Model(DIR)`).

Beside `model.onnx` (the KV-cache decoder modelport writes for `text-generation-with-past`, whose input and output
names GenAI takes as they are) and the tokenizer files copied from the source folder, `genai_config.json` holds
the model's shape facts and its search defaults from `generation_config.json`. The config takes its final name once
the folder, loaded with onnxruntime-genai, has produced the greedy tokens ONNX Runtime produces on the same
model.onnx (`modelport.verify.generation.genai_check`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from modelport.core.errors import UnsupportedError, UsageError

CONFIG = "genai_config.json"
# GenAI's own per-architecture code paths assume layouts of their builder (GPT-2's: one past tensor per layer);
# "decoder" is its generic decoder-only model, which takes the names modelport writes
MODEL_TYPE = "decoder"
# generation_config.json field -> genai search option
SEARCH = {"do_sample": bool, "num_beams": int, "temperature": float, "top_k": int, "top_p": float,
          "repetition_penalty": float, "length_penalty": float, "no_repeat_ngram_size": int,
          "num_return_sequences": int, "min_length": int, "max_length": int, "early_stopping": bool}


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _first(value):
    return value[0] if isinstance(value, list) and value else value


def config(source: Path, onnx_path: Path, task: str) -> dict:
    """genai_config.json for the decoder written at `onnx_path` from the save_pretrained folder `source`."""
    import onnx

    if task != "text-generation-with-past":
        raise UsageError(f"--layout genai is for decoders with a KV cache, not {task}",
                         hint="--task text-generation-with-past (the default for *ForCausalLM folders)")
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    inputs = {i.name: i for i in graph.input}
    keys = sorted(n for n in inputs if n.startswith("past_key_values.") and n.endswith(".key"))
    if not keys:
        raise UsageError(f"{onnx_path}: no past_key_values inputs: --layout genai needs the KV-cache decoder")
    past = inputs[keys[0]].type.tensor_type.shape.dim  # [batch, kv_heads, past_sequence_length, head_dim]
    kv_heads, head_size = past[1].dim_value, past[3].dim_value
    values = inputs[keys[0][:-len("key")] + "value"].type.tensor_type.shape.dim
    if (values[1].dim_value, values[3].dim_value) != (kv_heads, head_size):  # MLA (DeepSeek-V2/V3)
        raise UnsupportedError(f"{onnx_path}: its cached keys are {kv_heads}x{head_size} and values "
                               f"{values[1].dim_value}x{values[3].dim_value}: ONNX Runtime GenAI takes one head_size",
                               hint="write the plain ONNX decoder (no --layout genai)")
    hf = _read(source / "config.json")
    hf = {**hf.get("text_config", {}), **hf}
    heads = hf.get("num_attention_heads") or hf.get("n_head") or kv_heads
    hidden = hf.get("hidden_size") or hf.get("n_embd") or heads * head_size
    generation = _read(source / "generation_config.json")
    eos = generation.get("eos_token_id", hf.get("eos_token_id"))
    pad = generation.get("pad_token_id", hf.get("pad_token_id"))
    context = hf.get("max_position_embeddings") or hf.get("n_positions") or 2048
    names = {"input_ids": "input_ids", "attention_mask": "attention_mask",
             "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"}
    if "position_ids" in inputs:
        names["position_ids"] = "position_ids"
    model = {"type": MODEL_TYPE, "vocab_size": int(hf.get("vocab_size") or 0), "context_length": int(context),
             "decoder": {"filename": onnx_path.name, "head_size": int(head_size), "hidden_size": int(hidden),
                         "num_attention_heads": int(heads), "num_hidden_layers": len(keys),
                         "num_key_value_heads": int(kv_heads), "inputs": names,
                         "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                                     "present_value_names": "present.%d.value"}}}
    vocab = model["vocab_size"]
    for key, value in (("bos_token_id", generation.get("bos_token_id", hf.get("bos_token_id"))),
                       ("eos_token_id", eos), ("pad_token_id", _first(pad if pad is not None else eos))):
        ids = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)]
        kept = [v for v in ids if 0 <= v < vocab or not vocab]  # GenAI refuses ids outside the vocabulary
        if kept:
            model[key] = kept if key == "eos_token_id" and len(kept) > 1 else kept[0]
    search = {"max_length": int(context), "past_present_share_buffer": False}
    for key, kind in SEARCH.items():
        if generation.get(key) is not None:
            search[key] = kind(generation[key])
    search["max_length"] = min(search["max_length"], int(context))
    return {"model": model, "search": search}


def write(folder: Path, source: Path, onnx_path: Path, task: str, check) -> dict:
    """Write genai_config.json, once `check(folder, partial_config, onnx_path, settings)` (loading the folder with
    onnxruntime-genai: verify/generation.py) has passed; what the report says."""
    settings = config(source, onnx_path, task)
    partial = folder / f".{CONFIG}.partial"
    partial.write_text(json.dumps(settings, indent=2))
    try:
        checked = check(folder, partial, onnx_path, settings)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, folder / CONFIG)
    return {"config": CONFIG, "checked": checked, "search": settings["search"]}
