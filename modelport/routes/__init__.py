"""Routes: steps that change a model's format (PyTorch, Keras, SavedModel, scikit-learn -> ONNX or TFLite),
one module per family. Framework imports stay inside `run`."""
