"""What the program runs on: versions of Python and the main libraries, device and threads."""

from __future__ import annotations

import platform
from typing import Any

import monai
import torch

import angiogen


def environment_summary() -> dict[str, Any]:
    """Versions (angiogen, Python, torch, MONAI), CUDA availability, GPU name and CPU threads."""
    cuda = torch.cuda.is_available()
    return {
        "angiogen": angiogen.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "cuda_available": cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else "none",
        "default_device": "cuda" if cuda else "cpu",
        "torch_threads": torch.get_num_threads(),
    }
