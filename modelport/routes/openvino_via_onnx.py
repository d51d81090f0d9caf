"""Any source -> OpenVINO IR through its ONNX route chain, then ONNX -> OpenVINO: the last route of every OpenVINO
chain (after the direct `torch-openvino` / `keras-openvino`), and the only one for scikit-learn.

The intermediate ONNX file is not verified on its own: the IR is verified against the source, which judges both
hops at once. scikit-learn graphs keep `ai.onnx.ml` operators (TreeEnsemble, Scaler, ...) that OpenVINO has no
implementation for: those are refused before OpenVINO is asked, naming the operators.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.errors import ModelportError, UnsupportedError, one_line
from modelport.core.formats import Format
from modelport.core.registry import Step, StepOptions

SOURCES = (Format.TORCH_EXPORT, Format.TORCHSCRIPT, Format.TORCH_PY, Format.TORCH_PICKLE, Format.TRANSFORMERS,
           Format.KERAS, Format.TF_SAVEDMODEL, Format.SKLEARN_SKOPS, Format.SKLEARN_PICKLE)


def foreign_operators(path: Path) -> list[str]:
    """Operators of the ONNX file outside the default domain that OpenVINO's ONNX frontend cannot run."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops = set()

    def walk(graph):
        for node in graph.node:
            if node.domain in ("ai.onnx.ml",):
                ops.add(f"{node.domain}:{node.op_type}")
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    walk(sub)

    walk(model.graph)
    return sorted(ops)


class ViaOnnxToOpenVino(Step, name="via-onnx-openvino", source=SOURCES, target=Format.OPENVINO, extra="openvino",
                        requires=("openvino",), order=50,
                        description="the source's ONNX route chain, then openvino.convert_model on the ONNX file"):

    def run(self, source, out: Path, options: StepOptions) -> dict:
        from modelport.core.registry import load_registry
        from modelport.loaders import open_model
        from modelport.routes.openvino_ir import OnnxToOpenVino

        onnx_path = out.parent / "via-onnx.onnx"
        reasons = []
        for step in load_registry().chain(source.format, Format.ONNX):
            why = step.missing() and f"needs {step.missing()}" or step.skip_reason(source)
            if why:
                reasons.append(f"{step.name}: {why}")
                continue
            try:
                facts = step.run(source, onnx_path, options)
                break
            except ModelportError as exc:
                reasons.append(f"{step.name}: {exc.message}")
            except Exception as exc:  # a route's own failure: the next one is tried, as in a chain
                reasons.append(f"{step.name}: {one_line(exc)}")
        else:
            raise UnsupportedError("no ONNX route converted the model: " + ("; ".join(reasons) or "none applies"))
        foreign = foreign_operators(onnx_path)
        if foreign:
            raise UnsupportedError(f"OpenVINO cannot run the ONNX graph of this model: its operators "
                                   f"{', '.join(foreign)} have no OpenVINO implementation",
                                   hint="convert to ONNX instead (-o model.onnx) and run it with ONNX Runtime")
        done = OnnxToOpenVino().run(open_model(onnx_path, Format.ONNX), out, options)
        return {"converter": f"{facts.get('converter', step.name)}, then {done['converter']}", "via": step.name,
                "warnings": facts.get("warnings", [])}
