"""Exponential moving average (EMA) of model weights, as used for diffusion models and GAN generators."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from angiogen.errors import InputError
from angiogen.train.distributed import unwrap_model


class EMA:
    """Keep ``shadow = decay * shadow + (1 - decay) * weight`` for every floating-point parameter.

    Buffers (e.g. BatchNorm running statistics) are copied, not averaged. The shadow weights live on the
    model's device in the model's dtypes. DDP wrappers are unwrapped, so names carry no ``module.`` prefix.

    Args:
        model: the trained model; the shadow starts as a copy of its current weights.
        decay: averaging factor per update in [0, 1); 0.999 averages over roughly the last 1000 steps.
        warmup: use ``min(decay, (1 + n) / (10 + n))`` at update ``n``, so that the initial weights fade
            out quickly in short runs; default off.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = False) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        inner = unwrap_model(model)
        self.shadow: dict[str, torch.Tensor] = {
            name: tensor.detach().clone() for name, tensor in inner.state_dict().items()
        }
        parameter_names = {name for name, _ in inner.named_parameters(remove_duplicate=False)}
        self._averaged = {
            name for name, tensor in self.shadow.items() if name in parameter_names and tensor.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights of ``model`` into the shadow (call after each optimiser step)."""
        averaged, averaged_current, copied, copied_current = [], [], [], []
        for name, tensor in unwrap_model(model).state_dict().items():
            target = self.shadow[name]
            if name in self._averaged:
                averaged.append(target)
                averaged_current.append(tensor.detach())
            else:
                copied.append(target)
                copied_current.append(tensor)
        if averaged:
            # shadow + (1 - decay) * (weight - shadow) == decay * shadow + (1 - decay) * weight
            decay = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates)) if self.warmup else self.decay
            torch._foreach_lerp_(averaged, averaged_current, 1.0 - decay)
        for target, tensor in zip(copied, copied_current, strict=True):
            target.copy_(tensor)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the weights of ``model`` with the averaged weights."""
        unwrap_model(model).load_state_dict(self.shadow, strict=True)

    @contextlib.contextmanager
    def swap_into(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into ``model`` (e.g. for validation); restore on exit."""
        inner = unwrap_model(model)
        saved = {name: tensor.detach().clone() for name, tensor in inner.state_dict().items()}
        self.copy_to(inner)
        try:
            yield model
        finally:
            with torch.no_grad():
                inner.load_state_dict(saved, strict=True)

    def state_dict(self) -> dict[str, Any]:
        """Decay, update count and shadow tensors; loadable with ``torch.load(weights_only=True)``."""
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": dict(self.shadow)}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; raises InputError when the tensors do not match the model."""
        shadow = state["shadow"]
        missing = sorted(set(self.shadow) - set(shadow))
        unexpected = sorted(set(shadow) - set(self.shadow))
        if missing or unexpected:
            raise InputError(f"EMA state does not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})")
        for name, target in self.shadow.items():
            if target.shape != shadow[name].shape:
                raise InputError(
                    f"EMA tensor {name} has shape {tuple(shadow[name].shape)}, model has {tuple(target.shape)}"
                )
            target.copy_(shadow[name])
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
