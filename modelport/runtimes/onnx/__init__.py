"""ONNX files, run with ONNX Runtime on the CPU."""
