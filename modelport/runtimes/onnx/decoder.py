"""An ONNX decoder with a KV cache (modelport's layout: input_ids, attention_mask, [position_ids],
past_key_values.{i}.key/value in; logits, present.{i}.key/value out) run in ONNX Runtime: one step, a greedy
loop, one pass over a whole sequence."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Decoder:
    """One ONNX decoder (modelport's KV-cache layout) in ONNX Runtime."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]

    def step(self, ids: np.ndarray, past: dict | None, seen: int):
        """logits [1, n, vocab] and the new past for `ids` after `seen` cached tokens."""
        if past is None:
            past = {n: np.zeros((1, i.shape[1], 0, i.shape[3]), np.float32)
                    for n, i in self.inputs.items() if n.startswith("past_key_values.")}
        n = ids.shape[1]
        feed = {"input_ids": ids, "attention_mask": np.ones((1, seen + n), np.int64), **past}
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.arange(seen, seen + n, dtype=np.int64)[None]
        out = dict(zip(self.outputs, self.session.run(None, feed)))
        present = {k.replace("present.", "past_key_values."): v for k, v in out.items() if k.startswith("present.")}
        return out["logits"], present

    def greedy(self, prompt: np.ndarray, steps: int) -> list[int]:
        logits, past = self.step(prompt, None, 0)
        tokens, seen = [int(logits[0, -1].argmax())], prompt.shape[1]
        while len(tokens) < steps:
            logits, past = self.step(np.array([[tokens[-1]]], np.int64), past, seen)
            seen += 1
            tokens.append(int(logits[0, -1].argmax()))
        return tokens

    def read(self, ids: np.ndarray) -> np.ndarray:
        """logits at every position of `ids` [1, T], in one pass from an empty cache."""
        return self.step(ids, None, 0)[0][0].astype(np.float64)
