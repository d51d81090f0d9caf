"""Keras 3 (`.keras`, `.h5`) and TensorFlow SavedModels."""
