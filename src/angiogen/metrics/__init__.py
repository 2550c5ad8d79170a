"""Metrics: image, segmentation, generative."""
