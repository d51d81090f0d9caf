"""Fuse strategies (steps of kind "fuse"), members and ONNX graph composition for `modelport fuse`."""
