"""Verification: seeded or `--data` inputs, the reference computed once, numpy-only comparison, accuracy."""
