"""sentence-transformers folders (`modules.json`): the transformer, its pooling and normalisation in one graph.

The folder's `modules.json` lists a Transformer at the folder root, a Pooling module (`1_Pooling/config.json`)
and optionally Normalize. The export takes `input_ids` / `attention_mask` (/ `token_type_ids`) and returns
`token_embeddings` and `sentence_embedding`, the names sentence-transformers' own forward returns. The source it
is verified against is `sentence_transformers` itself when installed; otherwise the transformer's output pooled
in NumPy here (`numpy_embedding`), apart from the PyTorch pooling that is exported.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from modelport.core.errors import UnsupportedError, UsageError, one_line

MODES = ("cls", "mean", "max", "mean_sqrt_len_tokens", "lasttoken")
OUTPUTS = ["token_embeddings", "sentence_embedding"]


def is_sentence_folder(folder) -> bool:
    return (Path(folder) / "modules.json").is_file()


def read_plan(folder) -> tuple[str, bool]:
    """(pooling mode, normalise?) from modules.json; other modules (Dense, LayerNorm...) are refused by name."""
    folder = Path(folder)
    try:
        entries = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{folder}/modules.json: cannot read ({one_line(exc)})") from exc
    mode, normalize = None, False
    for entry in entries:
        kind = str(entry.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            if entry.get("path", "") not in ("", "."):
                raise UnsupportedError(f"{folder}: the Transformer module lives in {entry['path']}/",
                                       hint="convert that folder (its pooling is then left out)")
        elif kind == "Pooling":
            mode = pooling_mode(folder / entry.get("path", "1_Pooling") / "config.json")
        elif kind == "Normalize":
            normalize = True
        else:
            raise UnsupportedError(f"{folder}: the sentence-transformers module {kind} ({entry.get('path')}) is not "
                                   "exported yet (Transformer, Pooling and Normalize are)",
                                   hint="pass --task feature-extraction... and add the module after the model")
    if mode is None:
        raise UnsupportedError(f"{folder}/modules.json names no Pooling module")
    return mode, normalize


def pooling_mode(path: Path) -> str:
    """The mode of a Pooling config: `pooling_mode` (sentence-transformers 6) or one `pooling_mode_*` flag."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read ({one_line(exc)})") from exc
    mode = config.get("pooling_mode")
    if mode is None:
        flags = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                 "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                 "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
        on = [name for key, name in flags.items() if config.get(key)]
        if len(on) != 1:
            raise UnsupportedError(f"{path}: {len(on)} pooling modes on ({', '.join(on) or 'none'}); one is exported")
        mode = on[0]
    if isinstance(mode, list) or mode not in MODES:
        raise UnsupportedError(f"{path}: pooling mode {mode} is not exported yet", hint=f"modes: {', '.join(MODES)}")
    return mode


def numpy_embedding(hidden: np.ndarray, mask: np.ndarray, mode: str, normalize: bool) -> np.ndarray:
    """sentence-transformers' pooling, in float64 NumPy: the reference when the library is not installed."""
    hidden, weights = hidden.astype(np.float64), mask.astype(np.float64)[..., None]
    if mode == "cls":
        out = hidden[:, 0]
    elif mode == "max":
        out = np.where(weights > 0, hidden, -1e9).max(axis=1)
    elif mode == "lasttoken":
        last = np.maximum(mask.sum(axis=1) - 1, 0).astype(int)
        out = hidden[np.arange(len(hidden)), last]
    else:
        total, count = (hidden * weights).sum(axis=1), np.clip(weights.sum(axis=1), 1e-9, None)
        out = total / (np.sqrt(count) if mode == "mean_sqrt_len_tokens" else count)
    if normalize:
        out = out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
    return out.astype(np.float32)


@functools.cache
def module_class():
    import torch

    class Pooled(torch.nn.Module):
        """transformer -> (token_embeddings, sentence_embedding): the pooling and normalisation in the graph."""

        def __init__(self, model, names: list[str], mode: str, normalize: bool) -> None:
            super().__init__()
            self.model, self.names, self.mode, self.normalize = model, list(names), mode, normalize

        def forward(self, *tensors):
            inputs = dict(zip(self.names, tensors))
            hidden = self.model(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            if self.mode == "cls":
                out = hidden[:, 0]
            elif self.mode == "max":
                out = torch.where(mask > 0, hidden, torch.full_like(hidden, -1e9)).amax(dim=1)
            elif self.mode == "lasttoken":
                last = (inputs["attention_mask"].sum(dim=1) - 1).clamp(min=0)
                out = hidden[torch.arange(hidden.shape[0]), last]
            else:
                count = mask.sum(dim=1).clamp(min=1e-9)
                out = (hidden * mask).sum(dim=1) / (count.sqrt() if self.mode == "mean_sqrt_len_tokens" else count)
            if self.normalize:
                out = torch.nn.functional.normalize(out, p=2, dim=1)
            return hidden, out

    return Pooled


def prepare(model, specs) -> None:
    """Make an HFModel of a sentence-transformers folder export its pooling (and normalisation) in the graph."""
    from modelport.core.logs import quiet

    model.pooling = read_plan(model.path)
    if not any(s.name == "attention_mask" for s in specs):
        raise UnsupportedError(f"{model.path}: {model.architecture} takes no attention_mask to pool with")
    model.inputs, model.kwarg_names, model.varargs_from = specs, [], 0
    model.module = module_class()(model.hf_model, [s.name for s in specs], *model.pooling)
    model.outputs = list(OUTPUTS)
    with quiet("sentence_transformers", "transformers", "torch", "torchao"):
        model.library = library_reference(model.path)


def describe(model) -> dict:
    mode, normalize = model.pooling
    return {"pooling": mode, "normalize": normalize,
            "source_run": "sentence_transformers" if model.library is not None else "numpy pooling"}


def run(model, feed) -> dict:
    """The source's sentence embeddings, apart from the exported pooling: sentence_transformers' own forward,
    or the transformer's states pooled in NumPy."""
    import torch

    from modelport.core.model import cast_feed

    tensors = {s.name: torch.from_numpy(a.copy()) for s, a in zip(model.inputs, cast_feed(feed, model.inputs))}
    with torch.no_grad():
        if model.library is not None:
            out = model.library(dict(tensors))
            return {name: out[name].numpy() for name in OUTPUTS}
        hidden = model.hf_model(**tensors).last_hidden_state.numpy()
    embedding = numpy_embedding(hidden, np.asarray(feed["attention_mask"]), *model.pooling)
    return {"token_embeddings": hidden, "sentence_embedding": embedding}


def library_reference(folder):
    """sentence_transformers' own model of the folder, or None when the library is not installed."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    return SentenceTransformer(str(folder), device="cpu")
