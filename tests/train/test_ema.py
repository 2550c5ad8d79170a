"""EMA arithmetic on hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from angiogen.train import EMA


def _scalar_model(value: float) -> nn.Module:
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(value)
    return model


def test_ema_hand_example() -> None:
    model = _scalar_model(1.0)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)  # 0.5 * 1 + 0.5 * 3 = 2
    assert ema.shadow["weight"].item() == pytest.approx(2.0)
    with torch.no_grad():
        model.weight.fill_(6.0)
    ema.update(model)  # 0.5 * 2 + 0.5 * 6 = 4
    assert ema.shadow["weight"].item() == pytest.approx(4.0)
    assert ema.num_updates == 2


def test_buffers_are_copied_not_averaged() -> None:
    model = nn.BatchNorm1d(2)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.running_mean.fill_(5.0)
        model.weight.fill_(2.0)
    ema.update(model)
    assert torch.equal(ema.shadow["running_mean"], torch.full((2,), 5.0))
    assert torch.allclose(ema.shadow["weight"], torch.full((2,), 0.9 * 1.0 + 0.1 * 2.0))


def test_swap_into_restores_training_weights() -> None:
    model = _scalar_model(1.0)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)
    with ema.swap_into(model):
        assert model.weight.item() == pytest.approx(2.0)
    assert model.weight.item() == pytest.approx(3.0)
    ema.copy_to(model)
    assert model.weight.item() == pytest.approx(2.0)


def test_state_dict_round_trip() -> None:
    model = _scalar_model(1.0)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)
    restored = EMA(_scalar_model(0.0), decay=0.99)
    restored.load_state_dict(ema.state_dict())
    assert restored.decay == 0.5 and restored.num_updates == 1
    assert restored.shadow["weight"].item() == pytest.approx(2.0)
