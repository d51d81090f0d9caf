"""The LiteRT interpreter (ai-edge-litert, tf.lite as a fallback) and the value conversions a run needs: real
values into a quantized input's integer domain and back."""

from __future__ import annotations

from modelport.core.errors import MissingDependency


def interpreter_class():
    """(Interpreter class, runtime name). ai-edge-litert first: 0.12 s to import against TF's 5 s."""
    try:
        from importlib.metadata import version

        from ai_edge_litert import interpreter as litert

        return litert.Interpreter, f"ai-edge-litert {version('ai-edge-litert')}"
    except ImportError:
        pass
    try:
        from modelport.core.tf import tensorflow

        tf = tensorflow()
        return tf.lite.Interpreter, f"tensorflow {tf.__version__} (tf.lite)"
    except (ImportError, MissingDependency):
        raise MissingDependency("ai-edge-litert", "tensorflow", "run TFLite models") from None


def quant_params(detail: dict) -> tuple[float, int] | None:
    """(scale, zero_point) of a quantized (int8/uint8) tensor, else None."""
    import numpy as np

    scale, zero = detail.get("quantization", (0.0, 0))
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return float(scale), int(zero)
    return None


def quantize(array, detail: dict):
    """Real values -> the integer domain of a quantized input tensor (unchanged for a float input)."""
    import numpy as np

    quant = quant_params(detail)
    if not quant:
        return array.astype(detail["dtype"], copy=False)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(array / quant[0] + quant[1]), info.min, info.max).astype(detail["dtype"])


def dequantize(value, detail: dict):
    """A quantized tensor's values in real units (unchanged for a float tensor)."""
    import numpy as np

    quant = quant_params(detail)
    return (value.astype(np.float32) - quant[1]) * np.float32(quant[0]) if quant else value


def invoke(interp, arrays) -> None:
    """One run without a signature runner: inputs resized to the arrays, quantized where the model is, set."""
    for d, a in zip(interp.get_input_details(), arrays):
        if list(d["shape"]) != list(a.shape):
            interp.resize_tensor_input(d["index"], list(a.shape))
    interp.allocate_tensors()
    for d, a in zip(interp.get_input_details(), arrays):
        interp.set_tensor(d["index"], quantize(a, d))
    interp.invoke()
