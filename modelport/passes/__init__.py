"""Passes on converted models: graph optimization (and, later, compression)."""
