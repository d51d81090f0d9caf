"""`--locate`: when outputs differ, find the first layer whose own error jumps, named in the source's terms.

Intermediate values of the source and the candidate are paired (PyTorch program nodes with the ONNX tensors the
dynamo exporter names after them; Keras layers with the tf2onnx nodes named after them; ONNX with ONNX by tensor
name) and compared a bounded group at a time. A k-ary search over the pairs in execution order narrows down to
the first one whose relative error crosses the geometric middle between float32 noise (the smallest error seen)
and the error at the outputs, assuming (as holds in feed-forward nets) that an error, once in, stays. Memory: at
most `group` extra values per side per run, never every tensor at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from modelport.core.formats import Format
from modelport.verify.compare import match_outputs

if TYPE_CHECKING:
    from modelport.core.model import Model, Tap

GROUP = 8


@dataclass
class Layer:
    layer: str
    op: str
    source_value: str
    candidate_value: str
    rel_error: float
    max_abs_error: float
    jump: float  # its error over the error of the closest compared value before it


@dataclass
class Located:
    found: bool
    note: str
    first: Layer | None = None
    next_worst: list[Layer] = field(default_factory=list)
    runs: int = 0
    compared: int = 0
    pairs: int = 0
    mapped_by: str = ""
    threshold: float | None = None
    curve: list[dict] = field(default_factory=list)  # every compared value in execution order: its errors

    def to_dict(self) -> dict:
        return asdict(self)


def pair_taps(source: Model, candidate: Model) -> tuple[list[tuple[Tap, Tap]], str]:
    src, cand = source.taps(), candidate.taps()
    by_key = {t.key: t for t in cand}
    if candidate.format is Format.OPENVINO and source.format is not Format.KERAS:
        from modelport.runtimes.openvino.taps import tensor_names

        by_name = {}
        for t in cand:
            for name in tensor_names(t):
                by_name.setdefault(name, t)
        return [(s, by_name[s.key]) for s in src if s.key in by_name], \
            "the source's value names kept in OpenVINO's tensor names"
    if source.format.framework == "torch":
        by_match = {}
        for t in cand:
            if t.match:
                by_match.setdefault(t.match, t)
        return [(s, by_match[s.match]) for s in src if s.match and s.match in by_match], \
            "the computations the PyTorch exporter recorded in each ONNX node"
    if source.format is Format.ONNX and candidate.format is Format.ONNX:
        # a QDQ-quantized graph: the value as the next layer sees it is the DequantizeLinear output (the quantizer
        # may drop a Relu before it, its zero point clipping instead)
        pick = {s.key: by_key.get(f"{s.key}_DequantizeLinear_Output") or by_key.get(s.key) for s in src}
        return [(s, pick[s.key]) for s in src if pick[s.key] is not None], "tensor names"
    if source.format.framework == "sklearn" and src:
        import re

        from modelport.frameworks.sklearn.taps import main_output

        # in execution order, each transformer takes the next `variable...`, each ColumnTransformer the next
        # `transformed_column...`; the final estimator, the model's own output
        final = next((c for c in cand if c.key == main_output(source)), None)
        pairs, pos = [], 0
        for s in src:
            if s.match == "output":
                if final is not None:
                    pairs.append((s, final))
                continue
            hit = next((i for i in range(pos, len(cand)) if cand[i] is not final
                        and re.fullmatch(rf"{s.match}\d*", cand[i].key)), None)
            if hit is not None:
                pairs.append((s, cand[hit]))
                pos = hit + 1
        return pairs, "pipeline steps in the order skl2onnx names their outputs"
    if source.format is Format.KERAS:
        import re

        # tf2onnx names nodes, the TFLite converter tensors, by TensorFlow scopes: model/layer/op, the layer name
        # maybe suffixed _N. A TFLite tensor lists every op fused into it ("a/bn/FusedBatchNorm;a/conv/Conv2D"),
        # the one computing its value first.
        tflite = candidate.format is Format.TFLITE
        pairs = []
        for s in src:
            scope = re.compile(rf"(^|/){re.escape(s.key)}(_\d+)?/")
            hits = [c for c in cand if s.match and c.match == s.match] or \
                [c for c in cand if scope.search(c.layer.split(";")[0] if tflite else c.layer)]
            if hits:
                pairs.append((s, hits[-1]))
        return pairs, f"Keras layer names in the {candidate.format} {'tensor' if tflite else 'node'} names"
    return [], ""


def _error(a: np.ndarray, b: np.ndarray, chunk: int = 1 << 18) -> tuple[float, float] | None:
    """(relative error, max abs error) of `b` against `a`, in float64 a chunk at a time (no full-size copies)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        if a.ndim == 4 and b.ndim == 4 and b.transpose(0, 2, 3, 1).shape == a.shape:
            b = b.transpose(0, 2, 3, 1)  # NCHW inside the ONNX graph, NHWC in Keras
        elif a.size == b.size and a.size:
            b = b.reshape(a.shape)
        else:
            return None
    a, b = a.reshape(-1), np.ascontiguousarray(b).reshape(-1)
    diff2 = ref2 = worst = 0.0
    for start in range(0, a.size, chunk):
        x, y = a[start:start + chunk].astype(np.float64), b[start:start + chunk].astype(np.float64)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return None
        d = x - y
        diff2, ref2 = diff2 + float(d @ d), ref2 + float(x @ x)
        worst = max(worst, float(np.abs(d).max(initial=0.0)))
    return math.sqrt(diff2) / (math.sqrt(ref2) + 1e-30), worst


def locate(source: Model, candidate: Model, feed: dict, group: int = GROUP, progress=lambda _: None) -> Located:
    try:
        pairs, how = pair_taps(source, candidate)
    except Exception as exc:
        return Located(False, f"cannot read intermediate values: {type(exc).__name__}: {exc}")
    if not pairs:
        return Located(False, f"no intermediate values of {source.format} could be matched with {candidate.format}")
    out_s, out_c = source.run(feed), candidate.run(feed)
    matched, _ = match_outputs(list(out_s), list(out_c), {k: v.shape for k, v in out_s.items()},
                               {k: v.shape for k, v in out_c.items()})
    finals = [e[0] for a, b in matched if b is not None and (e := _error(out_s[a], out_c[b])) is not None]
    final = max(finals, default=1.0)
    errors: dict[int, tuple[float, float]] = {}
    skipped: set[int] = set()
    runs = 0

    def evaluate(indices: list[int]) -> None:
        nonlocal runs
        progress(f"locating: comparing {len(indices)} intermediate values (run {runs + 1})")
        a = source.tap_values(feed, [pairs[i][0].key for i in indices])
        b = candidate.tap_values(feed, [pairs[i][1].key for i in indices])
        runs += 1
        for i in indices:
            e = _error(a[pairs[i][0].key], b[pairs[i][1].key]) if pairs[i][0].key in a and pairs[i][1].key in b \
                else None
            if e is None:
                skipped.add(i)
            else:
                errors[i] = e

    def spread(lo: int, hi: int) -> list[int]:
        """Up to `group` not-yet-seen indices spread over [lo, hi], hi included."""
        todo = [i for i in range(lo, hi + 1) if i not in errors and i not in skipped]
        if len(todo) <= group:
            return todo
        return sorted({todo[round(k * (len(todo) - 1) / (group - 1))] for k in range(group)})

    evaluate(spread(0, len(pairs) - 1))
    noise = max(min((e[0] for e in errors.values() if e[0] > 0), default=1e-9), 1e-9)
    threshold = math.sqrt(noise * max(final, noise))
    while True:
        bad = [i for i in sorted(errors) if errors[i][0] >= threshold]
        if not bad:
            return Located(False, "no intermediate value differs beyond float32 noise: the difference appears only "
                           "at the outputs (or in values that could not be compared)", runs=runs,
                           compared=len(errors), pairs=len(pairs), mapped_by=how, threshold=threshold)
        first = bad[0]
        good = max((i for i in errors if i < first), default=-1)
        todo = spread(good + 1, first - 1) if first - good > 1 else []
        if not todo:
            break
        evaluate(todo)

    quiet = min((e[0] for e in errors.values() if 0 < e[0] < threshold), default=1e-7)

    def layer(i: int) -> Layer:
        prev = max((j for j in errors if j < i), default=None)
        base = errors[prev][0] if prev is not None else quiet
        s, c = pairs[i]
        return Layer(s.layer, s.op, s.key, c.key, errors[i][0], errors[i][1], errors[i][0] / max(base, noise))

    found = layer(first)
    others = sorted((layer(i) for i in errors if i != first), key=lambda x: -x.jump)[:3]
    curve = [{"index": i, "layer": pairs[i][0].layer, "op": pairs[i][0].op, "rel_error": errors[i][0],
              "max_abs_error": errors[i][1]} for i in sorted(errors)]
    return Located(True, f"first value whose own error jumps above {threshold:.2g} (relative)", found, others, runs,
                   len(errors), len(pairs), how, threshold, curve)


def locate_failure(reference, candidate: Model, ok: bool, progress=lambda _: None) -> dict:
    """`--locate` after a verification: on its first case (at most 4 rows: enough to see an error, light on
    memory), or a note that there is nothing to locate."""
    if ok:
        return Located(False, "nothing to locate: the outputs match").to_dict()
    case = reference.cases_for(candidate)[0][0]
    rows = {len(v) for v in case.values() if getattr(v, "ndim", 0)}
    fixed = any(isinstance(s.shape[0], int) for s in candidate.inputs if s.shape)
    if len(rows) == 1 and rows.pop() > 4 and not fixed:
        case = {k: v[:4] for k, v in case.items()}
    try:
        return locate(reference.model, candidate, case, progress=progress).to_dict()
    except Exception as exc:  # a diagnostic must never turn a verdict into a crash
        return Located(False, f"could not locate: {type(exc).__name__}: {exc}").to_dict()


def damage(source: Model, candidate: Model, feed: dict, group: int = GROUP, top: int = 10) -> list[dict]:
    """Per-layer damage of a compressed ONNX model against its ONNX source: for every value both graphs hold,
    its relative error and the error it *adds* over the nearest compared values it is computed from (walking
    back through the source graph). Values are read `group` at a time. Sorted by added error, worst first;
    `node` is the candidate's node producing the value (what `--keep-float` leaves in float)."""
    from modelport.runtimes.onnx.taps import onnx_proto

    pairs, _ = pair_taps(source, candidate)
    errors: dict[str, float] = {}
    for start in range(0, len(pairs), group):
        chunk = pairs[start:start + group]
        a = source.tap_values(feed, [s.key for s, _ in chunk])
        b = candidate.tap_values(feed, [c.key for _, c in chunk])
        for s, c in chunk:
            e = _error(a[s.key], b[c.key]) if s.key in a and c.key in b else None
            if e is not None:
                errors[s.key] = e[0]
    producer = {out: node for node in onnx_proto(source).graph.node for out in node.output}
    cand_producer = {out: node for node in onnx_proto(candidate).graph.node for out in node.output}

    def incoming(tensor: str, seen: set) -> float:
        """The largest error among the nearest compared values `tensor` is computed from (0 at graph inputs)."""
        node = producer.get(tensor)
        worst = 0.0
        for name in (node.input if node is not None else []):
            if name in seen or not name:
                continue
            seen.add(name)
            worst = max(worst, errors[name] if name in errors else incoming(name, seen))
        return worst

    rows = []
    for s, c in pairs:
        if s.key not in errors:
            continue
        added = errors[s.key] - incoming(s.key, set())
        node = cand_producer.get(c.key)
        if node is not None and node.op_type == "DequantizeLinear":  # back to the quantized op computing it
            quant = cand_producer.get(node.input[0])
            if quant is not None and quant.op_type == "QuantizeLinear":
                node = cand_producer.get(quant.input[0])
        rows.append({"value": s.key, "layer": s.layer, "op": s.op, "rel_error": errors[s.key], "added": added,
                     "node": getattr(node, "name", ""), "node_op": getattr(node, "op_type", "")})
    rows.sort(key=lambda r: -r["added"])
    return rows[:top] if top else rows
