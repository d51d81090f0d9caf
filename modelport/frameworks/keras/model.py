"""Keras 3 models (.keras, .h5) and TensorFlow SavedModel folders, run under the TensorFlow backend."""

from __future__ import annotations

from typing import Any

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UnsafeError, UsageError, one_line
from modelport.core.formats import Format
from modelport.core.logs import native_silenced
from modelport.core.model import Model, cast_feed
from modelport.core.specs import check_input_sizes
from modelport.core.tf import tensorflow
from modelport.frameworks.keras.outputs import flatten_outputs
from modelport.frameworks.keras.rules import keras_rules
from modelport.frameworks.keras.taps import keras_tap_values, keras_taps
from modelport.frameworks.keras.twin import keras_twin


def load(path, fmt: Format, *, trust: bool, input_specs: list[TensorSpec], purpose: str = "run") -> Model:
    if fmt is Format.TF_SAVEDMODEL:
        return SavedModel(path)
    return KerasModel(path, trust=trust, input_specs=input_specs)



class KerasModel(Model):
    format = Format.KERAS

    def __init__(self, path, *, trust: bool, input_specs: list[TensorSpec]) -> None:
        tensorflow()
        import keras

        self.path = path
        self.framework_version = f"keras {keras.__version__}"
        try:
            self.model = keras.saving.load_model(str(path), compile=False, safe_mode=not trust)
        except ValueError as exc:
            if "safe_mode" in str(exc) or "Lambda" in str(exc):
                raise UnsafeError(
                    f"{path}: the model holds a Lambda layer, whose code runs when it loads",
                    hint="pass --trust if you trust this file",
                ) from exc
            raise UsageError(f"{path}: cannot load Keras model ({one_line(exc)})") from exc
        except Exception as exc:
            raise UsageError(f"{path}: cannot load Keras model ({one_line(exc)})",
                             hint="is the file complete? subclassed models need their class registered") from exc
        model_inputs = getattr(self.model, "inputs", None) or []
        if model_inputs:
            self.inputs = [
                TensorSpec(t.name, tuple(d if d is not None else ("batch" if i == 0 else None)
                                         for i, d in enumerate(t.shape)), str(t.dtype))
                for t in model_inputs
            ]
            check_input_sizes(path, self.inputs)
        elif input_specs:
            self.inputs = list(input_specs)
        else:
            raise UsageError(f"{path}: the model records no input shapes",
                             hint="pass --input NAME:D1,D2,...[:DTYPE]")
        self.struct = getattr(self.model, "_inputs_struct", None)
        self.output_names_hint = getattr(self.model, "output_names", None)
        # names without a forward pass where the model says enough: functional structure, or one output
        struct = getattr(self.model, "_outputs_struct", None)
        if struct is None and len(getattr(self.model, "outputs", None) or []) == 1:
            struct = self.model.outputs[0]
        sample = struct if struct is not None else self.call(self.example_feed())
        self.outputs, _ = flatten_outputs(sample, self.output_names_hint)

    def example_feed(self) -> dict:
        import numpy as np

        feed = {}
        for spec in self.inputs:
            shape = [d if isinstance(d, int) else (2 if i == 0 else 4) for i, d in enumerate(spec.shape)]
            feed[spec.name] = np.zeros(shape, dtype=spec.dtype)
        return feed

    def structure(self, arrays: list) -> Any:
        """Arrange input arrays the way the model was built: dict, list or a single tensor."""
        if isinstance(self.struct, dict):
            by_name = {s.name: a for s, a in zip(self.inputs, arrays)}
            return {k: by_name.get(getattr(v, "name", k), by_name.get(k)) for k, v in self.struct.items()}
        if len(arrays) == 1:
            return arrays[0]
        return list(arrays)

    def call(self, feed):
        return self.model(self.structure(cast_feed(feed, self.inputs)), training=False)

    def weight_bytes(self) -> int:
        return _variable_bytes(self.model.weights)

    def input_rules(self):
        return keras_rules(self.model, self.inputs)

    def taps(self):
        return keras_taps(self)

    def tap_values(self, feed, keys):
        return keras_tap_values(self, feed, keys)

    def float64_twin(self):
        return keras_twin(self)

    def inspect(self):
        from collections import Counter

        layers = Counter(type(layer).__name__ for layer in getattr(self.model, "layers", []))
        outs = getattr(self.model, "_outputs_struct", None)
        info = {"model_class": type(self.model).__name__, "operators": dict(layers.most_common()),
                "nodes": sum(layers.values()), "parameters": int(self.model.count_params())}
        if outs is not None:
            _, tensors = flatten_outputs(outs, self.output_names_hint)
            info["outputs"] = [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype)}
                               for n, t in zip(self.outputs, tensors)]
        return info

    def run(self, feed):
        import numpy as np

        names, values = flatten_outputs(self.call(feed), self.output_names_hint)
        return {n: np.asarray(v) for n, v in zip(names, values)}


def _variable_bytes(variables) -> int:
    import numpy as np

    return sum(int(np.prod(v.shape)) * np.dtype(getattr(v.dtype, "name", v.dtype)).itemsize for v in variables)


class SavedModel(Model):
    """A SavedModel folder, run through its `serving_default` signature."""

    format = Format.TF_SAVEDMODEL

    def __init__(self, path) -> None:
        tf = tensorflow()
        self.path = path
        self.framework_version = f"tensorflow {tf.__version__}"
        try:
            with native_silenced():
                self.loaded = tf.saved_model.load(str(path))
        except Exception as exc:
            raise UsageError(f"{path}: cannot load SavedModel ({one_line(exc)})") from exc
        signatures = getattr(self.loaded, "signatures", {})
        if "serving_default" not in signatures:
            have = ", ".join(signatures) or "none"
            raise UsageError(f"{path}: SavedModel has no serving_default signature (has: {have})",
                             hint="export it with a serving signature")
        self.signature_name = "serving_default"
        self.fn = signatures["serving_default"]
        _, kw = self.fn.structured_input_signature
        self.inputs = [
            TensorSpec(name, tuple(d if d is not None else ("batch" if i == 0 else None)
                                   for i, d in enumerate(spec.shape.as_list())), spec.dtype.name)
            for name, spec in kw.items()
        ]
        self.outputs = sorted(self.fn.structured_outputs)

    def weight_bytes(self) -> int:
        return _variable_bytes(getattr(self.loaded, "variables", ()))

    def inspect(self):
        from collections import Counter

        import numpy as np

        ops = Counter(node.op for node in self.fn.graph.as_graph_def().node)
        for fn in self.fn.graph.as_graph_def().library.function:
            ops.update(node.op for node in fn.node_def)
        outs = self.fn.structured_outputs
        return {
            "signature": self.signature_name, "operators": dict(ops.most_common()), "nodes": sum(ops.values()),
            "parameters": int(sum(np.prod(v.shape) for v in self.fn.variables)),
            "outputs": [{"name": k, "shape": outs[k].shape.as_list(), "dtype": outs[k].dtype.name}
                        for k in self.outputs],
        }

    def run(self, feed):
        import numpy as np

        tf = tensorflow()
        arrays = cast_feed(feed, self.inputs)
        out = self.fn(**{s.name: tf.constant(a) for s, a in zip(self.inputs, arrays)})
        return {k: np.asarray(out[k]) for k in self.outputs}
