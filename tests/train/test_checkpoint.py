"""Checkpoints: safetensors weights, weights_only state, clear errors on mismatched weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from angiogen.errors import InputError
from angiogen.train import EMA, find_latest_checkpoint, load_checkpoint, load_weights, save_checkpoint, save_weights


def _mlp(width: int = 8) -> nn.Module:
    return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 2))


class Tied(nn.Module):
    """A model whose output layer shares the embedding matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(5, 4)
        self.head = nn.Linear(4, 5, bias=False)
        self.head.weight = self.embed.weight


def _train_a_step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    loss = model(torch.randn(4, 3)).square().mean()
    loss.backward()
    optimizer.step()


def test_round_trip_restores_everything(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    ema = EMA(model, decay=0.9)
    _train_a_step(model, optimizer)
    scheduler.step()
    ema.update(model)
    step_dir = save_checkpoint(tmp_path, 7, model, optimizer, scheduler, ema, extra={"note": "x", "n": 3})
    assert step_dir == tmp_path / "step_7"
    assert (tmp_path / "latest").read_text().strip() == "step_7"
    expected_next = torch.rand(3)

    state = torch.load(step_dir / "state.pt", weights_only=True)  # must not need pickle of arbitrary objects
    assert state["step"] == 7

    torch.manual_seed(123)
    fresh = _mlp()
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    fresh_scheduler = torch.optim.lr_scheduler.StepLR(fresh_optimizer, step_size=1, gamma=0.5)
    fresh_ema = EMA(fresh, decay=0.9)
    loaded = load_checkpoint(tmp_path, fresh, fresh_optimizer, fresh_scheduler, fresh_ema)
    assert loaded.step == 7 and loaded.extra == {"note": "x", "n": 3} and loaded.path == step_dir
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for name, tensor in ema.shadow.items():
        assert torch.equal(tensor, fresh_ema.shadow[name])
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    moments = [opt.state_dict()["state"][0]["exp_avg"] for opt in (optimizer, fresh_optimizer)]
    assert torch.equal(moments[0], moments[1])
    assert torch.equal(torch.rand(3), expected_next)  # RNG restored to the moment of saving


def test_wrong_shape_names_the_file(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "small.safetensors", _mlp(width=8))
    with pytest.raises(InputError, match="shape mismatch") as error:
        load_weights(path, _mlp(width=16))
    assert error.value.path == path
    assert "small.safetensors" in str(error.value) and "0.weight (8, 3) vs model (16, 3)" in str(error.value)


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", nn.Sequential(nn.Linear(3, 8)))
    with pytest.raises(InputError, match="missing keys: 2.weight, 2.bias"):
        load_weights(path, _mlp())
    with pytest.raises(InputError, match="not found"):
        load_weights(tmp_path / "nope.safetensors", _mlp())
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="junk.safetensors"):
        load_weights(tmp_path / "junk.safetensors", _mlp())


def test_ddp_prefix_is_stripped(tmp_path: Path) -> None:
    model = _mlp()
    prefixed = {f"module.{name}": tensor.clone() for name, tensor in model.state_dict().items()}
    save_file(prefixed, str(tmp_path / "ddp.safetensors"))
    other = _mlp()
    load_weights(tmp_path / "ddp.safetensors", other)
    assert torch.equal(other[0].weight, model[0].weight)


def test_tied_weights_saved_once_and_restored(tmp_path: Path) -> None:
    model = Tied()
    path = save_weights(tmp_path / "tied.safetensors", model)
    other = Tied()
    load_weights(path, other)
    assert torch.equal(other.head.weight, model.embed.weight)
    assert other.head.weight is other.embed.weight


def test_latest_and_keep_last(tmp_path: Path) -> None:
    model = _mlp()
    for step in (5, 10, 15):
        save_checkpoint(tmp_path, step, model, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_10", "step_15"]
    assert find_latest_checkpoint(tmp_path) == tmp_path / "step_15"
    (tmp_path / "latest").write_text("step_99\n")  # pointer to something incomplete: fall back
    assert find_latest_checkpoint(tmp_path) == tmp_path / "step_15"
    assert load_checkpoint(tmp_path / "step_10", _mlp()).step == 10
    with pytest.raises(InputError, match="no checkpoint"):
        load_checkpoint(tmp_path / "empty", _mlp())


def test_unsafe_state_is_refused(tmp_path: Path) -> None:
    step_dir = save_checkpoint(tmp_path, 1, _mlp())
    torch.save({"format_version": 1, "payload": Tied}, step_dir / "state.pt")  # a pickled class reference
    with pytest.raises(InputError, match="state.pt"):
        load_checkpoint(step_dir, _mlp())
