"""Shared test fixtures."""

from __future__ import annotations

import os

import torch

# Two cores here and in CI: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))
