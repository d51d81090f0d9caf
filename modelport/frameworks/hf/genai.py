"""`--layout genai`: a decoder's folder as ONNX Runtime GenAI loads it (`onnxruntime_genai.Model(DIR)`).

Beside `model.onnx` (the KV-cache decoder modelport writes for `text-generation-with-past`, whose input and output
names GenAI takes as they are) and the tokenizer files copied from the source folder, `genai_config.json` holds
the model's shape facts and its search defaults from `generation_config.json`. The folder is then loaded with
onnxruntime-genai and its greedy tokens are checked against a greedy loop over the same model.onnx in ONNX
Runtime, before the config takes its final name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from modelport.core.errors import UnsupportedError, UsageError, VerificationRefused, one_line

CONFIG = "genai_config.json"
# GenAI's own per-architecture code paths assume layouts of their builder (GPT-2's: one past tensor per layer);
# "decoder" is its generic decoder-only model, which takes the names modelport writes
MODEL_TYPE = "decoder"
# generation_config.json field -> genai search option
SEARCH = {"do_sample": bool, "num_beams": int, "temperature": float, "top_k": int, "top_p": float,
          "repetition_penalty": float, "length_penalty": float, "no_repeat_ngram_size": int,
          "num_return_sequences": int, "min_length": int, "max_length": int, "early_stopping": bool}
CHECK_TOKENS = 8


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


def write(folder: Path, source: Path, onnx_path: Path, task: str) -> dict:
    """Write genai_config.json (checked with onnxruntime-genai when it is installed); what the report says."""
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


def check(folder: Path, partial: Path, onnx_path: Path, settings: dict) -> str:
    """Load the folder with onnxruntime-genai and compare its greedy tokens with a greedy loop in ONNX Runtime."""
    try:
        import onnxruntime_genai as og
    except ImportError:
        return "not loaded: onnxruntime-genai is not installed (pip install 'modelport[genai]')"
    import tempfile

    vocab = settings["model"]["vocab_size"]
    prompts = [np.random.default_rng(seed).integers(min(3, vocab - 1), vocab, (1, 5 + seed)).astype(np.int64)
               for seed in range(2)]
    with tempfile.TemporaryDirectory(dir=folder) as view:  # GenAI reads genai_config.json from a folder
        for item in folder.iterdir():
            if item.is_file() and not item.name.startswith(".") and item.name != CONFIG:
                os.symlink(item.resolve(), Path(view) / item.name)
        os.symlink(partial.resolve(), Path(view) / CONFIG)
        try:
            model = og.Model(view)
        except Exception as exc:
            raise UnsupportedError(f"onnxruntime-genai cannot load the folder: {one_line(exc)}") from exc
        for prompt in prompts:
            got = _genai_greedy(og, model, prompt)
            expected = _ort_greedy(onnx_path, prompt, settings)
            if got != expected:
                raise VerificationRefused(f"onnxruntime-genai's greedy tokens {got} differ from ONNX Runtime's "
                                        f"{expected} on the same model.onnx", hint="report this with the folder")
        del model
    return f"onnxruntime-genai {og.__version__}: greedy tokens equal ONNX Runtime's ({CHECK_TOKENS} from 2 prompts)"


def _genai_greedy(og, model, prompt: np.ndarray) -> list[int]:
    params = og.GeneratorParams(model)
    length = prompt.shape[1] + CHECK_TOKENS
    params.set_search_options(do_sample=False, num_beams=1, max_length=length, min_length=length)
    generator = og.Generator(model, params)
    generator.append_tokens(prompt)
    while not generator.is_done():
        generator.generate_next_token()
    return [int(t) for t in generator.get_sequence(0)][prompt.shape[1]:]


def _ort_greedy(onnx_path: Path, prompt: np.ndarray, settings: dict) -> list[int]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    decoder = settings["model"]["decoder"]
    past = {n: np.zeros((1, decoder["num_key_value_heads"], 0, decoder["head_size"]), np.float32)
            for n in inputs if n.startswith("past_key_values.")}
    ids, seen, tokens = prompt, 0, []
    names = [o.name for o in session.get_outputs()]
    for _ in range(CHECK_TOKENS):
        n = ids.shape[1]
        feed = {"input_ids": ids, "attention_mask": np.ones((1, seen + n), np.int64), **past}
        if "position_ids" in inputs:
            feed["position_ids"] = np.arange(seen, seen + n, dtype=np.int64)[None]
        out = dict(zip(names, session.run(None, feed)))
        tokens.append(int(out["logits"][0, -1].argmax()))
        past = {k.replace("present.", "past_key_values."): v for k, v in out.items() if k.startswith("present.")}
        seen, ids = seen + n, np.array([[tokens[-1]]], np.int64)
    return tokens
