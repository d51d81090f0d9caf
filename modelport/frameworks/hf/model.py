"""Hugging Face `save_pretrained` folders (config.json + safetensors or pytorch_model.bin), loaded for a task.

The folder becomes a `TorchModel` whose module takes the task's inputs by their Hugging Face names and returns
the `ModelOutput` fields (`logits`, `last_hidden_state`, ...), so the PyTorch routes export it unchanged. A
decoder loaded for `text-generation-with-past` is wrapped so that its KV cache is plain tensors:
`past_key_values.{i}.key/.value` in, `present.{i}.key/.value` out, the names ONNX Runtime consumers use.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UnsafeError, UnsupportedError, UsageError, one_line, require
from modelport.core.formats import Format
from modelport.core.logs import quiet
from modelport.core.model import GENERATED_SIZES, InputRule, ending_with
from modelport.frameworks.hf import dual, sentence
from modelport.frameworks.hf import modules as hf_modules
from modelport.frameworks.hf import tasks as hf_tasks
from modelport.frameworks.torch.model import EXAMPLE_BATCH, EXAMPLE_DIM, TorchModel
from modelport.frameworks.torch.outputs import output_names

EXAMPLE_PAST = 4  # traced past length: not 0 or 1 (torch.export specialises those), not the sequence length
PAST_SIZES = (8, 0)  # verified past lengths: a decode step over a cache, and the prefill step (empty past)
_LOGGERS = ("transformers", "torch", "torchao")


def read_config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}/config.json: cannot read ({one_line(exc)})", hint="re-save with save_pretrained") \
            from exc


def load(path, *, trust: bool, task: str | None, input_specs=()) -> HFModel:
    """Load a save_pretrained folder for `task`; `input_specs` (--input) fix the sizes of the inputs they name."""
    path = Path(path)
    config = read_config(path)
    if config.get("auto_map") and not trust:
        raise UnsafeError(f"{path}: the model's code lives in the folder (auto_map: trust_remote_code)",
                          hint="pass --trust if you trust the Python files in this folder")
    derived = hf_tasks.task_from_config(config, path) if not task else _saved_task(config, path)
    task = hf_tasks.check_task(task) if task else derived
    base, _, part = task.partition(":")
    if hf_tasks.parts(base, config) and not part:
        parts = " or ".join(f"--task {base}:{p}" for p in hf_tasks.parts(base, config).values())
        raise UsageError(f"{path}: {base} is several models; name one", hint=f"{parts} (convert -o DIR/ writes all)")
    with quiet(*_LOGGERS):  # importing transformers logs torchao's load failures and pytree deprecations
        transformers = require("transformers", "transformers", "read Hugging Face models")
    torch = require("torch", "torch", "read Hugging Face models")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        with quiet(*_LOGGERS):  # the class's module is imported here: torchao logs its load failures
            auto_name = hf_tasks.SEQ2SEQ_CLASSES.get(base, hf_tasks.TASKS[base]) if part else hf_tasks.TASKS[base]
            auto = _saved_class(transformers, config, derived == base) or getattr(transformers, auto_name)
            model = auto.from_pretrained(str(path), trust_remote_code=trust, dtype=torch.float32).eval()
    except Exception as exc:
        raise UsageError(f"{path}: transformers cannot load it for {task} ({one_line(exc)})",
                         hint="check --task, or that the folder was written by save_pretrained") from exc
    refined = hf_tasks.refine_task(task, hf_tasks.main_input(model))
    hf = HFModel(path, model, refined, config.get("architectures", [type(model).__name__])[0],
                 transformers.__version__, input_specs)
    hf.notes += hf_tasks.towers_left_out(config, base)  # a multimodal folder's decoder: the text part only
    return hf


def _saved_task(config: dict, path) -> str | None:
    try:
        return hf_tasks.task_from_config(config, path)
    except UsageError:
        return None


def _saved_class(transformers, config: dict, implied: bool):
    """The class that saved the folder (`architectures[0]`), when the task is the one it implies and transformers
    has it: a task's Auto class builds another class for some (T5EncoderModel's config makes AutoModel build
    the whole encoder-decoder T5Model, which then wants decoder inputs)."""
    archs = config.get("architectures") or []
    cls = getattr(transformers, archs[0], None) if implied and archs and not config.get("auto_map") else None
    return cls if cls is not None and hasattr(cls, "from_pretrained") else None


class HFModel(TorchModel):
    """A transformers model as a TorchModel: named inputs, ModelOutput fields as outputs."""

    def __init__(self, path: Path, hf_model, task: str, architecture: str, version: str, given=()) -> None:
        import torch

        self.path, self.format, self.program = path, Format.TRANSFORMERS, None
        self.task, self.architecture, self.transformers_version = task, architecture, version
        self.framework_version = f"torch {torch.__version__}, transformers {version}"
        self.hf_model = hf_model
        self.notes: list[str] = []  # what the report should say about how the model was read
        self.pooling, self.library = None, None  # a sentence-transformers folder's (mode, normalise), its library
        config = hf_model.config
        params = set(inspect.signature(hf_model.forward).parameters)
        main = hf_tasks.main_input(hf_model)
        if main == "pixel_values":  # an image encoder's half of an encoder-decoder: at its own size
            layouts = [hf_tasks.image_specs(config, path, dynamic=":" not in task)]
        elif main in ("input_values", "input_features"):
            layouts = hf_tasks.audio_specs(config, main)
        else:
            layouts = [hf_tasks.text_specs(config, params, task)]
        specs, self.rules = layouts[0]
        specs = hf_tasks.with_sizes(specs, given)
        self.positions = int(hf_tasks.config_value(config, "max_position_embeddings", "n_positions", default=0) or 0)
        self.dim_bounds = {"sequence_length": self.positions} if self.positions and main == "input_ids" else {}
        self.varargs_from = None  # index of the first input the module takes as *args (the KV cache)
        base, _, part = task.partition(":")
        if dual.is_dual(config) and base in (dual.TASK, "feature-extraction"):
            self._dual(torch, params, part, given)
        elif base == "feature-extraction" and sentence.is_sentence_folder(path):
            sentence.prepare(self, specs)
            self._run_example(torch)
        elif task == "text-generation-with-past":
            self._wrap_past(torch, specs, params)
        elif ":" in task:  # one half of an encoder-decoder
            self._wrap_seq2seq(torch, specs, task.partition(":")[2], [(hf_tasks.with_sizes(lay, given), rules)
                                                                       for lay, rules in layouts])
        else:
            text = config.get_text_config() if hasattr(config, "get_text_config") else config  # Qwen3.5: its own
            if task == "text-classification" and getattr(text, "pad_token_id", 0) is None:
                self._set_pad_token(text)
            if task == "text-classification" and getattr(config, "is_encoder_decoder", False):
                self._end_rows(config)
            errors = []
            for layout, rules in layouts:  # an audio input's other layouts, when the first fails
                self.rules = rules
                try:
                    self._plain(torch, hf_tasks.with_sizes(layout, given))
                    break
                except UnsupportedError as exc:
                    errors.append(exc)
            else:
                raise errors[0]
            if main == "pixel_values":
                self._check_image_sizes(torch, config, given)

    def _check_image_sizes(self, torch, config, given) -> None:
        """Dynamic height and width only when the model takes a second size: a convolution stack does, a ViT's
        position embeddings do not. Fixed, with a note saying at which size and why, otherwise."""
        spec = next(s for s in self.inputs if s.name == "pixel_values")
        if isinstance(spec.shape[2], int):
            return
        other = self.rules["pixel_values"].sizes[1]
        height, width, where = hf_tasks.image_size(config, self.path)
        pooled = adaptive_pools(torch, self.hf_model)
        if pooled:
            # ONNX has no adaptive pooling: the exporters lower it to windows computed at the traced size (UperNet's
            # pyramid pooling: dynamo's file failed at the second size, TorchScript refuses non-factor sizes)
            self.notes.append(f"pixel_values is fixed at {height}x{width} ({where}): {self.architecture} pools to "
                              f"fixed grids ({pooled}), which ONNX lowers to windows of the exported size")
        elif getattr(config, "window_size", None):
            # Swin-style windowed attention pads each stage to whole windows: eager PyTorch takes any size, but
            # the exporters record the padding at the traced size (measured: SwinV2's dynamic dynamo file failed
            # at the second size, 80 s of export before the fixed-size route)
            self.notes.append(f"pixel_values is fixed at {height}x{width} ({where}): {self.architecture} pads its "
                              f"windowed attention (window_size {config.window_size}) to the size it is exported at")
        else:
            x = torch.randn(EXAMPLE_BATCH, spec.shape[1], other, other, generator=torch.Generator().manual_seed(0))
            try:
                with torch.no_grad(), quiet(*_LOGGERS):
                    self.module(pixel_values=x)
                return
            except Exception as exc:
                self.notes.append(f"pixel_values is fixed at {height}x{width} ({where}): {self.architecture} "
                                  f"fails at {other}x{other} ({one_line(exc)})")
        specs, self.rules = hf_tasks.image_specs(config, self.path, dynamic=False)
        self._plain(torch, hf_tasks.with_sizes(specs, given))

    def _dual(self, torch, params, part: str, given) -> None:
        """A CLIP-style model whole (text and pixels in, both embeddings and the scores out), or one tower."""
        self.task = f"{dual.TASK}:{part}" if part else dual.TASK
        specs, self.rules = dual.specs(self.hf_model.config, params, self.path, part)
        self.inputs = hf_tasks.with_sizes(specs, given)
        self.module, self.kwarg_names = dual.module_class()(self.hf_model, part), [s.name for s in self.inputs]
        self.outputs = dual.outputs(part)
        self._run_example(torch)

    def _run_example(self, torch) -> None:
        """The wrapped module runs on the traced example inputs (or the folder is refused, naming them)."""
        args, kwargs = self.example_inputs()
        try:
            with torch.no_grad(), quiet(*_LOGGERS):
                self.module(*args, **kwargs)
        except Exception as exc:
            raise example_failed(self, exc) from exc

    def _end_rows(self, config) -> None:
        """An encoder-decoder classifier (BART, mBART, MT5) reads each row at its end-of-sequence token and refuses
        rows without exactly one (as many in every row): generated rows end with it, as a tokenizer's do."""
        eos = getattr(config, "eos_token_id", None)
        eos = eos[0] if isinstance(eos, list) and eos else eos
        rule = self.rules.get("input_ids")
        if eos is None or rule is None:
            return
        rule.ends_with = int(eos)
        rule.source += f", each row ending with the end-of-sequence id {eos} (config.eos_token_id)"

    def _set_pad_token(self, config) -> None:
        """A decoder-based sequence classifier scores each row at its last non-padding token, and refuses
        batches of several rows without a pad token id: use the end-of-sequence id, as tokenizers usually do."""
        eos = getattr(config, "eos_token_id", None)
        config.pad_token_id = (eos[0] if isinstance(eos, list) and eos else eos) if eos is not None else 0
        self.notes.append(f"config.json sets no pad_token_id: {config.pad_token_id} "
                          f"{'(eos)' if eos is not None else '(there is no eos either)'} is used, so that "
                          "batches of several rows are scored at each row's last non-padding token")

    def _plain(self, torch, specs) -> None:
        """The model itself, called with keyword inputs; outputs named after its ModelOutput fields."""
        if hasattr(self.hf_model.config, "use_cache"):
            self.hf_model.config.use_cache = False
        self.module, self.inputs, self.kwarg_names = self.hf_model, specs, [s.name for s in specs]
        args, kwargs = self.example_inputs()
        try:
            with torch.no_grad(), quiet(*_LOGGERS):
                out = self.module(*args, **kwargs)
        except Exception as exc:
            raise example_failed(self, exc) from exc
        if any(hf_modules.is_cache(v) for v in getattr(out, "values", list)()):
            self.module = hf_modules.classes()["no-cache"](self.hf_model, self.kwarg_names)
            self.kwarg_names, self.varargs_from = [], 0
        self.outputs = output_names(out)

    def _wrap_past(self, torch, specs, params) -> None:
        """Find the cache layout by running once with a cache, then wrap the model to take it as tensors."""
        positions = self.positions or 512
        specs = [s if s.name != "attention_mask" else TensorSpec(s.name, ("batch", "total_sequence_length"), s.dtype)
                 for s in specs]
        if "attention_mask" in self.rules:
            self.rules["attention_mask"].sizes = tuple(p + s for p, s in zip(PAST_SIZES, GENERATED_SIZES))
        if "position_ids" in params:
            specs.append(TensorSpec("position_ids", ("batch", "sequence_length"), "int64"))
            self.rules["position_ids"] = InputRule(f"positions in [0, {positions})", integers=(0, positions))
        self.module, self.inputs, self.kwarg_names = self.hf_model, specs, [s.name for s in specs]
        args, kwargs = self.example_inputs(past=False)
        try:
            with torch.no_grad(), quiet(*_LOGGERS):
                out = self.hf_model(**kwargs, use_cache=True)
        except Exception as exc:
            raise example_failed(self, exc) from exc
        cache = hf_modules.returned_cache(out)
        if kind := hf_modules.unusable_cache(cache):
            self.notes.append(f"{self.architecture} returns {kind}: exported as text-generation (no KV cache)")
            self.task = "text-generation"
            self.rules.pop("position_ids", None)
            if "attention_mask" in self.rules:
                self.rules["attention_mask"].sizes = None
            self._plain(torch, [TensorSpec(s.name, ("batch", "sequence_length"), s.dtype)
                                if s.name == "attention_mask" else s for s in specs if s.name != "position_ids"])
            return
        layers = [tuple((int(t.shape[1]), int(t.shape[3])) for t in (layer.keys, layer.values))
                  for layer in cache.layers]
        past = hf_tasks.past_specs(layers)
        for spec in past:
            self.rules[spec.name] = InputRule("cached keys/values: N(0, 1)", mean=0.0, std=1.0,
                                                       sizes=PAST_SIZES)
        self.module = hf_modules.classes()["with-past"](self.hf_model, [s.name for s in specs], len(layers))
        self.varargs_from, self.kwarg_names = 0, []
        self.inputs = specs + past
        self.outputs = ["logits"] + hf_tasks.present_names(len(layers))

    def _wrap_seq2seq(self, torch, specs, part: str, layouts) -> None:
        """One half of an encoder-decoder: the encoder over its own inputs (text, log-mel features, pixels: the
        first layout its forward takes), or the decoder + LM head over the encoder's states. Only a text
        encoder's mask goes to the decoder."""
        config = self.hf_model.config
        if hasattr(config, "use_cache"):
            config.use_cache = False
        main = hf_tasks.main_input(self.hf_model)
        masked = main == "input_ids"
        self.kwarg_names, self.varargs_from = [], 0  # forward(*tensors)
        failures = []
        for layout, rules in layouts if not masked else [(specs, self.rules)]:
            own = [s for s in layout if s.name in ("input_ids", "attention_mask")] if masked else layout
            self.module = hf_modules.classes()["encoder"](self.hf_model, [s.name for s in own])
            self.inputs, self.rules = own, dict(rules)
            args, _ = self.example_inputs()
            try:
                with quiet(*_LOGGERS), torch.no_grad():  # the encoder's width, whatever the config calls it
                    width = int(self.module(*args).shape[-1])
                break
            except Exception as exc:  # Speech2Text takes frames first: the next layout
                failures.append(example_failed(self, exc))
        else:
            raise failures[0]
        if part == "encoder":
            self.outputs = ["last_hidden_state"]
            return
        encoder = ("batch", "encoder_sequence_length")
        self.inputs = [TensorSpec("input_ids", ("batch", "decoder_sequence_length"), "int64")]
        if masked:
            self.inputs.append(TensorSpec("encoder_attention_mask", encoder, "int64"))
            self.rules["encoder_attention_mask"] = self.rules.pop("attention_mask")
        else:
            self.rules.pop(main, None)
            self.rules["input_ids"] = hf_tasks.text_specs(config, {"input_ids"}, self.task)[1]["input_ids"]
        self.inputs.append(TensorSpec("encoder_hidden_states", (*encoder, width), "float32"))
        self.rules["encoder_hidden_states"] = InputRule("encoder states: N(0, 1)", mean=0.0, std=1.0)
        self.module, self.varargs_from = hf_modules.classes()["decoder"](self.hf_model, masked), 1  # (ids, *rest)
        args, _ = self.example_inputs()
        try:
            with quiet(*_LOGGERS), torch.no_grad():
                out = self.module(*args)  # the first-step decoder: its presents give the cache layout
        except Exception as exc:
            raise example_failed(self, exc) from exc
        layers = [(int(k.shape[1]), int(k.shape[3])) for k in out[1::4]]
        names = [f"present.{i}.{side}.{kind}" for i in range(len(layers))
                 for side in ("decoder", "encoder") for kind in ("key", "value")]
        if part == "decoder":
            self.outputs = ["logits", *names]
            return
        past = hf_tasks.seq2seq_past_specs(layers)
        for spec in past:
            self.rules[spec.name] = InputRule("cached keys/values: N(0, 1)", mean=0.0, std=1.0,
                                              sizes=PAST_SIZES if ".decoder." in spec.name else None)
        self.inputs = self.inputs[:-1] + past
        self.module = hf_modules.classes()["decoder-with-past"](self.hf_model, len(layers), width, masked)
        self.outputs = ["logits", *(n for n in names if ".decoder." in n)]

    def example_inputs(self, past: bool = True) -> tuple[tuple, dict]:
        """Traceable examples: token ids below vocab_size, full masks, positions after the past."""
        import torch

        gen = torch.Generator().manual_seed(0)
        sizes = {"batch": EXAMPLE_BATCH, "sequence_length": EXAMPLE_DIM, "num_choices": 3,
                 "past_sequence_length": EXAMPLE_PAST if past else 0,
                 "total_sequence_length": EXAMPLE_DIM + (EXAMPLE_PAST if past else 0),
                 "decoder_sequence_length": EXAMPLE_DIM, "encoder_sequence_length": EXAMPLE_DIM - 2,
                 "past_decoder_sequence_length": EXAMPLE_PAST,
                 "text_batch_size": EXAMPLE_BATCH + 1, "image_batch_size": EXAMPLE_BATCH}  # traced apart
        tensors = {}
        for spec in self.inputs:
            rule = self.rules.get(spec.name)
            own = rule.sizes[0] if rule is not None and rule.sizes and \
                (spec.name.startswith("input_") or spec.name == "pixel_values") else None
            shape = [d if isinstance(d, int) else (own or sizes[d]) if d in ("sequence_length", "height", "width")
                     else sizes[d] for d in spec.shape]
            if spec.name == "position_ids":
                start = sizes["past_sequence_length"]
                tensors[spec.name] = torch.arange(start, start + shape[1]).expand(shape[0], -1).contiguous()
            elif spec.name.endswith("attention_mask"):
                tensors[spec.name] = torch.ones(shape, dtype=torch.int64)
            elif rule is not None and rule.integers:
                ids = torch.randint(*rule.integers, shape, generator=gen)
                if rule.ends_with is not None:
                    ids = torch.from_numpy(ending_with(ids.numpy(), rule.ends_with, *rule.integers))
                tensors[spec.name] = ids
            elif spec.dtype.startswith("int"):
                tensors[spec.name] = torch.zeros(shape, dtype=torch.int64)
            else:
                tensors[spec.name] = torch.randn(shape, generator=gen)
        if self.kwarg_names:
            return (), tensors
        return tuple(tensors.values()), {}

    def input_rules(self):
        return dict(self.rules)

    def run(self, feed):
        with quiet(*_LOGGERS):  # transformers warns about deprecated arguments on every call
            if self.pooling is None:
                return super().run(feed)
            return sentence.run(self, feed)

    def taps(self):
        return []

    def source_facts(self) -> dict:
        facts = {"task": self.task, "architecture": self.architecture, "transformers": self.transformers_version}
        if self.pooling is not None:
            facts["sentence_transformers"] = sentence.describe(self)
        return facts

    def info(self):
        return super().info() | self.source_facts()

    def inspect(self):
        return self.source_facts() | super().inspect()


def adaptive_pools(torch, model) -> str:
    """The adaptive pooling layers pooling to a grid larger than 1x1 ('' when none): their windows depend on the
    input size, which an exported graph fixes."""
    kinds = (torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d)
    sizes = sorted({str(m.output_size) for m in model.modules() if isinstance(m, kinds)
                    and m.output_size not in (1, (1, 1), None)})
    return ", ".join(f"AdaptivePool {size}" for size in sizes[:3])


def example_failed(model: HFModel, exc: Exception) -> UnsupportedError:
    shapes = ", ".join(str(s) for s in model.inputs)
    return UnsupportedError(f"{model.path}: {model.architecture} fails on the inputs its config describes "
                            f"({shapes}): {one_line(exc)}",
                            hint="pass --input NAME:D1,D2 with the shapes it takes, or another --task")
