"""Training the DSA U-Net: the losses, a falling loss, exact resume of both arms, the critic's companion state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_checks import assert_same_weights, metric_rows
from safetensors.torch import load_file

from angiogen.io.rundir import RunDir, create_run_dir
from angiogen.nets.critic2d import ConditionalCritic
from angiogen.tasks.dsa import train as dsa_train
from angiogen.tasks.dsa.data import Banks
from angiogen.tasks.dsa.model import build_unet
from angiogen.tasks.dsa.pairs import PairConfig, draw_pairs
from angiogen.tasks.dsa.train import FitResult, GeneratorAndCritic, RecipeConfig, fit, make_loss, pixel_loss
from angiogen.train import DistributedContext

CPU = torch.device("cpu")
SMALL_PAIRS = PairConfig(batch_size=4, crop_px=32)


class Interrupted(Exception):
    """Stands for a crash (or a killed job) in the middle of a run."""


def _recipe(**changes: object) -> RecipeConfig:
    values = {"steps": 20, "log_every": 5, "validate_every": 10, "checkpoint_every": 10, "base_channels": 4,
              "pairs": SMALL_PAIRS}
    return RecipeConfig(**{**values, **changes})


def _fit(banks: Banks, recipe: RecipeConfig, run: Path, resume: bool = False) -> FitResult:
    run_dir = create_run_dir(run, overwrite=True) if not resume else RunDir(run)
    return fit(banks, recipe, run_dir, seed=0, device=CPU, resume=resume, quiet=True)


def _crash_at(monkeypatch: pytest.MonkeyPatch, index: int) -> None:
    real = dsa_train._batch

    def batch(banks, recipe, seed, ctx, i):  # noqa: ANN001, ANN202
        if i == index:
            raise Interrupted
        return real(banks, recipe, seed, ctx, i)

    monkeypatch.setattr(dsa_train, "_batch", batch)


def test_pixel_loss_is_mse_in_the_warmup_then_foreground_weighted_l1() -> None:
    pred = torch.tensor([0.0, 1.0, 3.0, -1.0])
    target = torch.tensor([0.0, 0.0, 2.0, 0.5])  # the last two carry iodine (above 0.1)
    assert float(pixel_loss(pred, target, True, 4.0, 0.1)) == pytest.approx((0 + 1 + 1 + 2.25) / 4)
    assert float(pixel_loss(pred, target, False, 4.0, 0.1)) == pytest.approx((0 + 1 + 5 * 1 + 5 * 1.5) / 4)
    assert float(pixel_loss(pred, target, False, 0.0, 0.1)) == pytest.approx((0 + 1 + 1 + 1.5) / 4)


def test_batches_are_normalised_pairs_with_the_warmup_flag(tiny_banks: Banks) -> None:
    recipe = _recipe(steps=20, warmup_fraction=0.1)
    ctx = DistributedContext.from_env()
    live, target, _ = draw_pairs(tiny_banks, recipe.pairs, 5, 1)
    batch = dsa_train._batch(tiny_banks, recipe, 5, ctx, 1)
    torch.testing.assert_close(batch["x"] * tiny_banks.std + tiny_banks.mean, live, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch["y"] * tiny_banks.std, target, atol=1e-6, rtol=1e-5)
    assert batch["warmup"] and not dsa_train._batch(tiny_banks, recipe, 5, ctx, 2)["warmup"]  # 10 % of 20 steps


def test_training_loss_falls_and_the_model_carries_the_statistics(tiny_banks: Banks, tmp_path: Path) -> None:
    recipe = _recipe(steps=60, log_every=10, validate_every=30, checkpoint_every=30, warmup_fraction=0.0, lr=3e-3)
    fitted = _fit(tiny_banks, recipe, tmp_path / "run")
    losses = [value for _, value in metric_rows(tmp_path / "run", "train/loss")]
    assert len(losses) == 6
    assert losses[-1] < 0.5 * losses[0], losses
    validation = metric_rows(tmp_path / "run", "val_loss")
    assert [step for step, _ in validation] == [30, 60] and validation[1][1] < validation[0][1]
    zero = metric_rows(tmp_path / "run", "val_loss_zero")[0][1]
    assert zero == pytest.approx(float(abs(tiny_banks.val_targets).mean()) / tiny_banks.std, rel=1e-6)
    assert fitted.result.step == 60
    assert (fitted.model.mean, fitted.model.std) == (tiny_banks.mean, tiny_banks.std)
    assert fitted.model.info["steps"] == 60 and fitted.model.info["recipe"]["lr"] == 3e-3
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["latest", "step_30", "step_60"]
    out = fitted.model.predict(tiny_banks.val_inputs)
    assert out.shape == tiny_banks.val_inputs.shape


def test_resume_after_a_crash_is_exact(tiny_banks: Banks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = _recipe()
    straight = _fit(tiny_banks, recipe, tmp_path / "straight")

    with monkeypatch.context() as patch:
        _crash_at(patch, 15)
        with pytest.raises(Interrupted):
            _fit(tiny_banks, recipe, tmp_path / "resumed")
    assert (tmp_path / "resumed" / "checkpoints" / "latest").read_text().strip() == "step_10"
    torch.rand(100)  # disturb the RNG: the resume must restore it
    resumed = _fit(tiny_banks, recipe, tmp_path / "resumed", resume=True)

    assert resumed.result.start_step == 10 and resumed.result.step == 20
    assert_same_weights(straight.model.net.state_dict(), resumed.model.net.state_dict())  # EMA weights
    raw = [load_file(tmp_path / run / "checkpoints" / "step_20" / "model.safetensors")
           for run in ("straight", "resumed")]
    assert_same_weights(*raw)
    assert [step for step, _ in metric_rows(tmp_path / "resumed", "train/loss")] == [5, 10, 15, 20]
    assert metric_rows(tmp_path / "resumed", "train/loss") == metric_rows(tmp_path / "straight", "train/loss")


def test_adversarial_arm_runs_and_resumes_with_the_critic_state(tiny_banks: Banks, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = _recipe(steps=4, log_every=1, validate_every=2, checkpoint_every=2, adversarial=True,
                     critic_channels=[4, 8], n_critic=2)
    straight = _fit(tiny_banks, recipe, tmp_path / "straight")
    for name in ("train/pixel_loss", "train/critic_loss", "train/gradient_penalty", "val_roi_psnr"):
        assert metric_rows(tmp_path / "straight", name), name
    step_dir = tmp_path / "straight" / "checkpoints" / "step_4"
    weights = load_file(step_dir / "model.safetensors")
    assert any(name.startswith("critic.") for name in weights) and any(n.startswith("generator.") for n in weights)
    state = torch.load(step_dir / "state.pt", weights_only=True)
    assert set(state["optimizers"]) == {"optimizer", "critic"}
    critic_state = state["optimizers"]["critic"]
    assert critic_state["state"] and critic_state["param_groups"][0]["betas"] == (0.5, 0.999)
    assert all(int(s["step"]) == 4 * recipe.n_critic for s in critic_state["state"].values())
    # the returned model is the generator alone, without the critic
    assert set(straight.model.net.state_dict()) == set(build_unet(4).state_dict())

    with monkeypatch.context() as patch:
        _crash_at(patch, 3)
        with pytest.raises(Interrupted):
            _fit(tiny_banks, recipe, tmp_path / "resumed")
    resumed = _fit(tiny_banks, recipe, tmp_path / "resumed", resume=True)
    assert resumed.result.start_step == 2
    assert_same_weights(straight.model.net.state_dict(), resumed.model.net.state_dict())
    assert_same_weights(weights, load_file(tmp_path / "resumed" / "checkpoints" / "step_4" / "model.safetensors"))


def test_generator_step_sees_no_stale_critic_gradients(tiny_banks: Banks) -> None:
    recipe = _recipe(adversarial=True, critic_channels=[4, 8], n_critic=2)
    torch.manual_seed(0)
    model = GeneratorAndCritic(build_unet(4), ConditionalCritic([4, 8]))
    critic_optimizer = torch.optim.Adam(model.critic.parameters(), lr=1e-4)
    loss_fn = make_loss(recipe, 0.01 / tiny_banks.std, critic_optimizer)
    loss, _ = loss_fn(model, dsa_train._batch(tiny_banks, recipe, 0, DistributedContext.from_env(), 0))
    loss.backward()
    assert all(p.grad is not None for p in model.generator.parameters())
    # what the Trainer clips (grad_clip_norm, logged as grad_norm) must be the generator's gradient alone
    assert all(p.grad is None or not torch.any(p.grad) for p in model.critic.parameters())
