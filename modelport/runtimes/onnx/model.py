"""ONNX models, run with ONNX Runtime on the CPU."""

from __future__ import annotations

from modelport.core.artifact import TensorSpec
from modelport.core.errors import UsageError, one_line
from modelport.core.formats import Format
from modelport.core.model import Model, cast_feed
from modelport.core.specs import check_input_sizes
from modelport.runtimes.onnx.taps import onnx_tap_values, onnx_taps

ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}


def load(path, fmt: Format, *, threads: int | None = None) -> OnnxModel:
    return OnnxModel(path, threads=threads)


def graph_input_specs(proto) -> list[TensorSpec] | None:
    """The input specs an OnnxModel of this graph reports, read from the proto alone (no session); None when
    an input is not a tensor of a type ORT_DTYPES names."""
    from modelport.core.onnx_graph import graph_io

    known = set(ORT_DTYPES.values())
    specs = []
    for spec in graph_io(proto)[0]:
        dtype = "str" if spec["dtype"] == "object" else spec["dtype"]  # numpy's name for ONNX strings
        if dtype not in known:
            return None
        specs.append(TensorSpec(spec["name"], tuple(spec["shape"]), dtype))
    return specs


def session(path, threads: int | None = None):
    import onnxruntime as ort

    from modelport.core.logs import debugging, quiet_onnxruntime

    quiet_onnxruntime()
    opts = ort.SessionOptions()
    # a failing run also logs its error on stderr: the exception already says it
    opts.log_severity_level = 3 if debugging() else 4
    threads = threads or _env_threads()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _env_threads() -> int | None:
    """MODELPORT_THREADS: the threads a session may use (batch gives each job its share of the cores)."""
    import os

    value = os.environ.get("MODELPORT_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


class OnnxModel(Model):
    format = Format.ONNX

    def __init__(self, path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path, self._threads = path, threads
        self.framework_version = f"onnxruntime {ort.__version__}"
        try:
            self._session = session(path, threads)
        except Exception as exc:
            raise UsageError(f"{path}: cannot load ONNX model ({one_line(exc)})", hint="is the file complete?") from exc
        self.inputs = [
            TensorSpec(i.name, tuple(d if isinstance(d, int) else (d or None) for d in i.shape),
                       ORT_DTYPES.get(i.type, i.type))
            for i in self.session.get_inputs()
        ]
        check_input_sizes(path, self.inputs)
        self.outputs = [o.name for o in self.session.get_outputs()]

    @property
    def session(self):
        """The ONNX Runtime session, opened again after `release` on first use."""
        if self._session is None:
            self._session = session(self.path, self._threads)
        return self._session

    def weight_bytes(self) -> int:
        """The file and its `NAME.data` weights (a good enough measure of what a session of it holds)."""
        from modelport.core.io import size_of_path

        return size_of_path(self.path)

    def release(self) -> None:
        """Close the session (its copy of the weights: the size of the model) until the model runs again."""
        if self._session is not None:
            self._session = None
            from modelport.core.memory import give_back

            give_back(collect=True)

    def taps(self):
        return onnx_taps(self)

    def tap_values(self, feed, keys):
        return onnx_tap_values(self, feed, keys)

    def run(self, feed):
        arrays = cast_feed(feed, self.inputs)
        values = self.session.run(None, {s.name: a for s, a in zip(self.inputs, arrays)})
        return dict(zip(self.outputs, values))
