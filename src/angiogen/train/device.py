"""Device and numeric precision: pick a torch device, open the matching autocast context."""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

from angiogen.errors import InputError

Precision = Literal["auto", "fp32", "bf16", "fp16"]
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def select_device(name: str = "auto") -> torch.device:
    """Return the torch device named by ``name``.

    Args:
        name: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"mps"``.

    Raises:
        InputError: the name is unknown or the requested accelerator is not available.
    """
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise InputError(f"unknown device {name!r}; expected auto, cpu, cuda, cuda:<index> or mps") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"device {name!r} requested but MPS is not available")
    elif device.type != "cpu":
        raise InputError(f"unsupported device {name!r}; expected auto, cpu, cuda, cuda:<index> or mps")
    return device


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """Return the concrete precision (``"fp32"``, ``"bf16"`` or ``"fp16"``) used on ``device``.

    ``"auto"`` means fp32 off CUDA, bf16 on CUDA devices that support it, fp16 on older GPUs.
    Mixed precision is only used on CUDA; on other devices every request resolves to fp32.

    Raises:
        InputError: ``precision`` is not one of auto, fp32, bf16, fp16.
    """
    if precision not in _PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; expected one of {', '.join(_PRECISIONS)}")
    if device.type != "cuda":
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def autocast_context(
    device: torch.device, precision: str = "auto"
) -> contextlib.AbstractContextManager[object]:
    """Return a context manager that runs the forward pass in the resolved precision.

    fp32 (always the case on CPU) gives a ``nullcontext``; bf16/fp16 give ``torch.autocast`` on CUDA.
    """
    resolved = resolve_precision(device, precision)
    if resolved == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if resolved == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def needs_grad_scaler(device: torch.device, precision: str = "auto") -> bool:
    """True when the resolved precision is fp16, whose small range needs loss scaling (``GradScaler``)."""
    return resolve_precision(device, precision) == "fp16"
