"""Sweep: every transformers architecture of the exported tasks, built from its default config made tiny,
saved with save_pretrained, and converted by `modelport convert DIR` (verification included).

    python benchmarks/hf_sweep.py [--groups decoders,encoders,...] [--budget SECONDS] [--json results.json]
                                  [--to onnx|openvino|executorch]

Groups (transformers' own auto mappings): decoders (causal LM, exported with the KV cache), text (sequence
classification), seq2seq (encoder + decoder files), image (image classification), audio (audio classification),
ctc (speech recognition), speech2seq (Whisper-style speech recognition: encoder + decoder files), detection,
segmentation (semantic and universal), depth, zeroshot (CLIP-style dual encoders; the task from the saved class
where the group names none). Each model is built and converted in a worker process, one at a time, with a time limit;
a worker that crashes or hangs is replaced and the model recorded as failed. Prints pass / fail / reason per
architecture and the pass rate per group. A config that cannot be made tiny (or whose model class cannot be built
from a config) is "not buildable", counted apart: it says nothing about modelport.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (paths, quiet TF)

GROUPS = {
    "decoders": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "text": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "seq2seq": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "image": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "audio": "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES",
    "ctc": "MODEL_FOR_CTC_MAPPING_NAMES",
    "speech2seq": "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
    "detection": "MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES",
    "segmentation": ("MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES", "MODEL_FOR_UNIVERSAL_SEGMENTATION_MAPPING_NAMES"),
    "depth": "MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES",
    "zeroshot": "MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES",
}
MULTI_FILE = ("seq2seq", "speech2seq")  # encoder_model.onnx + decoder files: -o DIR/
LIMIT = 240  # seconds per model

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
}
LAYER_LISTS = ("layer_types", "layers_block_type", "mlp_layer_types", "block_types", "attention_layers")
TASK = {"decoders": "text-generation-with-past", "text": "text-classification", "seq2seq": "text2text-generation",
        "image": "image-classification", "audio": "audio-classification", "ctc": "automatic-speech-recognition",
        "speech2seq": "automatic-speech-recognition", "detection": "object-detection",
        "segmentation": None, "depth": "depth-estimation", "zeroshot": "zero-shot-image-classification"}


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
        elif key == "image_size" and isinstance(value, int) and value > 64:
            out[key] = 64
    if layers:
        for key in LAYER_LISTS:
            if isinstance(values.get(key), list) and len(values[key]) == layers[0]:
                out[key] = values[key][:layers[1]]
        for key in LAYER_INDICES:  # the last layers, as many as were picked
            if isinstance(values.get(key), list) and values[key] and max(values[key]) > layers[1]:
                first = 0 if min(values[key]) == 0 else 1
                out[key] = list(range(layers[1] - len(values[key]) + first, layers[1] + first))
        if isinstance(values.get("out_features"), list) and "out_indices" in out:
            out["out_features"] = [f"stage{i}" for i in out["out_indices"]]
    vocab = out.get("vocab_size", values.get("vocab_size"))
    if isinstance(vocab, int):
        for key in TOKEN_IDS:
            if isinstance(values.get(key), int) and values[key] >= vocab:
                out[key] = vocab - 1
    return out


def tiny_config(transformers, model_type: str):
    """The default config of `model_type` made tiny through its constructor; failing that, in place."""
    cls = transformers.CONFIG_MAPPING[model_type]
    default = cls()
    try:
        return cls(**small_values(default.to_dict()))
    except Exception:
        return shrink(default)
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
    if getattr(config, "image_size", None) and isinstance(config.image_size, int) and config.image_size > 64:
        config.image_size = 64
    if depth < 2:
        for value in list(vars(config).values()):
            if hasattr(value, "to_dict") and hasattr(value, "model_type"):
                shrink(value, depth + 1)
    return config


def work() -> None:
    """Worker: one JSON job per stdin line -> one JSON result per stdout line."""
    import contextlib
    import io

    results = os.fdopen(os.dup(1), "w")  # answers go here; fd 1 (what libraries print, C code included) is dropped
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    import torch
    import transformers

    from modelport.commands.convert import convert
    from modelport.core.errors import ModelportError, one_line

    transformers.logging.set_verbosity_error()
    for line in sys.stdin:
        job = json.loads(line)
        result = {"model_type": job["model_type"], "cls": job["cls"], "group": job["group"]}
        folder = Path(job["dir"]) / job["model_type"]
        sink = io.StringIO()
        try:
            with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
                config = tiny_config(transformers, job["model_type"])
                torch.manual_seed(0)
                model = getattr(transformers, job["cls"])(config).eval()
                model.save_pretrained(str(folder))
                del model
        except Exception as exc:
            result.update(outcome="not buildable", reason=one_line(exc)[:200])
            print(json.dumps(result), file=results, flush=True)
            continue
        start = time.perf_counter()
        try:
            suffix = {"onnx": ".onnx", "openvino": ".xml", "executorch": ".pte"}[job.get("to", "onnx")]
            out = f"{folder}-out/" if job["group"] in MULTI_FILE else f"{folder}{suffix}"
            report = convert(folder, out, force=True, task=TASK[job["group"]])
            result.update(outcome="pass" if report.ok else "fail", route=report.route,
                          reason=None if report.ok else report.verification.summary())
            if report.ok and out.endswith(".onnx"):
                with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
                    result["broken"] = broken_verdict(folder, Path(out), TASK[job["group"]])
        except ModelportError as exc:
            result.update(outcome="fail", reason=f"exit {exc.exit_code}: {one_line(exc)[:600]}")
        except Exception as exc:
            result.update(outcome="fail", reason=f"internal: {one_line(exc)[:600]}")
        result["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(result), file=results, flush=True)


SIZES = {"batch": 2, "sequence_length": 8, "past_sequence_length": 3, "total_sequence_length": 11,
         "encoder_sequence_length": 8, "decoder_sequence_length": 8, "height": 64, "width": 64, "num_choices": 2}


def _feed(path: Path) -> dict:
    """Inputs for an ONNX file from its declared shapes alone (independent of modelport's generator)."""
    import numpy as np
    import onnxruntime as ort

    rng = np.random.default_rng(11)
    feed = {}
    for i in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs():
        shape = [d if isinstance(d, int) else (16000 if i.name == "input_values" else SIZES.get(d, 8))
                 for d in i.shape]
        if "mask" in i.name:
            feed[i.name] = np.ones(shape, np.int64)
        elif i.name == "position_ids":
            feed[i.name] = np.broadcast_to(np.arange(3, 3 + shape[-1]), shape).astype(np.int64)
        elif i.type == "tensor(int64)":
            feed[i.name] = rng.integers(0, 10, shape).astype(np.int64)
        else:
            feed[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feed


def broken_verdict(folder: Path, out: Path, task: str) -> str:
    """The largest weight x1.01 in a copy: "caught" by `modelport verify`, a "FALSE PASS", "not broken" (onnxruntime
    shows the copy within verification's default tolerance of the file on inputs drawn from the declared shapes)
    or "unmeasured" (those inputs do not run)."""
    import numpy as np
    import onnxruntime as ort

    from modelport.commands.verify import verify
    from tests.builders import scale_weight

    bad = out.with_name(out.stem + ".bad.onnx")
    try:
        scale_weight(out, bad)
    except ValueError:  # no float initializer: the TorchScript exporter keeps weights in Constant nodes
        return "unmeasured"
    try:
        feed = _feed(out)
        good, wrong = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)
                       for p in (out, bad))
    except Exception:  # noqa: BLE001
        return "unmeasured"
    # broken: beyond verification's own default tolerance somewhere (|b - a| > 1e-4 + 1e-3 |a|)
    if not any(bool(np.any(np.abs(b - a) > 1e-4 + 1e-3 * np.abs(a))) for a, b in zip(good, wrong)
               if a.dtype.kind == "f"):
        return "not broken"
    return "FALSE PASS" if verify(folder, bad, task=task).ok else "caught"


class Worker:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def ask(self, job: dict, limit: float) -> dict | None:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        if not self.sel.select(limit):
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def jobs(groups: list[str], root: str) -> list[dict]:
    from transformers.models.auto import modeling_auto

    lists = []
    for group in groups:
        mine = []
        names = GROUPS[group] if isinstance(GROUPS[group], tuple) else (GROUPS[group],)
        for model_type, cls in (item for name in names for item in getattr(modeling_auto, name).items()):
            cls = cls[0] if isinstance(cls, (list, tuple)) else cls
            if not any(j["model_type"] == model_type for j in mine):
                mine.append({"group": group, "model_type": model_type, "cls": cls, "dir": root})
        lists.append(mine)
    # groups taken in turn, so that a time budget cuts every group short rather than leaving some out
    return [job for row in itertools.zip_longest(*lists) for job in row if job is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--budget", type=float, default=4 * 3600, help="stop starting models after this long")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--shard", default="0/1", help="K/N: run every N-th model from the K-th (N processes)")
    parser.add_argument("--only", default="", help="comma-separated model types (config.model_type) to run")
    parser.add_argument("--to", default="onnx", choices=("onnx", "openvino", "executorch"),
                        help="target format (broken-copy verdicts are measured for ONNX only)")
    parser.add_argument("--summarise", nargs="*", type=Path,
                        help="only print the summary of these result files (a later file's row replaces an earlier's)")
    parser.add_argument("--retry", nargs="*", type=Path,
                        help="run only the models that did not pass (or were not built) in these result files")
    args = parser.parse_args()
    if args.summarise:
        summarise(merged(args.summarise))
        return
    settled = {(r["group"], r["model_type"]) for r in merged(args.retry or [])
               if r["outcome"] in ("pass", "not buildable")}
    shard, shards = (int(v) for v in args.shard.split("/"))
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        worker = Worker()
        todo = [j for j in jobs(args.groups.split(","), root) if (j["group"], j["model_type"]) not in settled
                and (not args.only or j["model_type"] in args.only.split(","))]
        for job in todo[shard::shards]:
            if time.perf_counter() - started > args.budget:
                results.append({**job, "outcome": "not run", "reason": "time budget"})
                continue
            answer = worker.ask({**job, "to": args.to}, LIMIT)
            if answer is None:
                worker.kill()
                worker = Worker()
                answer = {**job, "outcome": "fail", "reason": f"crashed or over {LIMIT} s"}
            answer.pop("dir", None)
            results.append(answer)
            print(f"{answer['group']:9s} {answer['model_type']:28s} {answer['outcome']:13s} "
                  f"{answer.get('route') or ''} {answer.get('reason') or ''}"[:220], flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
        worker.kill()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))  # with the rows a time budget left out
    summarise(results)


def merged(paths: list[Path]) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for path in paths:
        for row in json.loads(path.read_text()):
            rows[(row["group"], row["model_type"])] = row
    return list(rows.values())


def summarise(results: list[dict]) -> None:
    print("\ngroup      pass / converted-or-failed  (not buildable from a tiny default config; not run)")
    for group in GROUPS:
        rows = [r for r in results if r["group"] == group]
        if not rows:
            continue
        tried = [r for r in rows if r["outcome"] in ("pass", "fail")]
        passed = sum(r["outcome"] == "pass" for r in tried)
        rate = f"{passed / len(tried):.0%}" if tried else "-"
        print(f"{group:10s} {passed:3d} / {len(tried):3d} = {rate:>4s}   "
              f"({sum(r['outcome'] == 'not buildable' for r in rows)} not buildable, "
              f"{sum(r['outcome'] == 'not run' for r in rows)} not run)")
    verdicts = [r["broken"] for r in results if r.get("broken")]
    print(f"\nbroken copies (largest weight x1.01): {verdicts.count('caught')} caught, "
          f"{verdicts.count('FALSE PASS')} false passes, {verdicts.count('not broken')} not broken, "
          f"{verdicts.count('unmeasured')} unmeasured")
    for r in results:
        if r.get("broken") == "FALSE PASS":
            print(f"  FALSE PASS {r['group']} {r['model_type']}")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        work()
    else:
        main()
