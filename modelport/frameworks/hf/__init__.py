"""Hugging Face `save_pretrained` folders (transformers), built on the PyTorch folder."""
