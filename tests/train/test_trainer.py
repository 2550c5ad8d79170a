"""The training loop: exact resume, gradient accumulation, early stopping, logging."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch
from torch import nn

from angiogen.train import EMA, EarlyStopping, TrainConfig, Trainer, seed_everything

GLOBAL_BATCH = 8


def _data(index: int, batch_size: int = GLOBAL_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples index*batch_size .. (index+1)*batch_size - 1 of a fixed synthetic regression stream."""
    x = torch.stack([torch.randn(4, generator=torch.Generator().manual_seed(1000 + i)) for i in range(
        index * batch_size, (index + 1) * batch_size)])
    y = x.sum(dim=1, keepdim=True).sin()
    return x, y


def _mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def _build(seed: int, dropout: float = 0.3) -> dict[str, Any]:
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.7)
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler, "ema": EMA(model, decay=0.9)}


def _fit(parts: dict[str, Any], run_dir: Path, max_steps: int, resume: bool = False) -> None:
    config = TrainConfig(max_steps=max_steps, log_every=5, checkpoint_every=10, resume=resume, quiet=True)
    trainer = Trainer(parts["model"], parts["optimizer"], _mse, run_dir, config, parts["scheduler"], parts["ema"])
    trainer.fit(_data)


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    straight = _build(seed=0)
    _fit(straight, tmp_path / "straight", max_steps=20)

    first_half = _build(seed=0)
    _fit(first_half, tmp_path / "resumed", max_steps=10)
    torch.rand(100)  # disturb the RNG: the resume must restore it
    second_half = _build(seed=12345)  # new objects with other initial weights
    _fit(second_half, tmp_path / "resumed", max_steps=20, resume=True)

    for a, b in zip(straight["model"].state_dict().values(), second_half["model"].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for name, tensor in straight["ema"].shadow.items():
        assert torch.equal(tensor, second_half["ema"].shadow[name])
    assert second_half["scheduler"].get_last_lr() == straight["scheduler"].get_last_lr()
    # the metrics table continues without gaps or duplicates
    with open(tmp_path / "resumed" / "metrics.csv", newline="") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle) if row["name"] == "train/loss"]
    assert steps == [5, 10, 15, 20]


def test_gradient_accumulation_matches_the_full_batch(tmp_path: Path) -> None:
    def run(accumulate: int, micro_batch: int) -> nn.Module:
        parts = _build(seed=1, dropout=0.0)
        config = TrainConfig(max_steps=3, accumulate=accumulate, log_every=1, quiet=True)
        Trainer(parts["model"], parts["optimizer"], _mse, tmp_path / f"acc{accumulate}", config).fit(
            lambda index: _data(index, micro_batch)
        )
        return parts["model"]

    full = run(accumulate=1, micro_batch=8)
    accumulated = run(accumulate=4, micro_batch=2)
    unchanged = _build(seed=1, dropout=0.0)["model"]
    for a, b, c in zip(full.parameters(), accumulated.parameters(), unchanged.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
        assert not torch.allclose(a, c)  # and training did move the weights


def test_early_stopping_ends_the_run_and_checkpoints(tmp_path: Path) -> None:
    parts = _build(seed=2)
    values = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    config = TrainConfig(max_steps=50, validate_every=2, log_every=2, quiet=True)
    trainer = Trainer(
        parts["model"], parts["optimizer"], _mse, tmp_path, config, ema=parts["ema"],
        early_stopping=EarlyStopping(patience=2),
    )
    result = trainer.fit(_data, validate=lambda model, step: {"val_loss": next(values)})
    assert result.stopped_early and result.step == 8
    assert result.best_value == 0.5 and result.best_step == 4
    assert result.checkpoint == tmp_path / "checkpoints" / "step_8"
    assert result.last_metrics["val_loss"] == 0.7
