"""TFLite compression from the source model (Keras or SavedModel) with tf.lite.TFLiteConverter.

RECIPES (MobileNetV2 96x96): fp32 14.0 MB; dynamic range 3.8 MB; float16 7.05 MB; int8 4.0 MB, and int8
needs a representative dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

METHODS = ("dynamic-range", "fp16", "int8")


def convert(source, method: str | None, out: Path, representative: list[dict] | None = None) -> None:
    """Write `source` (a loaded Keras model or SavedModel) as TFLite; method None is plain fp32."""
    from modelport.converters.keras_tflite import _convert
    from modelport.loaders.keras import tensorflow

    tf = tensorflow()
    if hasattr(source, "model"):
        converter = tf.lite.TFLiteConverter.from_keras_model(source.model)
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(source.path), signature_keys=["serving_default"])
    if method:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if method == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if method == "int8":
        feeds = list(representative or [])
        names = [s.name for s in source.inputs]

        def dataset():
            for feed in feeds:
                rows = len(next(iter(feed.values())))
                for i in range(rows):  # one sample at a time, as the calibrator expects
                    yield [feed[n][i:i + 1] for n in names]

        converter.representative_dataset = dataset
    out.write_bytes(_convert(converter, source, int8=method == "int8"))


# litert-torch's PT2E dynamic mode gave garbage on a trained digits CNN (9.9% label agreement, measured),
# so only static int8 is offered for PyTorch sources.
TORCH_METHODS = ("int8",)


def convert_torch(source, method: str | None, out: Path, representative: list[dict] | None = None) -> None:
    """PyTorch -> TFLite through litert-torch: fp32 (method None) or int8 through its PT2E quantizer.

    The program is traced at its example shapes, so calibration batches are cut to that batch size.
    """
    if method is None:  # plain fp32: exactly the torch-litert route
        from modelport.converters.torch_tflite import LitertTorch
        from modelport.core.registry import StepOptions

        LitertTorch().run(source, out, StepOptions())
        return
    import torch

    from modelport.converters.common import quiet

    with quiet("torchao", "litert_torch", "jax"):
        import litert_torch
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import quantize_pt2e

    args, kwargs = source.example_inputs()
    with quiet("litert_torch", "torch.export", "torchao", "absl", "jax"), torch.no_grad():
        graph = source.program.module() if source.program is not None else \
            torch.export.export(source.module, args, kwargs or None).module()
        quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=False))
        graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
        batch = args[0].shape[0] if args and args[0].dim() else None
        for feed in representative or [{s.name: a.numpy() for s, a in zip(source.inputs, args)}]:
            arrays = [np.asarray(feed[s.name]) for s in source.inputs]
            step = batch or len(arrays[0])
            for i in range(0, len(arrays[0]) - step + 1, step):
                call_args, call_kwargs = source.split_args([torch.from_numpy(a[i:i + step]) for a in arrays])
                graph(*call_args, **call_kwargs)
        graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
        edge = litert_torch.convert(graph, args, kwargs or None, quant_config=QuantConfig(pt2e_quantizer=quantizer))
        edge.export(str(out))
