"""Tiny transformers models for the sweep: a default config made tiny (its constructor re-derives what depends on the
small values), and the gate that decides whether a model counts as tried: its own PyTorch forward must run on inputs
built here from the config alone, independently of modelport's input generator."""

from __future__ import annotations

SMALL = {
    **dict.fromkeys(("num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers",
                     "num_decoder_layers", "num_encoder_layers"), 2),
    **dict.fromkeys(("hidden_size", "d_model", "n_embd", "dim", "word_embed_proj_dim"), 64),
    **dict.fromkeys(("num_attention_heads", "n_head", "n_heads", "encoder_attention_heads",
                     "decoder_attention_heads"), 4),
    **dict.fromkeys(("intermediate_size", "d_ff", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "hidden_dim",
                     "n_inner", "moe_intermediate_size", "shared_expert_intermediate_size"), 64),
    "num_key_value_heads": 2, "head_dim": 16, "d_kv": 16, "num_experts": 4, "num_local_experts": 4,
    "n_routed_experts": 4, "num_experts_per_tok": 2, "embedding_size": 64, "projection_dim": 64,
    "rotary_dim": 8, "q_lora_rank": 16, "kv_lora_rank": 16, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8,
    "v_head_dim": 16, "n_group": 1, "topk_group": 1, "n_shared_experts": 1, "first_k_dense_replace": 1,
    "moe_intermediate_size": 64, "num_mel_bins": 16, "max_source_positions": 30, "projection_size": 64,
    "embedding_dim": 64, "attention_head_dim": 16, "linear_head_dim": 16, "linear_key_head_dim": 16,
    "linear_value_head_dim": 16, "linear_num_heads": 4, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
    "mamba_d_state": 16, "ssm_state_size": 16, "mamba_dt_rank": 8, "adapter_rank": 8, "mamba_d_ssm": 128,
    "num_experts_per_token": 2, "num_expert_group": 1, "n_groups": 1, "num_blocks": 2, "index_n_heads": 4,
    "index_head_dim": 16, "moe_shared_expert_intermediate_size": 64,
    **dict.fromkeys(("mamba_n_heads", "mamba_num_heads", "n_mamba_heads"), 4),
}
# a Mamba-2 mixer's heads times their width is expand x hidden_size (the config validates it)
MAMBA_HEADS = (("mamba_n_heads", "mamba_d_head"), ("mamba_num_heads", "mamba_head_dim"),
               ("n_mamba_heads", "mamba_headdim"))
# lists of layer numbers (which layers attend, which are hybrid)
LAYER_IDS = ("attn_layer_indices", "full_attn_idxs", "hybrid_layer_ids", "mlp_only_layers")
LAYER_LISTS = ("layer_types", "layers_block_type", "mlp_layer_types", "block_types", "attention_layers")
# a detector reads its backbone's stage widths from its own config (encoder_in_channels): keep the widths there
WIDTH_READERS = ("encoder_in_channels", "in_channels_list", "backbone_hidden_sizes")
# index lists into a backbone's layers (DPT-style necks read exactly this many hidden states)
LAYER_INDICES = ("out_indices", "backbone_out_indices")


def small_values(values: dict, keep_widths: bool = False) -> dict:
    """Overrides that make a config dict tiny (sub-config dicts too), passed to the constructor so that what it
    derives (layer types, head dims) is derived from the small values. A backbone keeps as many layers as the
    indices into them need (its last ones), and its stage widths when the parent reads them."""
    out = {}
    layers = None
    widths = keep_widths or any(key in values for key in WIDTH_READERS)
    picked = [v for key in LAYER_INDICES if isinstance(values.get(key), list) for v in values[key]]
    for key, value in values.items():
        if key in SMALL and isinstance(value, int) and not isinstance(value, bool) and value > SMALL[key]:
            out[key] = SMALL[key]
            if key in ("num_hidden_layers", "num_layers", "n_layer", "n_layers"):
                out[key] = max(SMALL[key], len(picked))
                layers = (value, out[key])
        elif isinstance(value, dict) and "model_type" in value:
            out[key] = {**value, **small_values(value, keep_widths=widths)}
        elif key == "depths" and isinstance(value, list):
            out[key] = [1] * len(value)
        elif key == "hidden_sizes" and isinstance(value, list) and not keep_widths:
            out[key] = [16 * (i + 1) for i in range(len(value))]
        elif key == "num_heads" and isinstance(value, list):
            out[key] = [2] * len(value)
        elif key == "vocab_size" and isinstance(value, int) and value > 1024:
            out[key] = 1024
        elif key == "vocab_size" and value is None:
            out[key] = 32
        elif key == "image_size" and isinstance(value, int) and value > 64 and not _windowed(values):
            out[key] = 64
    if layers:
        for key in LAYER_LISTS:  # a hybrid that defaults to Mamba only (Granite-4.0-H) gets an attention layer
            if isinstance(values.get(key), list) and set(values[key]) == {"linear_attention"}:
                values = {**values, key: values[key][:-1] + ["full_attention"]}
        kinds = max((len(dict.fromkeys(map(str, values[k]))) for k in LAYER_LISTS
                     if isinstance(values.get(k), list) and len(values[k]) == layers[0]), default=0)
        pattern = max((len(values[k]) for k in LAYER_LISTS  # a repeating pattern (RecurrentGemma): all of it
                       if isinstance(values.get(k), list) and len(values[k]) < layers[0]), default=0)
        kinds = max(kinds, pattern)
        if kinds > layers[1]:  # every kind of layer (attention, Mamba, MoE...) keeps one
            layers = (layers[0], kinds)
            out.update({k: kinds for k in ("num_hidden_layers", "num_layers", "n_layer", "n_layers") if k in out})
        for key in LAYER_LISTS:
            if isinstance(values.get(key), list) and len(values[key]) == layers[0]:
                out[key] = _kinds_kept(values[key], layers[1])
        for key in LAYER_INDICES:  # the last layers, as many as were picked
            if isinstance(values.get(key), list) and values[key] and max(values[key]) > layers[1]:
                first = 0 if min(values[key]) == 0 else 1
                out[key] = list(range(layers[1] - len(values[key]) + first, layers[1] + first))
        if isinstance(values.get("out_features"), list) and "out_indices" in out:
            out["out_features"] = [f"stage{i}" for i in out["out_indices"]]
    _consistent(values, out, layers)
    vocab = out.get("vocab_size", values.get("vocab_size"))
    if isinstance(vocab, int):
        for key in TOKEN_IDS:
            if isinstance(values.get(key), int) and values[key] >= vocab:
                out[key] = vocab - 1
    return out


def _windowed(values: dict) -> bool:
    """Swin-style stages attend within fixed windows: below its own image size the last stage's window outgrows the
    feature map, which transformers' Swin does not handle (a bias for 7x7 windows over 4x4)."""
    return isinstance(values.get("window_size"), int) and isinstance(values.get("depths"), list)


def _kinds_kept(kinds: list, n: int) -> list:
    """The first n entries of a per-layer list, its last ones replaced so that every kind it names stays."""
    kept = list(kinds[:n])
    missing = [k for k in dict.fromkeys(kinds) if k not in kept]
    if missing:
        kept[n - len(missing):] = missing
    return kept


def _consistent(values: dict, out: dict, layers: tuple | None) -> None:
    """Sizes the small values must keep consistent with each other: layer numbers within the new depth (a hybrid
    keeps an attention layer), periods and offsets too, MLA head widths, Mamba-2 heads x width = expand x hidden."""
    n = layers[1] if layers else None
    if n:
        for key in LAYER_IDS:
            ids = values.get(key)
            if isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids):
                out[key] = [i for i in ids if i < n] or [n - 1]
        if values.get("attn_layer_indices", 0) is None and "mamba_n_heads" in values:  # all Mamba: one attends
            out["attn_layer_indices"] = [n - 1]
        for key, value in values.items():
            if key.endswith("_period") and "layer" in key and isinstance(value, int) and value > n:
                out[key] = n
            elif key.endswith("_offset") and "layer" in key and isinstance(value, int) and value >= n:
                out[key] = n - 1
    if values.get("num_key_value_heads") == values.get("num_attention_heads") and "num_attention_heads" in out:
        out["num_key_value_heads"] = out["num_attention_heads"]  # multi-head stays multi-head (MLA needs it)
    if "qk_rope_head_dim" in values and values.get("head_dim") == values["qk_rope_head_dim"]:
        out["head_dim"] = out.get("qk_rope_head_dim", values["qk_rope_head_dim"])
    if isinstance(values.get("qk_head_dim"), int) and "qk_nope_head_dim" in values:
        out["qk_head_dim"] = (out.get("qk_nope_head_dim", values["qk_nope_head_dim"])
                              + out.get("qk_rope_head_dim", values.get("qk_rope_head_dim") or 0))
    if values.get("num_experts_per_tok", 0) is None and values.get("n_routed_experts"):  # DeepSeek-V2's default
        out["num_experts_per_tok"] = SMALL["num_experts_per_tok"]
    hidden = out.get("hidden_size", values.get("hidden_size"))
    expand = values.get("mamba_expand", values.get("expand", 2))
    inner = out.get("mamba_d_ssm") or (expand * hidden if isinstance(hidden, int) and isinstance(expand, int) else None)
    for heads, width in MAMBA_HEADS:
        if isinstance(values.get(width), int) and inner:
            out[width] = inner // out.get(heads, values.get(heads) or 1)


TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "sep_token_id",
             "cls_token_id", "mask_token_id", "unk_token_id")


def shrink(config, depth: int = 0):
    """Make a default config tiny in place: fewer, narrower layers; vocab <= 1024; sub-configs too."""
    for key, value in SMALL.items():
        current = getattr(config, key, None)
        if isinstance(current, int) and not isinstance(current, bool) and current > value:
            try:
                setattr(config, key, value)
            except Exception:
                pass
    for key in ("depths", "num_heads", "hidden_sizes", "layers_block_type", "layer_types"):
        current = getattr(config, key, None)
        if isinstance(current, (list, tuple)) and current and all(isinstance(v, int) for v in current):
            small = {"depths": 1, "num_heads": 2}.get(key)
            if key == "hidden_sizes":
                setattr(config, key, [16 * (i + 1) for i in range(len(current))])
            elif small:
                setattr(config, key, [small] * len(current))
        elif isinstance(current, (list, tuple)) and key in ("layers_block_type", "layer_types") and current:
            n = getattr(config, "num_hidden_layers", len(current))
            setattr(config, key, list(current)[:n])
    if hasattr(config, "vocab_size") and config.vocab_size is None:  # CTC heads need one
        config.vocab_size = 32
    vocab = getattr(config, "vocab_size", None)
    if isinstance(vocab, int) and vocab > 1024:
        config.vocab_size = 1024
        vocab = 1024
    if isinstance(vocab, int):
        for key in TOKEN_IDS:
            value = getattr(config, key, None)
            if isinstance(value, int) and value >= vocab:
                setattr(config, key, vocab - 1)
    if isinstance(getattr(config, "image_size", None), int) and config.image_size > 64 and not _windowed(vars(config)):
        config.image_size = 64
    if depth < 2:
        for value in list(vars(config).values()):
            if hasattr(value, "to_dict") and hasattr(value, "model_type"):
                shrink(value, depth + 1)
    return config


# image-to-text: VisionEncoderDecoderModel pairs (Donut is donut-swin + a BART-style decoder)
IMAGE_ENCODERS = ("vit", "deit", "beit", "swin", "donut-swin", "dinov2", "vit_msn")
TEXT_DECODERS = ("gpt2", "bert", "roberta", "trocr", "bart", "mbart", "electra")


def joined_config(transformers, pair: str):
    """A tiny VisionEncoderDecoderConfig for "encoder+decoder"."""
    encoder, decoder = (next(tiny_configs(transformers, t)) for t in pair.split("+"))
    if hasattr(encoder, "image_size") and not _windowed(encoder.to_dict()):
        encoder.image_size = 32
    decoder.is_decoder, decoder.add_cross_attention = True, True
    config = transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = decoder.bos_token_id if decoder.bos_token_id is not None else 1
    config.pad_token_id = decoder.pad_token_id if decoder.pad_token_id is not None else 0
    config.eos_token_id = decoder.eos_token_id
    return config


def tiny_configs(transformers, model_type: str):
    """Candidate tiny configs, smallest first: through the constructor, then shrunk in place."""
    if "+" in model_type:
        yield joined_config(transformers, model_type)
        return
    cls = transformers.CONFIG_MAPPING[model_type]
    for make in (lambda: cls(**small_values(cls().to_dict())), lambda: shrink(cls())):
        try:
            config = make()
        except Exception:  # noqa: BLE001
            continue
        yield config


def _find(config, names: tuple, default):
    """The first of `names` set on the config or one of its sub-configs (vision, audio, encoder, backbone)."""
    for part in (config, *(getattr(config, k, None) for k in SUBCONFIGS)):
        for name in names:
            value = getattr(part, name, None) if part is not None else None
            if value is not None and not isinstance(value, bool):
                return value
    return default


SUBCONFIGS = ("vision_config", "audio_config", "encoder", "encoder_config", "backbone_config", "text_config",
              "decoder")


def _ids(torch, config, batch: int, length: int):
    text = getattr(config, "text_config", None) or getattr(config, "decoder", None) or config
    vocab = getattr(text, "vocab_size", None) or getattr(config, "vocab_size", None) or 32
    ids = torch.randint(3, max(4, min(vocab, 100)), (batch, length), generator=torch.Generator().manual_seed(0))
    eos = getattr(text, "eos_token_id", None)
    if isinstance(eos, int) and eos < vocab:
        ids[:, -1] = eos  # encoder-decoder classifiers pool at the one end-of-sequence token of each row
    return ids


def _pixels(torch, config, batch: int, default: int = 64):
    size = _find(config, ("image_size", "img_size", "input_size"), default)
    size = list(size)[-2:] if isinstance(size, (list, tuple)) else [size, size]
    if isinstance(size[0], dict) or len(size) < 2:
        size = [64, 64]
    channels = _find(config, ("num_channels", "in_channels", "in_chans"), 3)
    channels = channels if isinstance(channels, int) else 3
    return torch.randn(batch, channels, *size)


def _audio(torch, model, config, batch: int):
    if model.main_input_name == "input_values":  # samples, or one channel of them (OmniASR)
        return [{"input_values": torch.randn(batch, 16000)}, {"input_values": torch.randn(batch, 1, 16000)}]
    width = _find(config, ("num_mel_bins", "input_feat_per_channel", "feature_size", "n_mels"), 80)
    stacked = _find(config, ("feature_projection_input_dim",), width)  # w2v-BERT stacks frames in pairs
    positions = _find(config, ("max_source_positions", "max_length"), None)
    frames = 2 * positions if isinstance(positions, int) and positions < 1600 else 64
    return [{"input_features": torch.randn(batch, width, frames)},
            {"input_features": torch.randn(batch, frames, width)},
            {"input_features": torch.randn(batch, frames, stacked)}]


def gate_inputs(torch, model, group: str):
    """Candidate inputs for the model's forward, from its config alone; the first that runs decides."""
    config = model.config
    for batch in (2, 1):
        ids = _ids(torch, config, batch, 8)
        text = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        start = torch.zeros(batch, 1, dtype=torch.long)
        if group in ("decoders", "text", "audio-llm"):
            yield text
            yield {"input_ids": ids}
        elif group == "seq2seq":
            yield {**text, "decoder_input_ids": start}
        elif group in ("audio", "ctc", "speech2seq"):
            extra = {"decoder_input_ids": start} if group == "speech2seq" else {}
            for audio in _audio(torch, model, config, batch):
                yield {**audio, **extra}
        elif group == "zeroshot":
            yield {**text, "pixel_values": _pixels(torch, config, batch)}
        elif group == "image-to-text":
            yield {"pixel_values": _pixels(torch, config, batch), "decoder_input_ids": start}
        elif model.main_input_name == "input_ids":  # ImageGPT: pixels as colour-cluster ids
            yield {"input_ids": ids}
        else:
            for size in (64, 224, 640):  # a detector's queries need enough anchors (RT-DETR: 300)
                yield {"pixel_values": _pixels(torch, config, batch, size)}


def forward_error(model, group: str) -> str | None:
    """None when the model's own forward runs on some inputs gate_inputs builds; else the first error."""
    import torch

    first = None
    with torch.no_grad():
        for inputs in gate_inputs(torch, model, group):
            try:
                model(**inputs)
                return None
            except Exception as exc:  # noqa: BLE001
                first = first or f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return first
