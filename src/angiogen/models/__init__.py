"""Bundled model weights (safetensors) with model cards."""
