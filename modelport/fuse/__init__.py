"""`modelport fuse`: several models (any framework) merged into one ONNX ensemble graph."""
