"""Passes: steps that keep the ONNX format: graph optimization (`optimize`) and quantization (`quantize`)."""
