"""CLIP- and SigLIP-style dual encoders: a text tower and an image tower scored against each other.

`zero-shot-image-classification` (and `feature-extraction` of such a folder) exports the whole model, text and
image inputs in, `logits_per_image`, `logits_per_text`, `text_embeds` and `image_embeds` out (Optimum's names).
`zero-shot-image-classification:text` and `:vision` export one tower: `text_embeds` or `image_embeds`, the
projected embeddings users index and compare.
"""

from __future__ import annotations

import functools

from modelport.core.artifact import TensorSpec
from modelport.core.model import InputRule
from modelport.frameworks.hf import tasks as hf_tasks

TASK = "zero-shot-image-classification"
OUTPUTS = ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"]
TOWERS = {"text": "text_embeds", "vision": "image_embeds"}


def is_dual(config) -> bool:
    return getattr(config, "text_config", None) is not None and getattr(config, "vision_config", None) is not None


def specs(config, params: set[str], folder, part: str):
    """(input specs, rules): token ids (+ mask when the model takes one) and pixels at the tower's fixed size
    (its position embeddings are as many as its patches). Rows end with the end-of-sequence id, where a CLIP
    text tower reads each row (without it, at token 0: a causal tower's first token, which sees no other)."""
    text, rules = hf_tasks.text_specs(config.text_config, params, "feature-extraction")
    text = [s for s in text if s.name != "token_type_ids"]
    eos = getattr(config.text_config, "eos_token_id", None)
    low, high = rules["input_ids"].integers
    if isinstance(eos, int) and low <= eos < high and eos != 2:  # 2: old CLIP configs pool at the largest id
        rules["input_ids"].ends_with = eos
        rules["input_ids"].source += f", each row ending with the end-of-sequence id {eos}"
    image, image_rules = hf_tasks.image_specs(config, folder, dynamic=False)
    if not part:  # one image against many label texts: the two batches are sized apart (Optimum's axis names)
        text = [TensorSpec(s.name, ("text_batch_size", *s.shape[1:]), s.dtype) for s in text]
        image = [TensorSpec(s.name, ("image_batch_size", *s.shape[1:]), s.dtype) for s in image]
    chosen = {"text": text, "vision": image, "": text + image}[part]
    all_rules: dict[str, InputRule] = {**rules, **image_rules}
    return chosen, {s.name: all_rules[s.name] for s in chosen}


def outputs(part: str) -> list[str]:
    return [TOWERS[part]] if part else list(OUTPUTS)


@functools.cache
def module_class():
    import torch

    class DualEncoder(torch.nn.Module):
        """The whole model (part ""), or one tower's projected embeddings (part "text" / "vision")."""

        def __init__(self, model, part: str) -> None:
            super().__init__()
            self.model, self.part = model, part

        def forward(self, input_ids=None, attention_mask=None, pixel_values=None):
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "pixel_values": pixel_values}
            inputs = {k: v for k, v in given.items() if v is not None}
            if self.part == "text":
                return {"text_embeds": _tensor(self.model.get_text_features(**inputs))}
            if self.part == "vision":
                return {"image_embeds": _tensor(self.model.get_image_features(**inputs))}
            out = self.model(**inputs)
            return {name: out[name] for name in OUTPUTS}

    return DualEncoder


def _tensor(value):
    """get_text_features returns the embeddings (transformers 4.x) or an output whose pooler_output they are."""
    return getattr(value, "pooler_output", value)
