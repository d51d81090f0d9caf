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
from _hf_tiny import IMAGE_ENCODERS, TEXT_DECODERS, forward_error, tiny_configs

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
    "image-to-text": None,  # VisionEncoderDecoderModel: every pair of IMAGE_ENCODERS x TEXT_DECODERS
    "audio-llm": None,  # the seq2seq mappings' decoder-only entries (Voxtral, Qwen2-Audio): what modelport says
}
MULTI_FILE = ("seq2seq", "speech2seq", "image-to-text")  # encoder_model.onnx + decoder files: -o DIR/
LIMIT = 240  # seconds per model

TASK = {"decoders": "text-generation-with-past", "text": "text-classification", "seq2seq": "text2text-generation",
        "image": "image-classification", "audio": "audio-classification", "ctc": "automatic-speech-recognition",
        "speech2seq": "automatic-speech-recognition", "detection": "object-detection",
        "segmentation": None, "depth": "depth-estimation", "zeroshot": "zero-shot-image-classification",
        "image-to-text": "image-to-text", "audio-llm": None}


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
                model, built = None, RuntimeError("no tiny config")
                for config in tiny_configs(transformers, job["model_type"]):  # the first whose forward runs
                    torch.manual_seed(0)
                    try:
                        candidate = getattr(transformers, job["cls"])(config).eval()
                    except Exception as exc:  # noqa: BLE001
                        built = exc
                        continue
                    error = forward_error(candidate, job["group"])
                    if model is None or error is None:
                        model, result["forward"] = candidate, error or "ok"
                    if error is None:
                        break
                if model is None:
                    raise built
                model.save_pretrained(str(folder))
                del model, candidate
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
        if result["outcome"] == "fail" and result["forward"] != "ok":  # not a model modelport was given
            result.update(outcome="forward fails", reason=f"its own forward fails: {result['forward']}",
                          modelport=result["reason"])
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
        shape = [d if isinstance(d, int) else (16000 if (i.name, d) == ("input_values", "sequence_length")
                                               else SIZES.get(d, 8)) for d in i.shape]
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
    import transformers
    from transformers.models.auto import modeling_auto

    lists = {group: [] for group in groups}
    sources = [*groups, *(("seq2seq", "speech2seq") if "audio-llm" in groups else ())]
    for group in dict.fromkeys(sources):
        if group == "image-to-text":
            lists[group] += [{"group": group, "model_type": f"{e}+{d}", "cls": "VisionEncoderDecoderModel", "dir": root}
                            for e in IMAGE_ENCODERS for d in TEXT_DECODERS]
        names = GROUPS[group] if isinstance(GROUPS[group], tuple) else (GROUPS[group],)  # (None,): built above
        for model_type, cls in (item for name in names if name for item in getattr(modeling_auto, name).items()):
            cls = cls[0] if isinstance(cls, (list, tuple)) else cls
            mine = group
            if group in ("seq2seq", "speech2seq") and not _encoder_decoder(transformers, model_type):
                mine = "audio-llm"  # a decoder reading audio: not an encoder-decoder task
            if mine in lists and not any(j["model_type"] == model_type for j in lists[mine]):
                lists[mine].append({"group": mine, "model_type": model_type, "cls": cls, "dir": root})
    # groups taken in turn, so that a time budget cuts every group short rather than leaving some out
    return [job for row in itertools.zip_longest(*lists.values()) for job in row if job is not None]


def _encoder_decoder(transformers, model_type: str) -> bool:
    try:
        return bool(transformers.CONFIG_MAPPING[model_type]().is_encoder_decoder)
    except Exception:  # noqa: BLE001  (a config with no default: let the build say so)
        return True


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
    print("\ngroup      pass / tried  (not tried: not buildable from a tiny default config; its own PyTorch forward "
          "fails on the sweep's inputs and modelport fails too; not run)")
    for group in GROUPS:
        rows = [r for r in results if r["group"] == group]
        if not rows:
            continue
        tried = [r for r in rows if r["outcome"] in ("pass", "fail")]
        passed = sum(r["outcome"] == "pass" for r in tried)
        rate = f"{passed / len(tried):.0%}" if tried else "-"
        print(f"{group:10s} {passed:3d} / {len(tried):3d} = {rate:>4s}   "
              f"({sum(r['outcome'] == 'not buildable' for r in rows)} not buildable, "
              f"{sum(r['outcome'] == 'forward fails' for r in rows)} forward fails, "
              f"{sum(r['outcome'] == 'not run' for r in rows)} not run)")
    verdicts = [r["broken"] for r in results if r.get("broken")]
    print(f"\nbroken copies (largest weight x1.01): {verdicts.count('caught')} caught, "
          f"{verdicts.count('FALSE PASS')} false passes, {verdicts.count('not broken')} not broken, "
          f"{verdicts.count('unmeasured')} unmeasured")
    print("\nfailures:")
    for r in sorted(results, key=lambda r: (r["group"], r["model_type"])):
        if r["outcome"] == "fail":
            print(f"  {r['group']:12s} {r['model_type']:26s} {r.get('reason') or ''}"[:240])
    for r in results:
        if r.get("broken") == "FALSE PASS":
            print(f"  FALSE PASS {r['group']} {r['model_type']}")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        work()
    else:
        main()
