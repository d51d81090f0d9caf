"""PyTorch: `.pt2` programs, TorchScript, factories and pickled modules."""
