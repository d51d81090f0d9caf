"""int4 weights for decoders: ONNX Runtime's MatMulNBits quantizer (4-bit blocks of 32 or 128 weights).

RTN (round to nearest) by default, HQQ with `--algorithm hqq`. The embeddings (Gather) and the LM head (the MatMul
that produces `logits`) stay float unless asked: they hold most of a small model's sensitivity. Elementwise
tolerances do not fit int4, so compress verifies the result by what users see (verify/generation.py).
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.errors import UnsupportedError
from modelport.core.formats import Format
from modelport.core.logs import quiet
from modelport.core.registry import Step, StepOptions

ALGORITHMS = ("rtn", "hqq")
BLOCK_SIZES = (32, 64, 128)


def lm_heads(model) -> list[str]:
    """Names of the MatMul nodes whose weight maps to the vocabulary (the `logits` output's last dim)."""
    vocab = None
    for out in model.graph.output:
        if out.name == "logits":
            dims = out.type.tensor_type.shape.dim
            vocab = dims[-1].dim_value if dims else None
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and vocab
            and any(weights.get(x, [None])[-1] == vocab for x in n.input[1:])]


def quantizable(model) -> int:
    weights = {i.name for i in model.graph.initializer}
    return sum(1 for n in model.graph.node if n.op_type == "MatMul" and len(n.input) > 1 and n.input[1] in weights)


class Int4Weights(Step, name="onnx-int4-weights", kind="quantize", source=(Format.ONNX,), target=Format.ONNX,
                  extra=None, requires=("onnxruntime",), method="int4-weights", order=40,
                  description="onnxruntime MatMulNBits: int4 weight blocks (RTN or HQQ) for decoders; "
                              "verified by generation (token agreement, logits top-k and cosine)"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        import onnx
        from onnxruntime.quantization import matmul_nbits_quantizer as nbits

        from modelport.core.onnx_files import needs_external, save_onnx
        from modelport.passes.onnx_stream_int4 import quantize_file
        from modelport.passes.onnx_weightless import weights_on_disk

        if options.int4_algorithm not in ALGORITHMS:
            raise UnsupportedError(f"int4 algorithm '{options.int4_algorithm}'", hint=f"choose {', '.join(ALGORITHMS)}")
        src = Path(source.path)
        streamed = weights_on_disk(src)
        model = onnx.load(str(src), load_external_data=not streamed)
        if not quantizable(model):
            raise UnsupportedError("int4-weights: no MatMul with a constant weight to quantize")
        exclude = [] if options.int4_head else lm_heads(model)
        ops = ("MatMul", "Gather") if options.int4_embeddings else ("MatMul",)
        axes = (("MatMul", 0), ("Gather", 1))
        if options.int4_algorithm == "hqq":
            config = nbits.HQQWeightOnlyQuantConfig(block_size=options.int4_block, bits=4,
                                                    op_types_to_quantize=ops, quant_axes=axes)
        else:
            config = nbits.DefaultWeightOnlyQuantConfig(block_size=options.int4_block,
                                                        is_symmetric=options.int4_symmetric, bits=4,
                                                        op_types_to_quantize=ops, quant_axes=axes)
        with quiet("onnxruntime", "root"):
            quantizer = nbits.MatMulNBitsQuantizer(model, block_size=options.int4_block,
                                                   is_symmetric=options.int4_symmetric, nodes_to_exclude=exclude,
                                                   op_types_to_quantize=ops, quant_axes=axes, algo_config=config)
            if streamed:  # one weight in memory at a time (onnx_stream_int4.py)
                quantize_file(src, out, model, quantizer.node_quantizer, ops, set(exclude))
            else:
                quantizer.process()
                save_onnx(quantizer.model.model, out, external=needs_external(src))
        kept = f"{len(exclude)} LM head MatMul kept float" if exclude else "LM head quantised"
        return {"converter": f"onnxruntime {_version()} (MatMulNBits)", "method": self.method,
                "int4": {"block_size": options.int4_block, "symmetric": options.int4_symmetric,
                         "algorithm": options.int4_algorithm, "embeddings": options.int4_embeddings,
                         "head": kept}}


def _version() -> str:
    import onnxruntime

    return onnxruntime.__version__
