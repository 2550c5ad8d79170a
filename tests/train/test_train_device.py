"""Device selection and precision policy."""

from __future__ import annotations

import contextlib

import pytest
import torch

from angiogen.errors import InputError
from angiogen.train import autocast_context, needs_grad_scaler, resolve_precision, select_device


def test_auto_is_cpu_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    assert select_device("CPU") == torch.device("cpu")


def test_cuda_without_cuda_is_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="CUDA is not available"):
        select_device("cuda")
    with pytest.raises(InputError):
        select_device("cuda:1")


def test_unknown_device_is_input_error() -> None:
    with pytest.raises(InputError, match="device"):
        select_device("tpu7")


def test_cpu_is_always_fp32_without_scaler() -> None:
    cpu = torch.device("cpu")
    for precision in ("auto", "fp32", "bf16", "fp16"):
        assert resolve_precision(cpu, precision) == "fp32"
        assert not needs_grad_scaler(cpu, precision)
    assert isinstance(autocast_context(cpu), contextlib.nullcontext)
    with pytest.raises(InputError, match="precision"):
        resolve_precision(cpu, "fp8")


def test_cuda_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert resolve_precision(cuda, "auto") == "bf16"
    assert not needs_grad_scaler(cuda, "auto")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert resolve_precision(cuda, "auto") == "fp16"
    assert needs_grad_scaler(cuda, "auto")
    assert resolve_precision(cuda, "fp32") == "fp32"
