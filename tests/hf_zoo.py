"""Tiny Hugging Face models built from configs (nothing downloaded), shared by the tests and the benchmarks.

`build(name)` returns a randomly initialised transformers model (seeded); `save(name, folder)` writes it with
save_pretrained. Each entry: (config class, model class, config overrides, the task modelport should detect).
"""

from __future__ import annotations

TEXT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64, initializer_range=0.2)  # 0.02 (the default) makes near-constant outputs
DECODER = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=128)

ZOO = {
    "bert": ("BertConfig", "BertForSequenceClassification", dict(TEXT, num_labels=3), "text-classification"),
    "bert-base": ("BertConfig", "BertModel", TEXT, "feature-extraction"),
    "roberta": ("RobertaConfig", "RobertaForTokenClassification", dict(TEXT, num_labels=5), "token-classification"),
    "distilbert": ("DistilBertConfig", "DistilBertForQuestionAnswering",
                   dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64),
                   "question-answering"),
    "bert-mlm": ("BertConfig", "BertForMaskedLM", TEXT, "fill-mask"),
    "bert-choice": ("BertConfig", "BertForMultipleChoice", TEXT, "multiple-choice"),
    # a causal LM that returns no cache (not configured as a decoder): exported without one, and said so
    "bert-lm": ("BertConfig", "BertLMHeadModel", TEXT, "text-generation"),
    "vit": ("ViTConfig", "ViTForImageClassification",
            dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, num_labels=4, initializer_range=0.2), "image-classification"),
    "swin": ("SwinConfig", "SwinForImageClassification",
             dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4,
                  num_labels=4), "image-classification"),
    "convnext": ("ConvNextConfig", "ConvNextForImageClassification",
                 dict(image_size=32, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=4),
                 "image-classification"),
    "whisper-encoder": ("WhisperConfig", "WhisperForAudioClassification",
                        dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                             decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=16,
                             max_source_positions=30, num_labels=3), "audio-classification"),
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2ForCTC",
                 dict(vocab_size=20, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                      conv_dim=(16, 16), conv_stride=(4, 2), conv_kernel=(8, 3), num_conv_pos_embeddings=8,
                      num_conv_pos_embedding_groups=2), "automatic-speech-recognition"),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                                   initializer_range=0.2), "text-generation-with-past"),
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(DECODER, initializer_range=0.2), "text-generation-with-past"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(DECODER, initializer_range=0.2), "text-generation-with-past"),
    # mixture of experts: transformers' grouped-mm op has no ONNX lowering without its own export fixes
    "mixtral": ("MixtralConfig", "MixtralForCausalLM",
                dict(DECODER, num_local_experts=4, num_experts_per_tok=2, initializer_range=0.2),
                "text-generation-with-past"),
}


def build(name: str, seed: int = 0):
    import torch
    import transformers

    config_cls, model_cls, overrides, _ = ZOO[name]
    torch.manual_seed(seed)
    config = getattr(transformers, config_cls)(**overrides)
    return getattr(transformers, model_cls)(config).eval()


def save(name: str, folder, seed: int = 0):
    model = build(name, seed)
    model.save_pretrained(str(folder))
    return model


ZOO["t5"] = ("T5Config", "T5ForConditionalGeneration",
             dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
                  relative_attention_num_buckets=8, initializer_factor=5.0, decoder_start_token_id=0),
             "text2text-generation")
ZOO["bart"] = ("BartConfig", "BartForConditionalGeneration",
               dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                    decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
                    init_std=0.2), "text2text-generation")
# a mixture-of-experts decoder that reads the encoder's states as a ModelOutput (router outputs and all)
ZOO["switch"] = ("SwitchTransformersConfig", "SwitchTransformersForConditionalGeneration",
                 dict(ZOO["t5"][2], num_experts=4, expert_capacity=64), "text2text-generation")
ZOO["bart-cls"] = ("BartConfig", "BartForSequenceClassification", dict(ZOO["bart"][2], num_labels=3),
                   "text-classification")
# speech and vision generation: random weights this large make greedy decoding vary its tokens
ZOO["whisper"] = ("WhisperConfig", "WhisperForConditionalGeneration",
                  dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                       decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=16,
                       max_source_positions=30, max_target_positions=64, decoder_start_token_id=1, pad_token_id=0,
                       eos_token_id=2, bos_token_id=1, init_std=0.5, suppress_tokens=[], begin_suppress_tokens=[]),
                  "automatic-speech-recognition")
ZOO["vit-gpt2"] = ("VisionEncoderDecoderConfig", "VisionEncoderDecoderModel",
                   dict(encoder=dict(model_type="vit", image_size=32, patch_size=8, hidden_size=32,
                                     num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                     initializer_range=0.2),
                        decoder=dict(model_type="gpt2", vocab_size=99, n_embd=24, n_layer=2, n_head=4, n_positions=64,
                                     add_cross_attention=True, is_decoder=True, bos_token_id=1, eos_token_id=2,
                                     initializer_range=1.0),
                        decoder_start_token_id=1, pad_token_id=0, eos_token_id=2),
                   "image-to-text")
# dual encoders: the text tower reads each row at its end-of-sequence id (3, inside the tiny vocabulary)
_TOWER = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
ZOO["clip"] = ("CLIPConfig", "CLIPModel",
               dict(text_config=dict(_TOWER, vocab_size=99, max_position_embeddings=32, eos_token_id=3, bos_token_id=1,
                                     initializer_factor=5.0),
                    vision_config=dict(_TOWER, image_size=32, patch_size=8, initializer_factor=5.0), projection_dim=16),
               "zero-shot-image-classification")
ZOO["siglip"] = ("SiglipConfig", "SiglipModel",
                 dict(text_config=dict(_TOWER, vocab_size=99, max_position_embeddings=16),
                      vision_config=dict(_TOWER, image_size=32, patch_size=8)), "zero-shot-image-classification")


def save_sentence_transformer(folder, pooling: str = "mean", normalize: bool = True, seed: int = 0):
    """A sentence-transformers folder as the library writes it (modules.json, 1_Pooling/, 2_Normalize/), built
    by hand so that the library is not needed to make one."""
    import json
    from pathlib import Path

    model = save("bert-base", folder, seed)
    folder = Path(folder)
    modules = [{"idx": 0, "name": "0", "path": "",
                "type": "sentence_transformers.base.modules.transformer.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.base.modules.normalize.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
        (folder / "2_Normalize" / "config.json").write_text("{}")
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"embedding_dimension": 32, "pooling_mode": pooling, "include_prompt": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer",
                                                              "model_max_length": 64}))
    return model


# detection, segmentation, depth: small backbones built in (no timm, nothing downloaded)
_SEGFORMER = dict(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                  num_attention_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2], decoder_hidden_size=16,
                  image_size=32, initializer_range=0.2)
ZOO["detr"] = ("DetrConfig", "DetrForObjectDetection",
               dict(use_timm_backbone=False, use_pretrained_backbone=False, backbone=None,
                    backbone_config=dict(model_type="resnet", embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                         layer_type="basic", out_features=["stage2"]),
                    d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                    decoder_attention_heads=2,
                    encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=5, num_labels=3, init_std=0.2,
                    init_xavier_std=5.0), "object-detection")
ZOO["segformer"] = ("SegformerConfig", "SegformerForSemanticSegmentation", dict(_SEGFORMER, num_labels=3),
                    "semantic-segmentation")
ZOO["glpn"] = ("GLPNConfig", "GLPNForDepthEstimation", _SEGFORMER, "depth-estimation")
# multi-head latent attention caches one compressed head: "keys" kv_lora_rank (24) wide, "values" the rotary
# part (8); no MoE layer (first_k_dense_replace)
ZOO["deepseek-v3"] = ("DeepseekV3Config", "DeepseekV3ForCausalLM",
                      dict(DECODER, num_key_value_heads=4, q_lora_rank=16, kv_lora_rank=24, qk_rope_head_dim=8,
                           qk_nope_head_dim=8, v_head_dim=12, head_dim=8, first_k_dense_replace=2,
                           moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, n_group=1,
                           topk_group=1, initializer_range=0.2), "text-generation-with-past")
# w2v-BERT: log-mel frames stacked in pairs, [batch, frames, 160] (feature_projection_input_dim)
ZOO["w2v-bert"] = ("Wav2Vec2BertConfig", "Wav2Vec2BertForCTC",
                   dict(vocab_size=20, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, output_hidden_size=32, conv_depthwise_kernel_size=3,
                        left_max_position_embeddings=16, right_max_position_embeddings=4),
                   "automatic-speech-recognition")
ZOO["phi"] = ("PhiConfig", "PhiForCausalLM", dict(DECODER, partial_rotary_factor=0.5, initializer_range=0.2),
              "text-generation-with-past")
