"""Verification: seeded inputs, runners for every format, numpy-only comparison."""
