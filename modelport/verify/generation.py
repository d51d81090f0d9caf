"""Verification of a generative decoder by what its users see, where elementwise tolerances do not fit (int4).

From several prompts (random token ids, or rows of `input_ids` from --data) the reference decodes greedily with
its KV cache; both models then read each prompt with those tokens in one pass (teacher forcing), and at every
generated position the check compares:
- top-1 agreement: the candidate's next token equals the reference's (the verdict: at least `min_agreement`);
- the logits' top-k overlap and cosine similarity;
- free-running greedy sequences that come out identical, per prompt;
- with --data holding token ids, perplexity of both models on those rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from modelport.core.errors import UnsupportedError, UsageError, VerificationRefused, one_line
from modelport.runtimes.onnx.decoder import Decoder

PROMPTS, PROMPT_LENGTH, STEPS, TOP_K = 8, 8, 16, 5


@dataclass
class GenerationResult:
    prompts: int
    steps: int
    agreement: float  # share of generated positions whose top-1 token agrees (teacher forced)
    min_agreement: float
    topk_overlap: float  # mean share of the reference's top-k in the candidate's top-k
    cosine: float  # mean cosine similarity of the logits
    cosine_min: float
    sequences_equal: int  # prompts whose free-running greedy sequence is identical
    perplexity: dict = field(default_factory=dict)  # {"reference": ..., "candidate": ..., "rows": n} with --data
    prompts_from: str = ""
    passed: bool = False
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def is_cached_decoder(path: str | Path) -> bool:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = {i.name for i in graph.input}
    return "input_ids" in names and any(n.startswith("past_key_values.") for n in names) and \
        any(o.name == "logits" for o in graph.output)


def decode_step(path: str | Path, context: int = 16):
    """A callable running one cached decode step (one new token after `context` cached ones): what per-token
    latency is."""
    model = Decoder(path)
    prompt = np.random.default_rng(0).integers(0, 2, (1, context)).astype(np.int64)
    _, past = model.step(prompt, None, 0)
    token = np.array([[1]], np.int64)
    return lambda: model.step(token, past, context)


def _prompts(data: str | Path | None, vocab: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(prompts, rows for perplexity, where they came from)."""
    if data is not None:
        try:
            ids = np.load(str(data), allow_pickle=False)["input_ids"]
        except (OSError, KeyError, ValueError) as exc:
            raise UsageError(f"{data}: needs an int array 'input_ids' [rows, tokens] for a decoder",
                             hint="np.savez(FILE, input_ids=tokenizer(texts)['input_ids'])") from exc
        if ids.ndim != 2 or ids.shape[1] < PROMPT_LENGTH + 2 or ids.min() < 0 or ids.max() >= vocab:
            raise UsageError(f"{data}: input_ids must be [rows, >= {PROMPT_LENGTH + 2} tokens] of ids below {vocab}")
        rows = [r[None].astype(np.int64) for r in ids[:PROMPTS]]
        return [r[:, :PROMPT_LENGTH] for r in rows], rows, f"{data} (input_ids, {len(rows)} rows)"
    rng = np.random.default_rng(seed)
    low = min(3, vocab - 1)  # above the usual pad / bos / eos ids
    prompts = [rng.integers(low, vocab, (1, PROMPT_LENGTH)).astype(np.int64) for _ in range(PROMPTS)]
    return prompts, [], f"generated: {PROMPTS} prompts of {PROMPT_LENGTH} token ids in [{low}, {vocab})"


def _perplexity(model: Decoder, rows: list[np.ndarray]) -> float:
    nll = []
    for row in rows:
        logits = model.read(row[:, :-1])
        logits -= logits.max(axis=-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        nll.extend(-logp[np.arange(row.shape[1] - 1), row[0, 1:]])
    return float(np.exp(np.mean(nll)))


def check_generation(reference: str | Path, candidate: str | Path, *, data: str | Path | None = None,
                     seed: int = 0, steps: int = STEPS, min_agreement: float = 0.9) -> GenerationResult:
    ref, cand = Decoder(reference), Decoder(candidate)
    vocab = int(ref.read(np.array([[0]], np.int64)).shape[-1])
    prompts, rows, origin = _prompts(data, vocab, seed)
    agree, overlap, cosines, equal = [], [], [], 0
    for prompt in prompts:
        tokens = ref.greedy(prompt, steps)
        equal += int(cand.greedy(prompt, steps) == tokens)
        ids = np.concatenate([prompt, np.array([tokens[:-1]], np.int64)], axis=1)
        start = prompt.shape[1] - 1  # the position that predicts the first generated token
        r, c = ref.read(ids)[start:], cand.read(ids)[start:]
        agree.extend(r.argmax(-1) == c.argmax(-1))
        top_r, top_c = np.argsort(-r, -1)[:, :TOP_K], np.argsort(-c, -1)[:, :TOP_K]
        overlap.extend(len(set(a) & set(b)) / TOP_K for a, b in zip(top_r, top_c))
        norms = np.linalg.norm(r, axis=-1) * np.linalg.norm(c, axis=-1)
        cosines.extend((r * c).sum(-1) / np.maximum(norms, 1e-30))
    result = GenerationResult(len(prompts), steps, float(np.mean(agree)), min_agreement, float(np.mean(overlap)),
                              float(np.mean(cosines)), float(np.min(cosines)), equal, prompts_from=origin)
    if rows:
        result.perplexity = {"reference": _perplexity(ref, rows), "candidate": _perplexity(cand, rows),
                             "rows": len(rows)}
    result.passed = result.agreement >= min_agreement
    if not result.passed:
        result.reason = (f"next-token agreement {result.agreement:.1%} is below {min_agreement:.1%} "
                         f"({len(prompts)} prompts x {steps} greedy tokens)")
    return result


GENAI_TOKENS = 8


def genai_check(folder: Path, partial: Path, onnx_path: Path, settings: dict) -> str:
    """Load a --layout genai folder (its config still at `partial`) with onnxruntime-genai; its greedy tokens must
    equal ONNX Runtime's on the same model.onnx, from two prompts. What the report says; raises otherwise."""
    try:
        import onnxruntime_genai as og
    except ImportError:
        return "not loaded: onnxruntime-genai is not installed (pip install 'modelport[genai]')"
    import os
    import tempfile

    vocab = settings["model"]["vocab_size"]
    prompts = [np.random.default_rng(seed).integers(min(3, vocab - 1), vocab, (1, 5 + seed)).astype(np.int64)
               for seed in range(2)]
    reference = Decoder(onnx_path)
    with tempfile.TemporaryDirectory(dir=folder) as view:  # GenAI reads genai_config.json from a folder
        for item in folder.iterdir():
            if item.is_file() and not item.name.startswith(".") and item.name != "genai_config.json":
                os.symlink(item.resolve(), Path(view) / item.name)
        os.symlink(partial.resolve(), Path(view) / "genai_config.json")
        try:
            model = og.Model(view)
        except Exception as exc:
            raise UnsupportedError(f"onnxruntime-genai cannot load the folder: {one_line(exc)}") from exc
        for prompt in prompts:
            got = _genai_greedy(og, model, prompt)
            expected = reference.greedy(prompt, GENAI_TOKENS)
            if got != expected:
                raise VerificationRefused(f"onnxruntime-genai's greedy tokens {got} differ from ONNX Runtime's "
                                          f"{expected} on the same model.onnx", hint="report this with the folder")
        del model
    return (f"onnxruntime-genai {og.__version__}: greedy tokens equal ONNX Runtime's ({GENAI_TOKENS} from "
            f"{len(prompts)} prompts)")


def _genai_greedy(og, model, prompt: np.ndarray) -> list[int]:
    params = og.GeneratorParams(model)
    length = prompt.shape[1] + GENAI_TOKENS
    params.set_search_options(do_sample=False, num_beams=1, max_length=length, min_length=length)
    generator = og.Generator(model, params)
    generator.append_tokens(prompt)
    while not generator.is_done():
        generator.generate_next_token()
    return [int(t) for t in generator.get_sequence(0)][prompt.shape[1]:]
