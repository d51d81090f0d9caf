"""nn.Modules around transformers models that take and return plain tensors in a fixed order, for export.

Their classes are built on first use (torch is imported only when a Hugging Face model is loaded).
"""

from __future__ import annotations

import functools
import inspect


def cache_argument(model) -> str:
    """transformers 5.2x names the forward's cache argument `cache`; earlier releases `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def returned_cache(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def unusable_cache(cache) -> str | None:
    """What keeps a returned cache from being passed as key/value tensors per layer (None: nothing): none at all,
    linear-attention or Mamba layers (states, no keys), or a DynamicCache subclass that keeps state of its own
    beside the layers (MiniMaxCache), which the model refuses to take as a plain DynamicCache."""
    if cache is None:
        return "no cache"
    name = type(cache).__name__
    if name != "DynamicCache" and any(c.__name__ == "DynamicCache" for c in type(cache).__mro__):
        return f"its own {name}"
    layers = getattr(cache, "layers", None) or [None]
    if not all(getattr(layer, "keys", None) is not None for layer in layers):
        return f"a {name} without per-layer keys/values"
    if any(hasattr(layer, "conv_states") for layer in layers):  # Falcon-H1: attention and Mamba in each layer
        return f"a {name} holding Mamba states beside the keys/values"
    return None


def is_cache(value) -> bool:
    """A transformers Cache object (DynamicCache, EncoderDecoderCache, ...) in a model's output."""
    return any(cls.__name__ == "Cache" for cls in type(value).__mro__)


def encoder_output(states):
    """The encoder's states as a ModelOutput: some decoders read `encoder_outputs.last_hidden_state` without
    converting a tuple first, a mixture-of-experts one its router outputs too (NLLB-MoE, SwitchTransformers:
    None here, which they read as no auxiliary loss), Moonshine the encoder's mask."""
    return _encoder_states()(last_hidden_state=states)


@functools.cache
def _encoder_states():
    from dataclasses import dataclass

    from transformers.modeling_outputs import BaseModelOutput

    @dataclass
    class EncoderStates(BaseModelOutput):
        router_logits: tuple | None = None
        router_probs: tuple | None = None
        attention_mask: object = None  # Moonshine: the encoder's downsampled mask (None: every frame counts)

    return EncoderStates


@functools.cache
def classes() -> dict:
    import torch

    class WithPast(torch.nn.Module):
        """model(inputs..., *past) -> (logits, *present): the cache as flat tensors, two per layer."""

        def __init__(self, model, names: list[str], layers: int) -> None:
            super().__init__()
            self.model, self.names, self.layers = model, list(names), layers

        def forward(self, *tensors):
            from transformers import DynamicCache

            n = len(self.names)
            inputs, past = dict(zip(self.names, tensors[:n])), tensors[n:]
            cache = DynamicCache(config=self.model.config)
            for i in range(self.layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(**inputs, **{cache_argument(self.model): cache}, use_cache=True)
            present = []
            for layer in returned_cache(out).layers:
                present += [layer.keys, layer.values]
            return (out.logits, *present)

    class NoCache(torch.nn.Module):
        """model(**inputs) without the cache object some return even with use_cache off (T5's classifiers: an
        EncoderDecoderCache, which torch.export cannot flatten): the other fields of its ModelOutput."""

        def __init__(self, model, names: list[str]) -> None:
            super().__init__()
            self.model, self.names = model, list(names)

        def forward(self, *tensors):  # positional: torch.export names dynamic axes after a forward's own arguments
            out = self.model(**dict(zip(self.names, tensors)))
            return {k: v for k, v in out.items() if not is_cache(v)}

    class Encoder(torch.nn.Module):
        """An encoder-decoder's encoder: its inputs (input_ids + attention_mask, input_features or pixel_values,
        in `names` order) -> last_hidden_state."""

        def __init__(self, model, names: list[str]) -> None:
            super().__init__()
            self.encoder, self.names = model.get_encoder(), list(names)

        def forward(self, *tensors):
            return self.encoder(**dict(zip(self.names, tensors))).last_hidden_state

    class Decoder(torch.nn.Module):
        """An encoder-decoder's decoder and LM head, first step: (input_ids, [encoder_attention_mask],
        encoder_hidden_states) -> (logits, then per layer the self-attention key/value and the cross-attention
        key/value the next steps take as their past). Encoders of audio and images take no mask."""

        def __init__(self, model, masked: bool) -> None:
            super().__init__()
            self.model, self.masked = model, masked

        def forward(self, input_ids, *rest):
            mask = {"attention_mask": rest[0]} if self.masked else {}
            out = self.model(decoder_input_ids=input_ids, encoder_outputs=encoder_output(rest[-1]), use_cache=True,
                             **mask)
            cache = returned_cache(out)
            present = []
            for own, cross in zip(cache.self_attention_cache.layers, cache.cross_attention_cache.layers):
                present += [own.keys, own.values, cross.keys, cross.values]
            return (out.logits, *present)

    class DecoderWithPast(torch.nn.Module):
        """The next steps: (input_ids, [encoder_attention_mask], *past) -> (logits, per layer the self-attention
        key/value with the new tokens). The cross-attention keys/values come in as past and are used as they are
        (the encoder's states are not needed again)."""

        def __init__(self, model, layers: int, width: int, masked: bool) -> None:
            super().__init__()
            self.model, self.layers, self.width, self.masked = model, layers, width, masked

        def forward(self, input_ids, *rest):
            from transformers import DynamicCache, EncoderDecoderCache

            mask, past = ({"attention_mask": rest[0]}, rest[1:]) if self.masked else ({}, rest)
            own, cross = DynamicCache(), DynamicCache()
            for i in range(self.layers):
                own.update(past[4 * i], past[4 * i + 1], i)
                cross.update(past[4 * i + 2], past[4 * i + 3], i)
            cache = EncoderDecoderCache(own, cross)
            # stands in for the encoder's states, which cached cross-attention never reads (only their shape:
            # batch and encoder length, as the cached cross-attention keys have them)
            key = past[2]
            states = torch.zeros(key.shape[0], key.shape[2], self.width, dtype=key.dtype)
            out = self.model(decoder_input_ids=input_ids, encoder_outputs=encoder_output(states), use_cache=True,
                             **mask, **{cache_argument(self.model): cache})
            present = []
            for layer in returned_cache(out).self_attention_cache.layers:
                present += [layer.keys, layer.values]
            return (out.logits, *present)

    return {"no-cache": NoCache, "with-past": WithPast, "encoder": Encoder, "decoder": Decoder,
            "decoder-with-past": DecoderWithPast}
