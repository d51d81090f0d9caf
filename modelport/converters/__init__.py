"""Converter steps, one module per route family. Framework imports stay inside `run`."""
