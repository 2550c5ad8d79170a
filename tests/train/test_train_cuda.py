"""The loop on a CUDA device: mixed precision (bf16 autocast, fp16 with a GradScaler) and exact resume.

Skipped without CUDA (as in CI); run on a GPU machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from angiogen.train import (
    EMA,
    TrainConfig,
    Trainer,
    autocast_context,
    needs_grad_scaler,
    seed_everything,
    select_device,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _batch(index: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(index)
    x = torch.randn(32, 8, generator=generator)
    return x, x.sum(dim=1, keepdim=True).tanh()


def _mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x).float(), y)


def _parts(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, EMA]:
    seed_everything(seed)
    device = select_device("cuda")
    model = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Dropout(0.2), nn.Linear(64, 1)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    return model, optimizer, EMA(model, decay=0.9)


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_mixed_precision_trains(tmp_path: Path, precision: str) -> None:
    device = select_device("cuda")
    assert device.type == "cuda"
    with autocast_context(device, precision):
        dtype = torch.ones(2, 2, device=device).matmul(torch.ones(2, 2, device=device)).dtype
    assert dtype == {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    model, optimizer, ema = _parts(0)
    config = TrainConfig(max_steps=60, precision=precision, grad_clip_norm=1.0, log_every=10, quiet=True)
    trainer = Trainer(model, optimizer, _mse, tmp_path, config, ema=ema)
    assert (trainer.grad_scaler is not None) == needs_grad_scaler(device, precision) == (precision == "fp16")
    result = trainer.fit(_batch)
    losses = [value for step, name, value in _read_losses(tmp_path)]
    assert result.step == 60 and losses[-1] < 0.5 * losses[0]
    assert all(p.device.type == "cuda" for p in ema.shadow.values())


def _read_losses(run_dir: Path) -> list[tuple[int, str, float]]:
    rows = (line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()[1:])
    return [(int(s), n, float(v)) for s, n, v in rows if n == "train/loss"]


def test_resume_on_cuda_is_bit_identical(tmp_path: Path) -> None:
    model_a, opt_a, ema_a = _parts(0)
    Trainer(model_a, opt_a, _mse, tmp_path / "a", TrainConfig(max_steps=20, quiet=True), ema=ema_a).fit(_batch)

    model_b, opt_b, ema_b = _parts(0)
    Trainer(model_b, opt_b, _mse, tmp_path / "b", TrainConfig(max_steps=10, quiet=True), ema=ema_b).fit(_batch)
    torch.rand(10, device="cuda")  # disturb the CUDA RNG
    model_c, opt_c, ema_c = _parts(7)
    config = TrainConfig(max_steps=20, resume=True, quiet=True)
    Trainer(model_c, opt_c, _mse, tmp_path / "b", config, ema=ema_c).fit(_batch)
    for a, c in zip(model_a.state_dict().values(), model_c.state_dict().values(), strict=True):
        assert torch.equal(a, c)
    for name, tensor in ema_a.shadow.items():
        assert torch.equal(tensor, ema_c.shadow[name])
